"""Seeded defect: REFILL is sent the volume the author expects in the reservoir afterwards
(what was left plus what was added), not the volume added.

The author read REFILL as a top-up that reports the new total, so the app adds the residual the
pump reports before the refill. The protocol says the old drug is withdrawn first and
volume_added_ul is then all that is in the reservoir.

Effect: after every refill the pump believes it holds the residual on top of what is really
there: 5 mL left and 10 mL added makes 15 mL at the pump, 10 mL in the patient. Days to empty
and the low-reservoir alarm are late by the residual; the reservoir runs dry while the pump
still counts 5 mL, with no EMPTY_RESERVOIR alarm, and the patient is in withdrawal. The app's
own capacity check looks at the typed volume, so only a residual that pushes the sum over the
capacity gets refused (by the pump, with a confusing RESERVOIR_CAPACITY).

Shows with: a reservoir holding 5 mL of morphine 20 mg/mL, then refill --drug morphine
--concentration-mg-per-ml 20 --volume-ml 10 ("volume_added_ul": 15000 on the wire,
"reservoir_ul": 15000 in the output; correct: 10000). NOT an example to follow.
"""

import sys

from _blind2_seed import app, dosing
from pumpmock.protocol import messages as m


def cmd_refill(link, args):
    drug = dosing.drug_from_name(args.drug)
    concentration = dosing.mg_per_ml_to_ug_per_ml(args.concentration_mg_per_ml)
    volume_ul = dosing.ml_to_ul(args.volume_ml)
    problems = dosing.refill_problems(drug, concentration, volume_ul, link.identity.capacity_ul)
    if problems:
        raise app.Refused("refill refused: " + "; ".join(problems))
    rx = app.current_prescription(link)
    residual_ul = link.request(m.GetStatusRequest()).reservoir_ul
    total_ul = residual_ul + volume_ul  # DEFECT: the pump withdraws the residual; this counts it again
    answer = link.request(m.RefillRequest(drug, concentration, total_ul))
    if rx is not None and rx.concentration_ug_per_ml != concentration:
        app.note("the prescription still uses %s mg/mL: program it again for %s mg/mL now" % (
            dosing.as_milli(rx.concentration_ug_per_ml), dosing.as_milli(concentration)))
    app.emit({"refilled": {"drug": drug.name, "concentration_ug_per_ml": concentration, "volume_added_ul": volume_ul},
              "reservoir_ul": answer.reservoir_ul, "days_to_empty": answer.days_to_empty})
    return app.EXIT_OK


app.cmd_refill = cmd_refill

if __name__ == "__main__":
    sys.exit(app.main())
