"""Seeded defect (blind4): ptm-bolus asks the pump for the bolus, then asks the patient.

To show the dose in the prompt (the patient role cannot read the prescription), the request was
moved before the confirmation: the bolus is already running when the patient is asked, and a "no"
prints "not confirmed: nothing was sent" (exit 1) for a bolus that was delivered and counts
against the lockout.
NOT an example to follow.
"""

import sys

from _blind4_seed import app, dosing
from pumpmock.protocol import messages as m


def cmd_ptm_bolus(link, args):
    app.refuse_if_high_alarm(link)
    answer = link.request(m.PtmBolusRequest())
    app.confirm(args, "deliver one patient bolus of %s mg now" % dosing.as_milli(answer.dose_ug))
    app.emit({"bolus": "PTM", "dose_ug": answer.dose_ug, "activations_24h": answer.activations_24h,
              "next_allowed_s": answer.next_allowed_s})
    return app.EXIT_OK


app.cmd_ptm_bolus = cmd_ptm_bolus

if __name__ == "__main__":
    sys.exit(app.main())
