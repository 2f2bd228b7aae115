"""`pumpmock check`: the conformance checks as a command: a table, and an exit status that says pass, fail or unreachable."""

import json
import re
import subprocess
import sys

from pumpmock.harness import cli
from pumpmock.harness.checks import CHECKS

PUMPMOCK = [sys.executable, "-m", "pumpmock.harness.cli"]


def test_check_passes_on_the_emulator_with_a_summary_table():
    done = subprocess.run(PUMPMOCK + ["check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    counts = dict(re.findall(r"^(pass|fail|skip) +(\d+)$", done.stdout, re.M))
    assert counts["fail"] == "0"
    # One check needs a pump outside test mode; the default emulator is in test mode.
    assert (int(counts["pass"]), int(counts["skip"])) == (len(CHECKS) - 1, 1), done.stdout


def test_check_lists_its_checks(capsys):
    assert cli.main(["check", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(item.name in listed for item in CHECKS)


def test_a_target_that_cannot_be_reached_is_one_clear_error_not_a_table_of_failures(capsys):
    url = "exec://%s -c 'import sys; sys.stderr.write(\"no such board\"); sys.exit(3)'" % sys.executable
    assert cli.main(["check", url]) == 2
    out, err = capsys.readouterr()
    assert "cannot check" in err and "exit status 3" in err and "no such board" in err
    assert "FAIL" not in out


def test_a_peer_that_is_not_the_mock_is_refused_before_any_check(capsys):
    echo = "exec://%s -c 'import sys, shutil; shutil.copyfileobj(sys.stdin.buffer, sys.stdout.buffer)'" % sys.executable
    assert cli.main(["check", echo, "--timeout", "0.2"]) == 2
    out, err = capsys.readouterr()
    assert "not a pumpmock pump" in err
    assert "FAIL" not in out


def test_check_writes_its_results_as_json_for_a_dashboard(tmp_path, capsys, monkeypatch):
    path = tmp_path / "checks.json"
    assert cli.main(["check", "--only", "identity", "--only", "hard limit refuses", "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    assert report["passed"] is True and report["counts"] == {"pass": 2, "fail": 0, "skip": 0}
    assert [c["name"] for c in report["checks"]] == ["identity", "hard limit refuses"]

    from pumpmock.firmware_mock import dedup
    monkeypatch.setattr(dedup.ExactlyOnceCache, "lookup", lambda self, seq, msg_id, digest: None)  # planted
    assert cli.main(["check", "--only", "exactly once on retransmission", "--json", str(path)]) == 1
    report = json.loads(path.read_text())
    assert report["passed"] is False
    assert report["checks"][0]["status"] == "fail" and report["checks"][0]["detail"]
