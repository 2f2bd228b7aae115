"""Seeded defect: HELLO's answer is accepted without checking that the peer is the mock.

Effect: the app goes on to log in and program whatever answers HELLO, a device that is not the
pumpmock mock pump included. NOT an example to follow.
"""

import sys

from _seed import app, pumplink
from pumpmock.protocol import messages as m
from pumpmock.protocol.catalog import PROTOCOL_VERSION


def handshake(self):
    # DEFECT: any answer to HELLO will do: magic and banner are never looked at
    self.identity = self.request(m.HelloRequest(self._host_session_id, PROTOCOL_VERSION))
    return self.identity


pumplink.PumpLink.handshake = handshake

if __name__ == "__main__":
    sys.exit(app.main())
