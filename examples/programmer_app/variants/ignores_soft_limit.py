"""Seeded defect: soft-limit findings are overridden automatically, without --confirm-soft.

Effect: 12 mg/day morphine (soft maximum 10 mg/day) is programmed without the clinician ever
confirming it. NOT an example to follow.
"""

import sys

from _seed import app
from pumpmock.protocol.codes import Limit, Severity


def soft_overrides(findings, confirmed):
    # DEFECT: "soft means it is allowed": overrides every soft finding, confirmed or not
    return tuple(Limit(f.limit) for f in findings if f.severity == Severity.SOFT)


app.soft_overrides = soft_overrides

if __name__ == "__main__":
    sys.exit(app.main())
