"""Seeded defect: an EVENT frame is ACKed only the first time its seq is seen; a re-sent copy
(the pump re-sends an event until it sees the ACK) is dropped as a duplicate WITHOUT an ACK.
The author moved the ACK below the de-duplication check "to save bytes on the link".

Effect: if the first ACK is lost on the line (noise, a telemetry dropout), the pump never learns
that the programmer got the event and keeps re-sending it until its retries run out: on a real
link that means a pump burning battery on telemetry, a link the pump may judge broken, and an
event log full of undelivered notifications. The app itself still shows each alarm once, so the
screen looks right.

Shows with: watch-alarms --seconds 5 on a line where the app's first ACK to an ALARM_RAISED event
is lost (the pump's copies of that seq are never ACKed). NOT an example to follow.
"""

import sys

from _unseen_seed import app, pumplink
from pumpmock.protocol import messages as m
from pumpmock.protocol.errors import ProtocolError
from pumpmock.protocol.framing import ACK, EVENT, encode_frame


def _on_event(self, frame):
    if frame.seq in self._recent_event_seqs:
        return  # DEFECT: a copy is dropped without an ACK
    self._write(encode_frame(ACK, frame.msg_id, frame.seq))
    self._recent_event_seqs.append(frame.seq)
    try:
        self.events.append(m.message_class(EVENT, frame.msg_id).decode(frame.payload))
    except (ProtocolError, AttributeError):
        self.bad_frames += 1


pumplink.PumpLink._on_event = _on_event

if __name__ == "__main__":
    sys.exit(app.main())
