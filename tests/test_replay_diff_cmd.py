"""`pumpmock replay` and `pumpmock diff`: a recorded session sent again, and two sessions compared."""

import sys

from pumpmock import harness
from pumpmock.harness import cli
from pumpmock.protocol.codes import Drug, Role


def record(path, url="pumpmock://?clock=virtual"):
    """A short clinic session on a fresh emulator, recorded to `path`."""
    with harness.connect(url, role=Role.CLINICIAN, transcript=str(path)) as session:
        session.test.reset()
        session.authenticate(Role.CLINICIAN)
        session.refill(Drug.MORPHINE, concentration_ug_per_ml=20_000, volume_added_ul=18_000)
        session.status()
    return path


def test_a_session_replayed_on_the_emulator_is_equivalent_and_saved(tmp_path, capsys):
    original = record(tmp_path / "original.jsonl")
    assert cli.main(["replay", str(original), "--save", str(tmp_path / "again.jsonl")]) == 0
    assert "equivalent" in capsys.readouterr().out
    assert cli.main(["diff", str(original), str(tmp_path / "again.jsonl")]) == 0


def test_a_pump_that_answers_differently_is_shown_field_by_field(tmp_path, capsys, monkeypatch):
    original = record(tmp_path / "original.jsonl")
    from pumpmock.firmware_mock import commands
    refill = commands.refill

    def refill_short(model, drug, conc, volume_ul):
        return refill(model, drug, conc, volume_ul - 1_000)  # planted: a millilitre goes missing

    monkeypatch.setattr(commands, "refill", refill_short)
    assert cli.main(["replay", str(original), "--save", str(tmp_path / "planted.jsonl")]) == 1
    out = capsys.readouterr().out
    assert "REFILL" in out and "reservoir_ul: 18000 != 17000" in out
    assert cli.main(["diff", str(original), str(tmp_path / "planted.jsonl"), "--ignore", "reservoir_ul",
                     "--ignore", "days_to_empty", "--ignore", "days_to_low_reservoir"]) == 0
    capsys.readouterr()


def test_diff_strict_also_compares_what_differs_between_honest_runs(tmp_path, capsys):
    a, b = record(tmp_path / "a.jsonl"), record(tmp_path / "b.jsonl")
    assert cli.main(["diff", str(a), str(b)]) == 1  # each client starts at a sequence number of its own
    assert "seq: " in capsys.readouterr().out
    assert cli.main(["diff", str(a), str(b), "--ignore", "seq"]) == 0
    assert cli.main(["diff", str(a), str(b), "--ignore", "seq", "--strict"]) == 1  # and its own session id
    assert "host_session_id" in capsys.readouterr().out


def test_unreadable_files_and_unreachable_targets_exit_2(tmp_path, capsys):
    original = record(tmp_path / "original.jsonl")
    assert cli.main(["diff", str(original), str(tmp_path / "missing.jsonl")]) == 2
    gone = "exec://%s -c 'import sys; sys.exit(3)'" % sys.executable
    assert cli.main(["replay", str(original), gone]) == 2
    err = capsys.readouterr().err
    assert "missing.jsonl" in err and "cannot replay against" in err and "exit status 3" in err


def test_a_paced_replay_lets_the_recorded_time_pass_again(tmp_path, capsys):
    """Ten virtual minutes between a refill and a status: unpaced, the pump's clock and totals differ."""
    path = tmp_path / "waited.jsonl"
    with harness.connect("pumpmock://?clock=virtual", role=Role.CLINICIAN, transcript=str(path)) as session:
        session.test.reset()
        session.authenticate(Role.CLINICIAN)
        session.refill(Drug.MORPHINE, concentration_ug_per_ml=20_000, volume_added_ul=18_000)
        session.poll_events(timeout=600)  # ten minutes pass on the line's clock, nothing sent
        assert session.status().clock_s >= 600
    assert cli.main(["replay", str(path)]) == 1
    assert "clock_s" in capsys.readouterr().out
    assert cli.main(["replay", str(path), "--paced"]) == 0
    assert "equivalent" in capsys.readouterr().out
