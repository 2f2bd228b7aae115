"""Seeded defect: an answer is matched to the request in flight by its message id only, not by
(message id, seq). The author's comment: "the pump answers in order, the seq is redundant".

Effect: a late answer to an EARLIER request of the same kind is taken as the answer to the
current one. The app reads GET_STATUS / GET_ALARMS / GET_PRESCRIPTION more than once per
command: after a timed-out request whose answer arrives late, the next request of that kind is
answered with the old data, e.g. the alarm list from before a motor stall (therapy changed past
a high alarm), or a read-back that matches because it is the answer to a previous read. Worse,
the real answer then stays unread and is taken for the next request of the same kind.

Shows with: program or clinician-bolus on a line that delays (rather than drops) one answer to
GET_ALARMS or GET_PRESCRIPTION past the response timeout. NOT an example to follow.
"""

import sys

from _unseen_seed import app, pumplink
from pumpmock.protocol.errors import ProtocolError
from pumpmock.protocol.framing import EVENT, NAK, RESPONSE


def read_frames(self):
    try:
        data = self.port.read(self.port.in_waiting or 1)
    except (pumplink.serial.SerialException, OSError) as error:
        raise pumplink.LinkFailed("cannot read from the pump: %s" % error) from None
    if not data:
        return
    for item in self._decoder.feed(data):
        if isinstance(item, ProtocolError):
            self.bad_frames += 1
        elif item.kind == EVENT:
            self._on_event(item)
        elif item.kind in (RESPONSE, NAK) and self._waiting_for is not None \
                and item.msg_id == self._waiting_for[0] and self._answer is None:  # DEFECT: seq not compared
            self._answer = item


pumplink.PumpLink.read_frames = read_frames

if __name__ == "__main__":
    sys.exit(app.main())
