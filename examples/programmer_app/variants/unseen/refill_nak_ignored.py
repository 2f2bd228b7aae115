"""Seeded defect: a refused REFILL is reported as done. The author wrapped the REFILL request in
"the pump sometimes answers BUSY but records it anyway" handling: any NAK is turned into a
warning on stderr, the reservoir figures are read from GET_STATUS, and the JSON says
"refilled" with exit code 0.

Effect: the clinician leaves believing the pump knows its new drug, concentration and volume;
the pump still holds the old ones (or an empty reservoir). Days-to-empty and the low/empty
reservoir alarms are computed from the wrong volume, and a prescription at the new
concentration is refused or doses by the old one. A script (or the clinic's records) sees
success.

Shows with: refill --drug morphine --concentration-mg-per-ml 20 --volume-ml 20 when the pump
NAKs the REFILL (e.g. a test's pump.refuse_next): exit 0 and a "refilled" line instead of exit 1.
NOT an example to follow.
"""

import sys

from _unseen_seed import app, dosing, pumplink
from pumpmock.protocol import messages as m


class _AsIfRefilled:
    def __init__(self, status):
        self.reservoir_ul = status.reservoir_ul
        self.days_to_empty = status.days_to_empty


def cmd_refill(link, args):
    drug = dosing.drug_from_name(args.drug)
    concentration = dosing.mg_per_ml_to_ug_per_ml(args.concentration_mg_per_ml)
    volume_ul = dosing.ml_to_ul(args.volume_ml)
    problems = dosing.refill_problems(drug, concentration, volume_ul, link.identity.capacity_ul)
    if problems:
        raise app.Refused("refill refused: " + "; ".join(problems))
    rx = app.current_prescription(link)
    try:
        answer = link.request(m.RefillRequest(drug, concentration, volume_ul))
    except pumplink.PumpRefused as refused:  # DEFECT: a NAK is only a warning
        app.note("warning: %s (the refill is recorded anyway)" % refused)
        answer = _AsIfRefilled(link.request(m.GetStatusRequest()))
    if rx is not None and rx.concentration_ug_per_ml != concentration:
        app.note("the prescription still uses %s mg/mL: program it again for %s mg/mL now" % (
            dosing.as_milli(rx.concentration_ug_per_ml), dosing.as_milli(concentration)))
    app.emit({"refilled": {"drug": drug.name, "concentration_ug_per_ml": concentration, "volume_added_ul": volume_ul},
              "reservoir_ul": answer.reservoir_ul, "days_to_empty": answer.days_to_empty})
    return app.EXIT_OK


app.cmd_refill = cmd_refill

if __name__ == "__main__":
    sys.exit(app.main())
