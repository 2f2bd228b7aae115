"""The in-process mutation fuzzer: clean on the firmware, and it finds planted defects fast, minimised and replayable."""

import time

import pytest

from pumpmock.firmware_mock import framing
from pumpmock.firmware_mock.core import Pump
from pumpmock.harness.fuzz import mutation
from pumpmock.harness.fuzz.mutation import Failure, Target, run_mutation
from pumpmock.harness.inprocess import InProcessLink
from pumpmock.harness.transcript import read_transcript, replay


def test_the_firmware_survives_a_ci_sized_mutation_campaign():
    result = run_mutation(budget_s=2.0, seed=11)
    assert result["failures"] == [], result["failures"][0]["message"]
    assert result["cases"] > 5_000


def _block_without_crc_check(self, block, frames):
    """The planted defect: FrameReader._block with the CRC check left out."""
    body = framing.cobs_decode(block) if len(block) <= framing.spec.MAX_ENCODED else None
    if body is None or len(body) < framing._MIN_BODY or body[1] > framing._LAST_KIND:
        self.frames_bad += 1
        return
    version, kind, msg_id, seq = framing.HEADER.unpack_from(body)
    frames.append((version, kind, msg_id, seq, body[framing.spec.HEADER_SIZE:-framing.spec.CRC_SIZE]))


def test_a_skipped_crc_check_is_found_minimised_and_replays(monkeypatch, tmp_path):
    monkeypatch.setattr(framing.FrameReader, "_block", _block_without_crc_check)
    result = run_mutation(cases=20_000, seed=3, failures_dir=str(tmp_path))
    kinds = {f["category"] for f in result["failures"]}
    assert "answers" in kinds or "invariant" in kinds, result["failures"]
    failure = result["failures"][0]
    assert failure["cases"] == 1 and len(bytes.fromhex(failure["input"][0])) <= 64  # minimised to one short frame
    entries = read_transcript(failure["transcript"])
    # Replayed on a planted pump the bad-CRC frame is answered; on a correct pump it is dropped.
    planted_port = _port()
    replayed = replay(entries, planted_port, timeout_s=0.05)
    monkeypatch.undo()
    correct = replay(entries, _port(), timeout_s=0.05)
    assert len([e for e in replayed if e["dir"] == "pump>host"]) > len([e for e in correct if e["dir"] == "pump>host"])


def plant_read_log_crash(monkeypatch):
    """A planted firmware defect: READ_LOG of a page past the end raises IndexError("planted")."""
    from pumpmock.firmware_mock import handlers
    original = handlers.HANDLERS[0x40]

    def read_log(pump, request, clock):
        if request["start_index"] > pump.model.log.next_index:  # planted: a page past the end crashes
            raise IndexError("planted")
        return original(pump, request, clock)

    monkeypatch.setitem(handlers.HANDLERS, 0x40, read_log)


def test_a_crash_in_a_handler_is_reported_with_where(monkeypatch):
    plant_read_log_crash(monkeypatch)
    result = run_mutation(cases=30_000, seed=3)
    crashes = [f for f in result["failures"] if f["category"] == "crash"]
    assert crashes and "IndexError: planted" in crashes[0]["message"] and "test_fuzz_mutation.py" in crashes[0]["message"]


def test_a_handler_that_never_returns_is_a_hang_found_minimised_and_saved(monkeypatch, tmp_path):
    """The guard is CPU time per batch: a loop without end is stopped, reported and saved, and the
    campaign goes on to its end instead of hanging with the pump."""
    from pumpmock.firmware_mock import handlers
    original = handlers.HANDLERS[0x40]

    def read_log(pump, request, clock):
        while request["start_index"] > pump.model.log.next_index:  # planted: a page past the end spins
            pass
        return original(pump, request, clock)

    monkeypatch.setitem(handlers.HANDLERS, 0x40, read_log)
    monkeypatch.setattr(mutation, "HANG_S", 0.2)
    result = run_mutation(cases=30_000, seed=3, failures_dir=str(tmp_path), max_failures=1)
    hangs = [f for f in result["failures"] if f["category"] == "hang"]
    assert hangs, result["failures"]
    assert hangs[0]["cases"] == 1  # minimised to the one case that spins
    entries = read_transcript(hangs[0]["transcript"])
    assert any(e["name"] == "READ_LOG" for e in entries if e["dir"] == "host>pump")


def test_a_failure_raises_from_the_target_directly():
    target = Target()
    with pytest.raises(Failure):
        mutation.check_output(b"\x02\x01\x00", [])
    target.feed(mutation.SENTINEL, 10)  # a valid request is answered


class _Port:
    """A minimal pyserial-like port on an InProcessLink: the pump's time stands still, replay's does not."""

    def __init__(self):
        self.link = InProcessLink(Pump(serial=mutation.SERIAL, test_mode=True))
        self.timeout = 0

    def clock(self):
        return time.monotonic()

    def write(self, data):
        self.link.write(bytes(data), 0)
        return len(data)

    def read(self, size=1):
        return self.link.take(size)

    @property
    def in_waiting(self):
        return self.link.waiting


def _port():
    return _Port()


def test_the_atheris_entry_point_fuzzes_the_firmware_with_coverage(tmp_path):
    """Where atheris installs (.ci/setup tries): libFuzzer drives the same target and checks."""
    pytest.importorskip("atheris")
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "pumpmock.harness.fuzz.mutation", "--atheris", "-runs=3000", "-seed=1"],
                          capture_output=True, text=True, timeout=100, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Done 3000 runs" in done.stderr
    coverage = [int(line.split("cov: ")[1].split()[0]) for line in done.stderr.splitlines() if "cov: " in line]
    assert coverage and coverage[-1] > 100  # the firmware's code was instrumented, not just the harness
