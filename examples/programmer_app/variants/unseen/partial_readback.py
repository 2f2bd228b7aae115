"""Seeded defect: the read-back after PROGRAM compares only the drug, concentration and daily
dose ("the numbers that matter"), not the version or the rest of the prescription (maximum
daily dose, PTM dose, lockout and count, refill interval).

Effect: if the pump holds something other than what was programmed (a corrupted or truncated
PROGRAM, an older prescription whose version did not change, a PTM setting the firmware
clamped), the app still prints "programmed" and exits 0. A patient may leave with a PTM dose or
lockout, or a daily maximum, that nobody prescribed, and the clinician has a record saying
otherwise.

Shows with: program ... when the pump's stored prescription differs from the one sent only in
its PTM or maximum fields, or keeps its old version (the correct app exits 2, "read-back
mismatch"). NOT an example to follow.
"""

import sys

from _unseen_seed import app, dosing, pumplink
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Severity


def cmd_program(link, args):
    drug = dosing.drug_from_name(args.drug)
    status = link.request(m.GetStatusRequest())
    app.refuse_if_high_alarm(link)
    reservoir_drug, reservoir_concentration = app.reservoir_for_prescription(status, app.current_prescription(link))
    entered = args.concentration_mg_per_ml
    concentration = dosing.mg_per_ml_to_ug_per_ml(entered) if entered is not None else reservoir_concentration
    rx = app.build_prescription(args, drug, concentration)
    problems = dosing.reservoir_problems(rx, reservoir_drug, reservoir_concentration) or dosing.hard_limit_problems(rx)
    if problems:
        raise app.Refused("prescription refused, nothing sent: " + "; ".join(problems))
    findings = link.request(m.ValidatePrescriptionRequest(rx)).findings
    hard = [f for f in findings if f.severity == Severity.HARD]
    if hard:
        raise app.Refused("the pump found hard limit(s): %s" % "; ".join(app.describe_finding(f) for f in hard))
    overrides = app.soft_overrides(findings, args.confirm_soft)
    version = link.request(m.ProgramPrescriptionRequest(overrides, rx)).version
    held = link.request(m.GetPrescriptionRequest()).prescription
    # DEFECT: only three fields are read back; version and the PTM/maximum fields are not compared
    if (held.drug, held.concentration_ug_per_ml, held.daily_dose_ug) != (rx.drug, rx.concentration_ug_per_ml,
                                                                        rx.daily_dose_ug):
        raise pumplink.LinkFailed("read-back mismatch: the pump holds %r, the app programmed %r" % (held, rx))
    app.emit({"programmed": {"version": version, "overrides": [o.name for o in overrides],
                             "prescription": app.readable(rx)}})
    return app.EXIT_OK


app.cmd_program = cmd_program

if __name__ == "__main__":
    sys.exit(app.main())
