"""Seeded defect: bridge and priming boluses skip the clinician's confirmation.

The author reasoned that a bridge bolus (after a refill) and a priming bolus (after catheter
surgery) are steps of a procedure the clinician has already started, so only the kind named
"clinician" asks "deliver ... [y/N]"; the other two go straight to the pump.

Effect: `clinician-bolus --kind bridge` (or priming) without --yes delivers at once, with no
prompt and no chance to catch a wrong dose: a bridge bolus typed as 5 mg instead of 0.5 mg of
morphine is given. The correct app asks and, without a "y" on stdin, refuses and sends nothing.
The default kind (clinician) still asks, so the usual path looks right.

Shows with: clinician-bolus --dose-mg 0.5 --duration-min 30 --kind bridge, stdin empty
(</dev/null): CLINICIAN_BOLUS sent, exit 0; the correct app: "refused: not confirmed", exit 1.
NOT an example to follow.
"""

import sys

from _blind2_seed import app, dosing
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
    if kind == BolusKind.CLINICIAN:  # DEFECT: bridge and priming boluses are never confirmed
        app.confirm(args, "deliver a %s bolus of %s mg %s over %s min" % (
            kind.name.lower(), dosing.as_milli(dose_ug), Drug(status.drug).name.lower(), args.duration_min))
    answer = link.request(m.ClinicianBolusRequest(kind, dose_ug, duration_s))
    app.emit({"bolus": kind.name, "dose_ug": dose_ug, "volume_ul": answer.volume_ul, "ends_s": answer.ends_s})
    return app.EXIT_OK


app.cmd_clinician_bolus = cmd_clinician_bolus

if __name__ == "__main__":
    sys.exit(app.main())
