"""Seeded defect (reviewer5): after a patient bolus the app tells the patient how many are left
today out of 3, whatever the prescription allows.

The patient role may not read the prescription (GET_PRESCRIPTION is the clinician's), so the
team fell back on the programmer's own default for `--ptm-max` (3) to say "N of 3 in 24 h, K
left". A patient prescribed 5 a day is told "0 left" after the third and goes without two
boluses the pump would give; one prescribed 2 is told one is left that the pump will refuse.
NOT an example to follow.
"""

import sys

from _reviewer5_seed import app
from pumpmock.protocol import messages as m

DEFAULT_PTM_MAX = 3  # the programmer's default for --ptm-max


def cmd_ptm_bolus(link, args):
    app.refuse_if_high_alarm(link)
    app.confirm(args, "deliver one patient bolus now")
    answer = link.request(m.PtmBolusRequest())
    app.emit({"bolus": "PTM", "dose_ug": answer.dose_ug, "activations_24h": answer.activations_24h,
              "next_allowed_s": answer.next_allowed_s})
    rx = app.current_prescription(link)  # None for the patient: WRONG_ROLE
    allowed = rx.ptm_max_per_24h if rx is not None else DEFAULT_PTM_MAX  # DEFECT: a default, not the prescription
    app.note("patient bolus %d of %d in 24 h, %d left" % (answer.activations_24h, allowed,
                                                         max(allowed - answer.activations_24h, 0)))
    return app.EXIT_OK


app.cmd_ptm_bolus = cmd_ptm_bolus

if __name__ == "__main__":
    sys.exit(app.main())
