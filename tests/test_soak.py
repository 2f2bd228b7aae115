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
