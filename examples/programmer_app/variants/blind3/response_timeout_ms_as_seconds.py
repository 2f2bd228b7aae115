"""Seeded defect (blind3): the response timeout is the catalog's milliseconds used as seconds.

RESPONSE_TIMEOUT_S = RESPONSE_TIMEOUT_MS (250) instead of / 1000: every read still has its
short port timeout, but a request waits 250 s for its answer before each retransmission, so a
silent pump is reported after about 17 minutes instead of about 1 s.
NOT an example to follow.
"""

import sys

from _blind3_seed import app, pumplink
from pumpmock.protocol.catalog import RESPONSE_TIMEOUT_MS

pumplink.RESPONSE_TIMEOUT_S = RESPONSE_TIMEOUT_MS

if __name__ == "__main__":
    sys.exit(app.main())
