"""Seeded defect: on the clinician-bolus path only, when the link layer gives up (all
retransmissions of CLINICIAN_BOLUS unanswered), the command "tries once more" by sending a
fresh CLINICIAN_BOLUS request, which gets a NEW sequence number. The link layer itself is
correct (its retransmissions keep the seq), and the PTM path is untouched.

Effect: when the pump received the bolus but its answers were lost (the line went quiet on the
way back, the telemetry head slipped), the second request is a new bolus to the pump, not a
repeat: the patient gets the bridge/clinician bolus twice, e.g. 2 × 0.5 mg intrathecal
morphine in 30 minutes. The correct app stops with exit 2 and tells the clinician to
interrogate and read the log first.

Shows with: clinician-bolus --dose-mg 0.5 --duration-min 30 --yes while the pump's answers to
CLINICIAN_BOLUS are dropped (two CLINICIAN_BOLUS seqs on the wire). NOT an example to follow.
"""

import sys

from _unseen_seed import app, dosing, pumplink
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
        # DEFECT: "the confirmation was given, make sure it gets through": a new request, a new seq
        app.note("no answer (%s): sending the bolus again" % failed)
        answer = link.request(m.ClinicianBolusRequest(kind, dose_ug, duration_s))
    app.emit({"bolus": kind.name, "dose_ug": dose_ug, "volume_ul": answer.volume_ul, "ends_s": answer.ends_s})
    return app.EXIT_OK


app.cmd_clinician_bolus = cmd_clinician_bolus

if __name__ == "__main__":
    sys.exit(app.main())
