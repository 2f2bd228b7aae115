"""Seeded defect (blind3): the reservoir check compares the drug but not the concentration.

The team reasoned that the concentration defaults to the reservoir's, so only the drug can
differ; a clinician who types --concentration-mg-per-ml that is not the reservoir's gets a
prescription sent to VALIDATE (the pump's CONCENTRATION_MISMATCH then refuses it) instead of
being refused before anything is sent.
NOT an example to follow.
"""

import sys

from _blind3_seed import app, dosing
from pumpmock.protocol.codes import Drug


def reservoir_problems(rx, reservoir_drug, reservoir_concentration_ug_per_ml):
    if reservoir_drug == Drug.NONE:
        return ["the reservoir holds no drug: refill it before programming"]
    if rx.drug != reservoir_drug:
        return ["the reservoir holds %s, not %s" % (Drug(reservoir_drug).name.lower(), Drug(rx.drug).name.lower())]
    return []


dosing.reservoir_problems = reservoir_problems

if __name__ == "__main__":
    sys.exit(app.main())
