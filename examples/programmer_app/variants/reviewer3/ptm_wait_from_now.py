"""Seeded defect: ptm-bolus shows when the next patient bolus is allowed as seconds from now
(next_allowed_s minus the pump clock), still under the pump's name next_allowed_s, which is a
time on the pump clock. The author found "seconds until" friendlier for patients.

Effect: once the pump has run a while the figure is off by its whole uptime: a pump at 3 days
shows a next bolus "allowed at" a time long past, and a tool that compares it with the pump
clock tells the patient a bolus is available now. On a fresh pump (clock near 0) both agree.

Shows with: --role patient ptm-bolus --yes on a pump whose clock is well past 0. NOT an example
to follow.
"""

import sys

from _reviewer3_seed import app
from pumpmock.protocol import messages as m


def cmd_ptm_bolus(link, args):
    app.refuse_if_high_alarm(link)
    app.confirm(args, "deliver one patient bolus now")
    answer = link.request(m.PtmBolusRequest())
    clock_s = link.request(m.GetStatusRequest()).clock_s
    app.emit({"bolus": "PTM", "dose_ug": answer.dose_ug, "activations_24h": answer.activations_24h,
              "next_allowed_s": answer.next_allowed_s - clock_s})  # DEFECT: relative, under an absolute name
    return app.EXIT_OK


app.cmd_ptm_bolus = cmd_ptm_bolus

if __name__ == "__main__":
    sys.exit(app.main())
