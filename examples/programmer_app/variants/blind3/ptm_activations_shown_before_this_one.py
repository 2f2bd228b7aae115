"""Seeded defect (blind3): ptm-bolus reports the activations BEFORE this one.

The response's activations_24h already counts this bolus ("this one included"); the team
subtracted one more, so the first bolus of the day is reported as activation 0 and the patient
sees one bolus fewer than the pump counts.
NOT an example to follow.
"""

import sys

from _blind3_seed import app
from pumpmock.protocol import messages as m


def cmd_ptm_bolus(link, args):
    app.refuse_if_high_alarm(link)
    app.confirm(args, "deliver one patient bolus now")
    answer = link.request(m.PtmBolusRequest())
    app.emit({"bolus": "PTM", "dose_ug": answer.dose_ug, "activations_24h": answer.activations_24h - 1,
              "next_allowed_s": answer.next_allowed_s})
    return app.EXIT_OK


app.cmd_ptm_bolus = cmd_ptm_bolus

if __name__ == "__main__":
    sys.exit(app.main())
