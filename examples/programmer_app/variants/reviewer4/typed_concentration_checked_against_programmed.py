"""Seeded defect (reviewer4): a typed concentration is checked against the programmed prescription's.

The team reasoned "the clinician confirms the concentration the pump runs at", so an entered
--concentration-mg-per-ml is compared with the current prescription's, and with the reservoir's
only on a pump not yet programmed. After a refill at a new concentration, a clinician who types
the old one (from the chart) gets a prescription for a drug strength the reservoir no longer
holds sent to the pump; only the pump's CONCENTRATION_MISMATCH refuses it.
NOT an example to follow.
"""

import sys

from _reviewer4_seed import app, dosing


def reservoir_for_prescription(status, current_rx):
    if current_rx is not None:
        return current_rx.drug, current_rx.concentration_ug_per_ml  # DEFECT: the prescription's, not the reservoir's
    return status.drug, status.concentration_ug_per_ml


_original_program = app.cmd_program


def cmd_program(link, args):
    if args.concentration_mg_per_ml is None:  # the default stays the reservoir's, as before
        return _original_program(link, args)
    app.reservoir_for_prescription = reservoir_for_prescription
    return _original_program(link, args)


app.cmd_program = cmd_program

if __name__ == "__main__":
    sys.exit(app.main())
