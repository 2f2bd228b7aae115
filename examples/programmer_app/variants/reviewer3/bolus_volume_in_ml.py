"""Seeded defect: clinician-bolus prints the bolus volume it worked out itself, dose divided by
concentration, which is mL, under the name volume_ul. The author wanted the result on screen
even when the answer's volume field was "not needed" and did the arithmetic in the units at hand.

Effect: a 0.5 mg bolus of 20 mg/mL morphine shows "volume_ul": 0.025 where the pump said 25 µL;
a clinician charting the volume records a thousandth of what went in. The wire is right.

Shows with: clinician-bolus --dose-mg 0.5 --duration-min 10 --yes. NOT an example to follow.
"""

import sys
from decimal import Decimal

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
    app.confirm(args, "deliver a %s bolus of %s mg %s over %s min" % (
        kind.name.lower(), dosing.as_milli(dose_ug), Drug(status.drug).name.lower(), args.duration_min))
    answer = link.request(m.ClinicianBolusRequest(kind, dose_ug, duration_s))
    volume = Decimal(dose_ug) / Decimal(status.concentration_ug_per_ml)  # DEFECT: mL, shown as µL
    app.emit({"bolus": kind.name, "dose_ug": dose_ug, "volume_ul": float(volume), "ends_s": answer.ends_s})
    return app.EXIT_OK


app.cmd_clinician_bolus = cmd_clinician_bolus

if __name__ == "__main__":
    sys.exit(app.main())
