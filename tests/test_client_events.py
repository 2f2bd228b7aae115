"""The reference client's event queue: bounded for an app that never takes events, every drop counted."""

import pytest

from pumpmock import harness
from pumpmock.harness import client
from pumpmock.harness.client import PumpSession
from pumpmock.protocol import encode_message
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Role
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


def test_outcomes_of_requests_never_waited_for_are_capped_and_the_drops_counted(monkeypatch):
    """Issue 14: send() without wait() kept every outcome for ever; now the oldest go, counted."""
    monkeypatch.setattr(client, "OUTCOME_LIMIT", 8)
    with harness.connect("pumpmock://?clock=virtual", role=Role.PATIENT) as session:
        seqs = [session.send(m.GetStatusRequest()) for _ in range(8 + 5)]
        while session.connection.outstanding:  # answers arrive while the app waits for something else
            session.poll_events(timeout=0.05)
        assert session.stats["outcomes_dropped"] == 5
        with pytest.raises(KeyError, match="dropped"):
            session.wait(seqs[4])  # the newest dropped one
        assert session.wait(seqs[5]).therapy_state is not None  # the oldest one kept
        assert session.wait(seqs[-1]).therapy_state is not None
        assert session.status().therapy_state is not None  # the session goes on
        assert session.stats["outcomes_dropped"] == 5
