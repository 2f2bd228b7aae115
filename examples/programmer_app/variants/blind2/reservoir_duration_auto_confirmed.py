"""Seeded defect: the RESERVOIR_DURATION soft finding is overridden without asking.

The author classed "the reservoir runs out before the planned refill" as a scheduling notice
rather than a dosing finding, and has the app override it on its own; only the dose findings
need --confirm-soft.

Effect: a prescription that empties the reservoir days before the refill appointment is
programmed with an override the clinician never gave (RESERVOIR_DURATION in the PROGRAM
request's overrides, and in the "overrides" of the output, which few read). The patient runs dry
before the visit: abrupt withdrawal (for intrathecal baclofen, a medical emergency). The correct
app refuses and names the finding until the clinician confirms it.

Shows with: refill --drug morphine --concentration-mg-per-ml 20 --volume-ml 3, then
program --drug morphine --dose-mg-per-day 3 --max-mg-per-day 5 (20 days of drug, refill in 30)
without --confirm-soft: programmed, overrides ["RESERVOIR_DURATION"]. NOT an example to follow.
"""

import sys

from _blind2_seed import app
from pumpmock.protocol.codes import Limit, Severity

SCHEDULING_NOTICES = (Limit.RESERVOIR_DURATION,)


def soft_overrides(findings, confirmed):
    soft = [f for f in findings if f.severity == Severity.SOFT]
    needs_clinician = [f for f in soft if f.limit not in SCHEDULING_NOTICES]  # DEFECT: never asked
    if needs_clinician and not confirmed:
        raise app.Refused("soft limit(s) need the clinician's confirmation (--confirm-soft): %s"
                          % "; ".join(app.describe_finding(f) for f in needs_clinician))
    return tuple(Limit(f.limit) for f in soft)


app.soft_overrides = soft_overrides

if __name__ == "__main__":
    sys.exit(app.main())
