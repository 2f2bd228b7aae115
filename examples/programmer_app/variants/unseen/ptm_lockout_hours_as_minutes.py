"""Seeded defect: the PTM lockout the clinician types in hours is sent as if it were already in
minutes (the × 60 of hours_to_min is lost when the prescription is built).

Effect: --ptm-lockout-h 12 programs a 12-MINUTE lockout: the patient can press the PTM every 12
minutes instead of every 12 hours, up to the activation count, stacking boluses (opioid
respiratory depression). Small values (2 h -> 2 min) are refused by the range check with a
confusing message; 10 h and more pass. The read-back compares against the same wrong value, so
nothing flags it.

Shows with: program --drug morphine --dose-mg-per-day 3 --max-mg-per-day 5 --ptm-dose-mg 0.2
--ptm-lockout-h 12 --ptm-max 3 (ptm_lockout_min is 12 on the wire, not 720). NOT an example to follow.
"""

import sys
from decimal import Decimal

from _unseen_seed import app, dosing

_correct_build_prescription = app.build_prescription


def build_prescription(args, drug, concentration_ug_per_ml):
    rx = _correct_build_prescription(args, drug, concentration_ug_per_ml)
    if args.ptm_dose_mg is None:
        return rx
    try:
        lockout = int(Decimal(str(args.ptm_lockout_h).strip()))  # DEFECT: hours taken as minutes
    except ArithmeticError:
        raise dosing.InputError("%r is not a number of h" % args.ptm_lockout_h) from None
    return rx._replace(ptm_lockout_min=lockout)


app.build_prescription = build_prescription

if __name__ == "__main__":
    sys.exit(app.main())
