"""pumpmock soak: hostile and mutated frames into the core and the host decoder, and what it reports."""

import json
import subprocess
import sys

import pytest

from pumpmock.firmware_mock import persist
from pumpmock.harness import soak


@pytest.mark.timeout(360)  # its subprocess's own 300 s bound comes first (a loaded machine)
def test_a_short_soak_of_the_emulator_is_clean_and_says_so(tmp_path):
    report = tmp_path / "soak.json"
    run = subprocess.run([sys.executable, "-m", "pumpmock.harness.cli", "soak", "--frames", "20000", "--json",
                          str(report)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "soak OK: " in run.stdout
    data = json.loads(report.read_text())
    assert [p["phase"] for p in data["phases"]] == ["core", "power cuts", "host decoder"]
    assert data["frames"] >= 20000 and data["ok"] is True
    for phase in data["phases"]:
        assert phase["frames"] > 0 and phase["crashes"] == phase["hangs"] == phase["invariant_breaks"] == 0
        assert phase["max_input_ms"] > 0  # measured, whatever the machine


def test_a_cut_reset_that_keeps_its_clock_is_an_invariant_break(monkeypatch):
    """Planted back: every cut save taken for one that landed (the clock of a cut TC_RESET stays moved)."""
    monkeypatch.setattr(persist.Persistence, "last_save_landed", lambda self: True)
    result = soak.soak_cuts(300, seed=0)
    assert result["invariant_breaks"] > 0, result
    assert any("pump clock reads" in finding for finding in result["findings"]), result["findings"]


def test_a_cut_warp_that_keeps_its_change_is_told_from_one_that_landed(monkeypatch):
    """The soak knows from where the cut fell whether the save landed (its size is measured on a
    copy of the pump), so a cut warp whose clock moved all the same is a finding, not allowed."""
    monkeypatch.setattr(persist.Persistence, "last_save_landed", lambda self: True)
    result = soak.soak_cuts(300, seed=0)
    assert any(finding.startswith("invariant: after a cut TcWarpClockRequest") and "did not land" in finding
               for finding in result["findings"]), result["findings"]


def test_a_whole_save_taken_for_a_cut_one_is_found_at_the_saves_last_byte(monkeypatch):
    """A cut at a save's last byte leaves it whole: the change happened. Planted: the pump takes
    every cut save for lost."""
    monkeypatch.setattr(persist.Persistence, "last_save_landed", lambda self: False)
    result = soak.soak_cuts(600, seed=0)
    assert result["invariant_breaks"] > 0, result
    assert any("that landed the pump clock reads" in finding for finding in result["findings"]), result["findings"]


def test_a_decoder_that_raises_is_counted_as_a_crash(monkeypatch):
    from pumpmock.protocol import framing

    def broken(self, block):
        raise IndexError("planted")

    monkeypatch.setattr(framing.FrameDecoder, "_block", broken)
    result = soak.soak_host(200, seed=1)
    assert result["crashes"] > 0 and "IndexError" in result["findings"][0]


def test_soak_refuses_a_count_below_one_with_one_line(capsys):
    import argparse
    parser = argparse.ArgumentParser()
    soak.add_arguments(parser)
    assert soak.main(parser.parse_args(["--frames", "0"])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--frames" in err
