"""Seeded defect (blind4): the "program it again" note after a refill never appears.

The check that warns when the new concentration differs from the prescription's was rewritten as
a read-back ("did the pump take the concentration entered?"): it compares the entered
concentration with the reservoir's as read after the refill, which always match. A refill at a
new concentration leaves the old prescription running silently: its volume rates now carry the
new concentration (twice the dose after a change from 10 to 20 mg/mL).
NOT an example to follow.
"""

import sys

from _blind4_seed import app, dosing
from pumpmock.protocol import messages as m


def cmd_refill(link, args):
    drug = dosing.drug_from_name(args.drug)
    concentration = dosing.mg_per_ml_to_ug_per_ml(args.concentration_mg_per_ml)
    volume_ul = dosing.ml_to_ul(args.volume_ml)
    problems = dosing.refill_problems(drug, concentration, volume_ul, link.identity.capacity_ul)
    if problems:
        raise app.Refused("refill refused: " + "; ".join(problems))
    answer = link.request(m.RefillRequest(drug, concentration, volume_ul))
    held = link.request(m.GetStatusRequest()).concentration_ug_per_ml
    if held != concentration:
        app.note("the reservoir holds %s mg/mL, not the %s mg/mL entered: program it again" % (
            dosing.as_milli(held), dosing.as_milli(concentration)))
    app.emit({"refilled": {"drug": drug.name, "concentration_ug_per_ml": concentration, "volume_added_ul": volume_ul},
              "reservoir_ul": answer.reservoir_ul, "days_to_empty": answer.days_to_empty})
    return app.EXIT_OK


app.cmd_refill = cmd_refill

if __name__ == "__main__":
    sys.exit(app.main())
