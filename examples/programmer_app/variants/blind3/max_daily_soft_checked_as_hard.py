"""Seeded defect (blind3): the app's own check compares the maximum daily dose with the SOFT maximum.

A copy-paste slip in the local hard-limit check (soft_max_ug_per_day for hard_max_ug_per_day):
a maximum daily dose between the drug's soft and hard maxima, which the clinician may confirm
with --confirm-soft, is refused by the app as if it were a hard limit.
NOT an example to follow.
"""

import sys

from _blind3_seed import app, dosing
from pumpmock.protocol.codes import DRUG_LIBRARY, Drug

_hard_limit_problems = dosing.hard_limit_problems


def hard_limit_problems(rx):
    problems = _hard_limit_problems(rx)
    library = DRUG_LIBRARY[Drug(rx.drug)]
    if dosing.exceeds(rx.max_daily_dose_ug, library.soft_max_ug_per_day) \
            and not dosing.exceeds(rx.max_daily_dose_ug, library.hard_max_ug_per_day):
        problems.append("maximum daily dose %s mg is above %s's hard maximum of %s mg/day" % (
            dosing.as_milli(rx.max_daily_dose_ug), library.drug.name.lower(),
            dosing.as_milli(library.soft_max_ug_per_day)))
    return problems


dosing.hard_limit_problems = hard_limit_problems

if __name__ == "__main__":
    sys.exit(app.main())
