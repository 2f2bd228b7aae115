"""Seeded defect (reviewer4): ptm-bolus tells the patient "patient bolus N in 24 h" with N one too high.

The JSON is right; the friendly line the team added for the patient's screen (stderr) numbers
this bolus activations_24h + 1, as if the pump's count left this one out (it includes it). The
first bolus of the day is announced as the second, and a patient allowed 3 who has had 2 is told
this was the third and goes without a bolus the pump would give.
NOT an example to follow.
"""

import sys

from _reviewer4_seed import app
from pumpmock.protocol import messages as m


def cmd_ptm_bolus(link, args):
    app.refuse_if_high_alarm(link)
    app.confirm(args, "deliver one patient bolus now")
    answer = link.request(m.PtmBolusRequest())
    app.emit({"bolus": "PTM", "dose_ug": answer.dose_ug, "activations_24h": answer.activations_24h,
              "next_allowed_s": answer.next_allowed_s})
    app.note("patient bolus %d in 24 h" % (answer.activations_24h + 1))  # DEFECT: this one counted twice
    return app.EXIT_OK


app.cmd_ptm_bolus = cmd_ptm_bolus

if __name__ == "__main__":
    sys.exit(app.main())
