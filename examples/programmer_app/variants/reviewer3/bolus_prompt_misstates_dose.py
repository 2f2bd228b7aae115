"""Seeded defect: the clinician-bolus confirmation question formats the dose with the µg value
cut to mg by integer division ("%d mg" % (dose_ug // 1000)), so 0.5 mg is asked as "0 mg" and
1.5 mg as "1 mg". The wire, the stdout JSON and the bolus are all right.

Effect: the clinician confirms a dose the prompt misstates: a 1.5 mg bolus asked as 1 mg is
confirmed by someone who believes a smaller dose is going in, and a 0.5 mg one reads "0 mg".
A confirmation is only as safe as the number it shows.

Shows with: clinician-bolus --dose-mg 0.5 --duration-min 10 (answer the prompt). NOT an
example to follow.
"""

import sys

from _reviewer3_seed import app, dosing
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import BolusKind, Drug


def cmd_clinician_bolus(link, args):
    status = link.request(m.GetStatusRequest())
    if status.drug == Drug.NONE:
        raise app.Refused("the reservoir holds no drug")
    app.refuse_if_high_alarm(link)
    dose_ug = app.bolus_dose_ug(args)
    duration_s = dosing.minutes_to_s(args.duration_min)
    problems = dosing.bolus_problems(status.drug, dose_ug, duration_s)
    if problems:
        raise app.Refused("bolus refused, nothing sent: " + "; ".join(problems))
    kind = BolusKind[args.kind.upper()]
    app.confirm(args, "deliver a %s bolus of %d mg %s over %s min" % (  # DEFECT: whole mg only
        kind.name.lower(), dose_ug // 1000, Drug(status.drug).name.lower(), args.duration_min))
    answer = link.request(m.ClinicianBolusRequest(kind, dose_ug, duration_s))
    app.emit({"bolus": kind.name, "dose_ug": dose_ug, "volume_ul": answer.volume_ul, "ends_s": answer.ends_s})
    return app.EXIT_OK


app.cmd_clinician_bolus = cmd_clinician_bolus

if __name__ == "__main__":
    sys.exit(app.main())
