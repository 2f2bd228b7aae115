"""Seeded defect: the limit comparison tolerates one unit, so 1 µg above a hard maximum passes.

Effect: a prescription of 15.001 mg/day morphine (hard maximum 15 mg/day) is sent to the pump
instead of being refused locally. NOT an example to follow.
"""

import sys

from _seed import app, dosing


def exceeds(actual, limit):
    return actual > limit + 1  # DEFECT: "allow for rounding" at integer µg: 15001 > 15001 is False


dosing.exceeds = exceeds

if __name__ == "__main__":
    sys.exit(app.main())
