"""Seeded defect (blind4): a comma in an amount is dropped as a thousands separator.

To accept "1,000" copied from a drug sheet, the conversion strips commas before parsing. A
clinician who types a decimal comma ("0,2" mg, the usual way in much of Europe) gets ten or a
hundred times the amount: "0,2" mg is sent as 2 mg (2000 µg), "0,25" as 25 mg. The correct app
refuses anything that is not a plain decimal number.
NOT an example to follow.
"""

import sys
from decimal import Decimal, InvalidOperation

from _blind4_seed import app, dosing


def _whole(text, factor, unit, wire_unit):
    try:
        amount = Decimal(str(text).strip().replace(",", ""))
    except InvalidOperation:
        raise dosing.InputError("%r is not a number of %s" % (text, unit)) from None
    if not amount.is_finite() or amount < 0:
        raise dosing.InputError("%s %s is not a valid amount" % (text, unit))
    scaled = amount * factor
    if scaled != scaled.to_integral_value():
        raise dosing.InputError("%s %s is not a whole number of %s" % (text, unit, wire_unit))
    return int(scaled)


dosing._whole = _whole

if __name__ == "__main__":
    sys.exit(app.main())
