"""Seeded defect (blind3): the refill's capacity check counts the drug still in the reservoir.

The team thought a refill tops the reservoir up, so the volume must fit the space left. The
pump empties the old drug first (REFILL: the reservoir then holds exactly the volume added):
a full 20 mL refill of a pump that still holds some drug is refused by the app.
NOT an example to follow.
"""

import sys

from _blind3_seed import app, dosing
from pumpmock.protocol import messages as m


def cmd_refill(link, args):
    drug = dosing.drug_from_name(args.drug)
    concentration = dosing.mg_per_ml_to_ug_per_ml(args.concentration_mg_per_ml)
    volume_ul = dosing.ml_to_ul(args.volume_ml)
    status = link.request(m.GetStatusRequest())
    space_ul = link.identity.capacity_ul - status.reservoir_ul
    problems = dosing.refill_problems(drug, concentration, volume_ul, space_ul)
    if problems:
        raise app.Refused("refill refused: " + "; ".join(problems))
    rx = app.current_prescription(link)
    answer = link.request(m.RefillRequest(drug, concentration, volume_ul))
    if rx is not None and rx.concentration_ug_per_ml != concentration:
        app.note("the prescription still uses %s mg/mL: program it again for %s mg/mL now" % (
            dosing.as_milli(rx.concentration_ug_per_ml), dosing.as_milli(concentration)))
    app.emit({"refilled": {"drug": drug.name, "concentration_ug_per_ml": concentration, "volume_added_ul": volume_ul},
              "reservoir_ul": answer.reservoir_ul, "days_to_empty": answer.days_to_empty})
    return app.EXIT_OK


app.cmd_refill = cmd_refill

if __name__ == "__main__":
    sys.exit(app.main())
