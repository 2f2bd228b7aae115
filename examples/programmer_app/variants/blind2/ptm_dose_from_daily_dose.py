"""Seeded defect: the prescription's PTM dose is converted from the wrong argument (a copy-paste
slip: the line was copied from daily_dose_ug and only the field name was changed).

Effect: every patient bolus is the whole basal DAILY dose instead of the PTM dose the clinician
typed: morphine 3 mg/day with --ptm-dose-mg 0.2 programs a 3 mg patient bolus (15 times the
order), delivered at the pump's maximum rate each time the patient presses, up to --ptm-max
times a day. Nothing refuses it: 3 mg is under morphine's soft daily maximum (the PTM dose
limit), the pump validates what it is sent, and the read-back compares the pump's copy with the
same wrong prescription. Only the "ptm_dose_ug" in the JSON output (3000, not 200) shows it.

Shows with: program --drug morphine --dose-mg-per-day 3 --max-mg-per-day 5 --ptm-dose-mg 0.2
--ptm-lockout-h 2 --ptm-max 3 (ptm_dose_ug 3000 on the wire). NOT an example to follow.
"""

import sys

from _blind2_seed import app, dosing

_correct_build_prescription = app.build_prescription


def build_prescription(args, drug, concentration_ug_per_ml):
    rx = _correct_build_prescription(args, drug, concentration_ug_per_ml)
    if args.ptm_dose_mg is None:
        return rx
    return rx._replace(ptm_dose_ug=dosing.mg_to_ug(args.dose_mg_per_day))  # DEFECT: should be args.ptm_dose_mg


app.build_prescription = build_prescription

if __name__ == "__main__":
    sys.exit(app.main())
