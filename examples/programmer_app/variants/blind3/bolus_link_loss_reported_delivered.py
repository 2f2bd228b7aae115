"""Seeded defect (blind3): a clinician bolus whose answer never came is reported as delivered.

The error path "reports success": when CLINICIAN_BOLUS gets no answer after its retransmissions
the app prints the bolus as started and exits 0, instead of exit 2 with "the bolus may or may
not have been delivered". It sends nothing more (no second bolus): only the report is wrong.
NOT an example to follow.
"""

import sys

from _blind3_seed import app, dosing, pumplink
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
    try:
        answer = link.request(m.ClinicianBolusRequest(kind, dose_ug, duration_s))
    except pumplink.LinkFailed as failed:
        app.note("no answer from the pump (%s): the bolus was sent" % failed)
        app.emit({"bolus": kind.name, "dose_ug": dose_ug, "volume_ul": None, "ends_s": None})
        return app.EXIT_OK
    app.emit({"bolus": kind.name, "dose_ug": dose_ug, "volume_ul": answer.volume_ul, "ends_s": answer.ends_s})
    return app.EXIT_OK


app.cmd_clinician_bolus = cmd_clinician_bolus

if __name__ == "__main__":
    sys.exit(app.main())
