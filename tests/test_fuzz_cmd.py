"""`pumpmock fuzz`: a bounded campaign with a summary, failures saved, and --replay telling fixed from still failing."""

import json
import subprocess
import sys

import pytest

from pumpmock.harness import cli
from pumpmock.harness.fuzz_cmd import parse_budget

from test_fuzz_mutation import plant_read_log_crash

PUMPMOCK = [sys.executable, "-m", "pumpmock.harness.cli"]


def test_budgets_read_as_a_person_writes_them():
    assert [parse_budget(text) for text in ("90", "90s", "5m", "1.5h")] == [90, 90, 300, 5400]
    for bad in ("", "0", "-3s", "5 minutes", "m"):
        with pytest.raises(ValueError):
            parse_budget(bad)


def test_a_short_campaign_on_the_emulator_passes_and_reports_both_modes(tmp_path):
    done = subprocess.run(PUMPMOCK + ["fuzz", "--budget", "4s", "--seed", "3", "--failures", str(tmp_path / "f"),
                                      "--json", str(tmp_path / "result.json")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED: 0 distinct failures, seed 3" in done.stdout
    assert "cases (" in done.stderr  # the progress line
    result = json.loads((tmp_path / "result.json").read_text())
    modes = {part["mode"]: part for part in result["results"]}
    assert set(modes) == {"mutation", "stateful"}
    assert modes["mutation"]["cases"] > 1000 and modes["stateful"]["cases"] > 50
    assert not (tmp_path / "f").exists() or not list((tmp_path / "f").iterdir())


def test_bad_arguments_exit_2(capsys):
    assert cli.main(["fuzz", "--budget", "soon"]) == 2
    assert "--budget" in capsys.readouterr().err
    assert cli.main(["fuzz", "exec:python -c pass", "--mode", "mutation"]) == 2


def test_a_planted_dedup_miss_is_found_saved_and_replayed_until_fixed(monkeypatch, tmp_path, capsys):
    from pumpmock.firmware_mock import dedup
    monkeypatch.setattr(dedup.ExactlyOnceCache, "lookup", lambda self, seq, msg_id, digest: None)
    failures = tmp_path / "failures"
    status = cli.main(["fuzz", "--mode", "stateful", "--budget", "12s", "--seed", "1", "--failures", str(failures),
                       "--quiet"])
    out = capsys.readouterr().out
    assert status == 1 and "FAILED" in out and "SAFETY: exactly once" in out, out
    transcript = sorted(failures.glob("stateful-*.jsonl"))[0]
    assert "pumpmock fuzz --replay" in transcript.with_suffix(".txt").read_text()

    assert cli.main(["fuzz", "--replay", str(transcript)]) == 1
    assert "STILL FAILS" in capsys.readouterr().out
    monkeypatch.undo()
    assert cli.main(["fuzz", "--replay", str(transcript)]) == 0
    assert "FIXED" in capsys.readouterr().out


def test_a_planted_crash_found_by_mutation_replays_as_a_crash(monkeypatch, tmp_path, capsys):
    plant_read_log_crash(monkeypatch)
    failures = tmp_path / "failures"
    status = cli.main(["fuzz", "--mode", "mutation", "--budget", "6s", "--seed", "5", "--failures", str(failures),
                       "--quiet"])
    out = capsys.readouterr().out
    assert status == 1 and "mutation [crash]" in out, out
    transcript = sorted(failures.glob("mutation-*-crash.jsonl"))[0]
    assert cli.main(["fuzz", "--replay", str(transcript)]) == 1
    assert "IndexError" in capsys.readouterr().out
    monkeypatch.undo()
    assert cli.main(["fuzz", "--replay", str(transcript)]) == 0
    assert "FIXED" in capsys.readouterr().out


def test_a_target_that_cannot_be_reached_exits_2_with_the_reason_at_once(capsys):
    url = "exec://%s -c 'import sys; sys.exit(3)'" % sys.executable
    assert cli.main(["fuzz", url, "--budget", "30s", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot fuzz" in err and "exit status 3" in err


def test_a_pump_that_dies_for_good_is_reported_and_the_run_says_why_it_stopped(tmp_path, capsys):
    from test_fuzz_stateful import DYING_PUMP
    script = tmp_path / "dying_pump.py"
    script.write_text(DYING_PUMP)
    url = "exec://%s %s %s" % (sys.executable, script, tmp_path / "dead")
    assert cli.main(["fuzz", url, "--budget", "30s", "--quiet", "--failures", str(tmp_path / "f")]) == 1
    out = capsys.readouterr().out
    assert "[the pump went away]" in out
    assert "stopped before the budget: the pump cannot be reached any more" in out
