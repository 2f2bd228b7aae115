"""Seeded defect: a new prescription takes the drug and concentration of the previous prescription.

Effect: after a refill at a new concentration, the app prepares the next prescription at the
old concentration (every volume rate would be wrong). NOT an example to follow.
"""

import sys

from _seed import app


def reservoir_for_prescription(status, current_rx):
    if current_rx is not None:  # DEFECT: "the pump already knows": ignores a refill since then
        return current_rx.drug, current_rx.concentration_ug_per_ml
    return status.drug, status.concentration_ug_per_ml


app.reservoir_for_prescription = reservoir_for_prescription

if __name__ == "__main__":
    sys.exit(app.main())
