"""The reference client's event queue: bounded for an app that never takes events, every drop counted."""

from pumpmock.harness import client
from pumpmock.harness.client import PumpSession
from pumpmock.protocol import encode_message
from pumpmock.protocol.examples import EXAMPLES


class EventSource:
    """A port that hands out `count` distinct ALARM_RAISED events (each seq once) and swallows ACKs."""

    def __init__(self, count):
        self.pending = [encode_message(EXAMPLES["ALARM_RAISED"][0], seq) for seq in range(1, count + 1)]
        self.timeout = 0
        self.acks = 0

    def read(self, size=1):
        return self.pending.pop(0) if self.pending else b""

    @property
    def in_waiting(self):
        return len(self.pending[0]) if self.pending else 0

    def write(self, data):
        self.acks += data.count(b"\x00") - (1 if data.startswith(b"\x00") else 0)
        return len(data)


def test_an_app_that_never_takes_events_keeps_at_most_the_limit_and_counts_the_rest():
    """Issue 12: 4,957 events queued after 10^5 commands when an app never took them."""
    total = client.EVENT_QUEUE_LIMIT + 500
    port = EventSource(total)
    session = PumpSession(port, timeout=0.01, busy_poll_s=0)
    while port.pending:  # an app that waits for something else and never takes the alarms
        assert session.wait_for_event(lambda event: False, timeout=0.05) is None
    assert port.acks == total  # every event still ACKed, so the pump stops re-announcing it
    assert len(session.events) == client.EVENT_QUEUE_LIMIT
    assert session.stats["events_dropped"] == 500
    kept = session.poll_events()
    assert len(kept) == client.EVENT_QUEUE_LIMIT and not session.events
