"""Seeded defect (blind4): EVENT frames are decoded with the RESPONSE table.

_on_event was copied from the answer path and looks the payload up as a RESPONSE of the event's
msg_id. There is no such response, so every event counts as a bad frame: it is still ACKed on the
link (so the pump stops re-sending it) but never reaches the app. watch-alarms shows only what
GET_ALARMS listed when it started; an alarm raised while it watches (an empty reservoir, a stall)
is never shown nor acknowledged.
NOT an example to follow.
"""

import sys

from _blind4_seed import app, pumplink
from pumpmock.protocol import messages as m
from pumpmock.protocol.errors import ProtocolError
from pumpmock.protocol.framing import ACK, RESPONSE, encode_frame


def _on_event(self, frame):
    self._write(encode_frame(ACK, frame.msg_id, frame.seq))
    if frame.seq in self._recent_event_seqs:
        return
    self._recent_event_seqs.append(frame.seq)
    try:
        self.events.append(m.message_class(RESPONSE, frame.msg_id).decode(frame.payload))
    except (ProtocolError, AttributeError):
        self.bad_frames += 1


pumplink.PumpLink._on_event = _on_event

if __name__ == "__main__":
    sys.exit(app.main())
