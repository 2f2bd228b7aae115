"""Seeded defect: the drug picker's row number is used as the drug code.

The programmer shows the drug library as an alphabetical pick list (baclofen, bupivacaine,
clonidine, fentanyl, hydromorphone, morphine, ziconotide) and turns the row the clinician picks,
numbered from 1, into the drug with Drug(row), as if the rows were in drug-code order. On the
command line the typed name is looked up in that list, so the same slip applies.

Effect: every drug but fentanyl becomes another drug, on REFILL and on the prescription alike,
so the pump, the drug library checks and the read-back all agree with each other:
"hydromorphone" is recorded and checked as BUPIVACAINE (hard maximum 20 mg/day, not 10), so
hydromorphone 15 mg/day is programmed without a dose finding; "morphine" becomes CLONIDINE,
"baclofen" becomes MORPHINE. The JSON output names the drug the pump got; the clinician typed
another.

A morphine refill at a usual concentration is refused ("above clonidine's maximum"), which is
how a user of morphine would notice; the drugs that land on a laxer neighbour pass silently.

Shows with: refill --drug hydromorphone --concentration-mg-per-ml 10 --volume-ml 20 ("drug":
"BUPIVACAINE"), then program --drug hydromorphone --dose-mg-per-day 15 --max-mg-per-day 15
--confirm-soft (programmed, confirming only RESERVOIR_DURATION; the correct app refuses before
sending: above hydromorphone's hard maximum). NOT an example to follow.
"""

import sys

from _blind2_seed import app, dosing
from pumpmock.protocol.codes import DRUG_LIBRARY, Drug

PICK_LIST = sorted(DRUG_LIBRARY, key=lambda drug: drug.name)  # as the clinician sees it


def drug_from_name(name):
    wanted = name.strip().upper()
    for row, drug in enumerate(PICK_LIST, start=1):
        if drug.name == wanted:
            return Drug(row)  # DEFECT: the row in the alphabetical list, not the drug's code
    known = ", ".join(d.name.lower() for d in PICK_LIST)
    raise dosing.InputError("unknown drug %r (the drug library has: %s)" % (name, known))


dosing.drug_from_name = drug_from_name

if __name__ == "__main__":
    sys.exit(app.main())
