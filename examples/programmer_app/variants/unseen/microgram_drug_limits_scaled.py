"""Seeded defect: for drugs the library lists in µg (ziconotide, fentanyl, clonidine, baclofen),
the app's own hard-limit check scales the library's daily maxima by 1000 ("µg drug: convert its
limit to the wire's µg"), although DRUG_LIBRARY already holds µg.

Effect: ziconotide's hard maximum of 19 µg/day becomes 19 mg/day in the app's check, so a
prescription of 0.1 mg/day (100 µg, five times the hard maximum: severe neuropsychiatric
toxicity) is not refused locally and is sent to the pump in VALIDATE_PRESCRIPTION; only the
pump's own check stands between the typo and the patient. mg drugs (morphine...) are unaffected.

Shows with: program --drug ziconotide --dose-mg-per-day 0.1 --max-mg-per-day 0.1
(after refill --drug ziconotide --concentration-mg-per-ml 0.1 --volume-ml 20).
NOT an example to follow.
"""

import sys

from _unseen_seed import app, dosing
from pumpmock.protocol.codes import DRUG_LIBRARY, Drug, DrugLimits

_correct_hard_limit_problems = dosing.hard_limit_problems


class _ScaledLibrary(dict):
    def __getitem__(self, drug):
        limits = dict.__getitem__(self, drug)
        if limits.display_unit == "ug":  # DEFECT: the library is already in µg
            return DrugLimits(limits.drug, limits.display_unit, limits.max_concentration_ug_per_ml,
                              limits.soft_max_ug_per_day * dosing.UG_PER_MG,
                              limits.hard_max_ug_per_day * dosing.UG_PER_MG)
        return limits


def hard_limit_problems(rx):
    saved = dosing.DRUG_LIBRARY
    dosing.DRUG_LIBRARY = _ScaledLibrary(DRUG_LIBRARY)
    try:
        return _correct_hard_limit_problems(rx)
    finally:
        dosing.DRUG_LIBRARY = saved


dosing.hard_limit_problems = hard_limit_problems
assert Drug.ZICONOTIDE in DRUG_LIBRARY

if __name__ == "__main__":
    sys.exit(app.main())
