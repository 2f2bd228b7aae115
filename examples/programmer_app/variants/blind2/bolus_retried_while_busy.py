"""Seeded defect: a NAK BUSY is treated as a transient error and the request is sent again.

The author saw BUSY as "try again in a moment", as in many serial protocols, and made the link
wait a second and send the request again, for up to 2 minutes. A repeat under the same seq gets
the pump's cached BUSY back, so the retry takes a new seq each time, which the pump treats as a
new request.

Effect: a clinician bolus asked for while a patient (PTM) bolus runs is not refused: the app
waits, silently, until the patient bolus ends and then delivers the clinician bolus on top of
it, with no new confirmation. The clinician who would have been told "a bolus is already running"
(and reconsidered the dose, with the patient just dosed) sees only a slow command that succeeded.
The pump's rolling 24 h maximum still applies.

Shows with: program with a PTM dose, --role patient ptm-bolus --yes, then at once
clinician-bolus --dose-mg 0.5 --duration-min 30 --yes: CLINICIAN_BOLUS answered BUSY, sent again
under new seqs, and delivered when the PTM bolus ends; the correct app: "refused: ... BUSY", exit 1.
NOT an example to follow.
"""

import sys
import time

from _blind2_seed import app, pumplink

BUSY_RETRY_S = 1.0
BUSY_GIVE_UP_S = 120.0

_correct_request = pumplink.PumpLink.request


def request(self, message):
    give_up = time.monotonic() + BUSY_GIVE_UP_S
    while True:
        try:
            return _correct_request(self, message)
        except pumplink.PumpRefused as refused:
            if refused.error != "BUSY" or time.monotonic() >= give_up:
                raise
        time.sleep(BUSY_RETRY_S)  # DEFECT: then the same command again, under a new seq


pumplink.PumpLink.request = request

if __name__ == "__main__":
    sys.exit(app.main())
