"""Seeded defect: a clinician amount that is not a whole number of the wire unit is ROUNDED
(half to even) instead of refused: 0.0125 mg becomes 12 µg, 0.0005 mg becomes 0 µg, 1.5 min is
still 90 s but 0.0166 h becomes 1 min.

Effect: the pump is programmed with a dose the clinician never typed and is never told about.
For a µg-scale drug this is a large relative error: ziconotide 0.0125 mg/day (12.5 µg) is
programmed as 12 µg/day, 0.0195 mg/day as 20 µg/day, i.e. above the 19 µg/day hard maximum
the clinician thought they were under; a 0.0004 mg bolus silently becomes "0 µg". The exit code
is 0 and the JSON shows the rounded value only.

Shows with: program --drug ziconotide --dose-mg-per-day 0.0125 --max-mg-per-day 0.015
(the correct app refuses: "not a whole number of µg"). NOT an example to follow.
"""

import sys
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from _unseen_seed import app, dosing


def _whole(text, factor, unit, wire_unit):
    try:
        amount = Decimal(str(text).strip())
    except InvalidOperation:
        raise dosing.InputError("%r is not a number of %s" % (text, unit)) from None
    if not amount.is_finite() or amount < 0:
        raise dosing.InputError("%s %s is not a valid amount" % (text, unit))
    # DEFECT: "the pump only takes integers anyway": round instead of refusing
    return int((amount * factor).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


dosing._whole = _whole

if __name__ == "__main__":
    sys.exit(app.main())
