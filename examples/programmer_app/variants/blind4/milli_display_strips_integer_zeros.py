"""Seeded defect (blind4): amounts in mg shown to the clinician lose their trailing zeros.

as_milli trims a decimal's trailing zeros ("0.250" -> "0.25"), but the guard that trims only
numbers with a decimal point was dropped: 10 mg prints as "1", 20 mg/mL as "2", 100 µg (0.1 mg)
stays right. Every limit in a finding, the refill note and the bolus prompt go through it.
NOT an example to follow.
"""

import sys
from decimal import Decimal

from _blind4_seed import app, dosing


def as_milli(micro):
    text = format(Decimal(micro) / 1000, "f")
    return text.rstrip("0").rstrip(".")


dosing.as_milli = as_milli

if __name__ == "__main__":
    sys.exit(app.main())
