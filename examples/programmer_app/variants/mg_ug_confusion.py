"""Seeded defect: the clinician bolus path sends the dose typed in mg as if it were µg.

Effect: a 1 mg clinician bolus reaches the pump as 1 µg (1000 times too little); the pump has
no way to know. NOT an example to follow.
"""

import sys
from decimal import Decimal

from _seed import app


def bolus_dose_ug(args):
    return int(Decimal(args.dose_mg))  # DEFECT: forgot × 1000 (mg -> µg) on this one path


app.bolus_dose_ug = bolus_dose_ug

if __name__ == "__main__":
    sys.exit(app.main())
