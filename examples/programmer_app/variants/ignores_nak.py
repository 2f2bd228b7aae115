"""Seeded defect: a refused patient bolus is reported as requested.

Effect: when the pump answers NAK (lockout, daily maximum ...), the app tells the patient the
bolus is on its way and exits 0. NOT an example to follow.
"""

import sys

from _seed import app, pumplink
from pumpmock.protocol import messages as m


def cmd_ptm_bolus(link, args):
    app.refuse_if_high_alarm(link)
    app.confirm(args, "deliver one patient bolus now")
    try:
        link.request(m.PtmBolusRequest())
    except pumplink.PumpRefused:
        pass  # DEFECT: "the request went out, so the bolus is on its way"
    app.emit({"bolus": "PTM", "requested": True})
    return app.EXIT_OK


app.cmd_ptm_bolus = cmd_ptm_bolus

if __name__ == "__main__":
    sys.exit(app.main())
