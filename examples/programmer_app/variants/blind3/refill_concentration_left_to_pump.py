"""Seeded defect (blind3): the refill's maximum-concentration check was dropped from the app.

"The pump checks CONCENTRATION_MAX anyway": a refill above the drug's maximum concentration is
sent, and only the pump's NAK refuses it. The exit code is still 1, but a hard limit left the app.
NOT an example to follow.
"""

import sys

from _blind3_seed import app, dosing


def refill_problems(drug, concentration_ug_per_ml, volume_ul, capacity_ul):
    problems = []
    if concentration_ug_per_ml <= 0:
        problems.append("the concentration must be above 0")
    if volume_ul <= 0:
        problems.append("the volume must be above 0")
    if dosing.exceeds(volume_ul, capacity_ul):
        problems.append("%s mL does not fit the %s mL reservoir" % (
            dosing.as_milli(volume_ul), dosing.as_milli(capacity_ul)))
    return problems


dosing.refill_problems = refill_problems

if __name__ == "__main__":
    sys.exit(app.main())
