"""Seeded defect: a timed-out request is sent again under a NEW sequence number.

Effect: when only the answer to a bolus was lost, the retry is a second bolus request that the
pump cannot recognise as a repeat. NOT an example to follow.
"""

import sys
import time

from _seed import app, pumplink
from pumpmock.protocol.framing import REQUEST, encode_frame


def request(self, message):
    for attempt in range(pumplink.RETRIES + 1):
        seq = self.next_seq()  # DEFECT: a fresh seq for every attempt ("each send is a new request")
        if attempt:
            self._need_delimiter = True
        self._write(encode_frame(REQUEST, message.MESSAGE.id, seq, message.encode()))
        frame = self._wait_answer(message.MESSAGE.id, seq, time.monotonic() + pumplink.RESPONSE_TIMEOUT_S)
        if frame is not None:
            return self._typed_answer(frame, message)
    raise pumplink.LinkFailed("no answer to %s after %d retries" % (message.MESSAGE.name, pumplink.RETRIES))


pumplink.PumpLink.request = request

if __name__ == "__main__":
    sys.exit(app.main())
