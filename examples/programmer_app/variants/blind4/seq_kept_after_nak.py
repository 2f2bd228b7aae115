"""Seeded defect (blind4): a request the pump refused does not use up its sequence number.

PumpLink commits the new seq only when a RESPONSE comes back ("a refused request never
happened"), so the request after a NAK goes out under the same seq. For a state-changing request
the pump's exactly-once cache still holds the NAK under that seq: the next, different request is
refused SEQUENCE_REUSED. In watch-alarms, an acknowledgement answered NO_SUCH_ALARM (an alarm
acknowledged earlier and still listed) makes the next alarm's ACK_ALARM fail: a motor stall is
shown, never acknowledged, and the watch ends with a refusal.
NOT an example to follow.
"""

import sys
import time

from _blind4_seed import app, pumplink
from pumpmock.protocol.framing import REQUEST, encode_frame


def request(self, message):
    seq = (self._seq + 1) & 0xFFFF
    wire = encode_frame(REQUEST, message.MESSAGE.id, seq, message.encode())
    for attempt in range(pumplink.RETRIES + 1):
        if attempt:
            self._need_delimiter = True
        self._write(wire)
        frame = self._wait_answer(message.MESSAGE.id, seq, time.monotonic() + pumplink.RESPONSE_TIMEOUT_S)
        if frame is not None:
            answer = self._typed_answer(frame, message)
            self._seq = seq  # the pump accepted it: its seq is used
            return answer
    raise pumplink.LinkFailed("no answer to %s (seq %d) after %d retransmissions of %d ms" % (
        message.MESSAGE.name, seq, pumplink.RETRIES, pumplink.RESPONSE_TIMEOUT_MS))


pumplink.PumpLink.request = request

if __name__ == "__main__":
    sys.exit(app.main())
