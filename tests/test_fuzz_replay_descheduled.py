"""A real-clock replay judged the same when the host loses the CPU at the worst moments.

On a loaded machine the host can be descheduled right after the pump handled a write (so it stamps
the write later than the pump's clock read it) or right after the reset's answer arrived (so ms 0
of the replay, stamped when that answer was read, is later than the pump's own ms 0). A replay
judged on such stamps called the fixed pump "pump clock != model clock" (a loaded CI run). Here the
host is made to lose the CPU for a fixed time at one of those moments: the verdicts must not change.
"""

import pytest

import time

from pumpmock.firmware_mock import commands
from pumpmock.harness.fuzz.campaign import check_transcript, run_stateful
from pumpmock.harness.transcript import read_transcript, replay

from pumpmock import harness

REAL_CLOCK_URL = "pumpmock://?clock=real"
DESCHEDULED_S = 0.03  # far above the judge's few ms of slack, far below any answer timeout


class DescheduledHost:
    """A port whose host sleeps after every write once the reset was answered ("write"), or after
    the first read that got bytes, the reset's answer ("reset answer")."""

    def __init__(self, port, pause_s, when):
        self._port = port
        self._pause_s = pause_s
        self._when = when
        self._answered = False
        self.clock = port.clock

    @property
    def timeout(self):
        return self._port.timeout

    @timeout.setter
    def timeout(self, value):
        self._port.timeout = value

    @property
    def in_waiting(self):
        return self._port.in_waiting

    def write(self, data):
        written = self._port.write(data)
        if self._when == "write" and self._answered:
            time.sleep(self._pause_s)
        return written

    def read(self, size=1):
        data = self._port.read(size)
        if data and not self._answered:
            self._answered = True
            if self._when == "reset answer":
                time.sleep(self._pause_s)
        return data

    def close(self):
        self._port.close()


def _plant_refill_forgetting_the_withdrawn_volume(monkeypatch):
    original = commands.refill

    def refill(model, drug, conc, volume_ul):
        removed = model.removed_ul
        answer = original(model, drug, conc, volume_ul)
        model.removed_ul = removed  # planted: the old drug's volume vanishes from the books
        return answer

    monkeypatch.setattr(commands, "refill", refill)


def _replayed_verdict(failure, when):
    entries = read_transcript(failure["transcript"])
    port = harness.open_port(REAL_CLOCK_URL)
    try:
        replayed = replay(entries, DescheduledHost(port, DESCHEDULED_S, when), timeout_s=0.5)
    finally:
        port.close()
    replayed.header = entries.header
    return check_transcript(replayed)


@pytest.fixture(scope="module")
def planted_failure(tmp_path_factory):
    """A real-clock campaign's saved failure against a planted conservation defect."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _plant_refill_forgetting_the_withdrawn_volume(monkeypatch)
        result = run_stateful(REAL_CLOCK_URL, budget_s=None, seed=1, max_examples=100,
                              failures_dir=str(tmp_path_factory.mktemp("failures")))
    assert result["failures"], "the planted defect was not found in %d examples" % result["examples"]
    failure = result["failures"][0]
    assert failure["category"] == "SAFETY: volume not conserved", failure["message"]
    return failure


@pytest.mark.parametrize("when", ["write", "reset answer"])
def test_a_replay_by_a_descheduled_host_is_judged_as_by_an_idle_one(planted_failure, monkeypatch, when):
    _plant_refill_forgetting_the_withdrawn_volume(monkeypatch)
    still = _replayed_verdict(planted_failure, when)
    assert still is not None, "the planted defect was judged fixed when replayed by a slow host"
    monkeypatch.undo()
    fixed = _replayed_verdict(planted_failure, when)
    assert fixed is None, "the fixed pump was judged failing when replayed by a slow host: %s: %s" % (
        fixed.category, fixed)
