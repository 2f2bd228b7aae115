"""Seeded defect: a finding's values are printed as the wire's raw integers but with the
clinician's milli units: the µg figure is labelled mg (and µg/mL as mg/mL), 1000 times too big.

Effect: the soft-limit message the clinician must judge before typing --confirm-soft reads
"DAILY_DOSE_SOFT (12000 mg/day, limit 10000 mg/day)". The clinician either confirms a message
that is obviously nonsense (training them to click through) or, worse, reads a µg drug's figure
as plausible. The numbers on the wire are right; what the human decides on is wrong.

Shows with: program --drug morphine --dose-mg-per-day 12 --max-mg-per-day 14 (no --confirm-soft):
stderr shows "12000 mg/day" where the correct app says "12 mg/day". NOT an example to follow.
"""

import sys

from _unseen_seed import app
from pumpmock.protocol.codes import Limit


def describe_finding(finding):
    limit = Limit(finding.limit)
    unit = app.MILLI_UNITS.get(limit) or app.PLAIN_UNITS.get(limit, "")
    # DEFECT: the as_milli() conversion for the milli units was dropped in a "simplification"
    values = "%d %s, limit %d %s" % (finding.actual_value, unit, finding.limit_value, unit)
    return "%s (%s)" % (limit.name, values.replace(" ,", ","))


app.describe_finding = describe_finding

if __name__ == "__main__":
    sys.exit(app.main())
