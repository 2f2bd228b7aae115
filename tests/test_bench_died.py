"""A board that stops answering mid-run: the bench still writes its report, a FAIL with when the
board died, during what, the last frames and the firmware's traceback; exit status 1, never 2."""

import json

import pytest

from pumpmock.harness import cli
from pumpmock.harness.bench import liveness
from pumpmock.harness.bench.deploy import CRASH_FILE
from pumpmock.harness.bench.fakeboard import FakeBoard, register_dying_board, unregister_dying_board
from pumpmock.harness.bench.run import BenchOptions, bench
from pumpmock.harness.bench.scenario import HOST_SESSION_ID

TRACEBACK = ("Traceback (most recent call last):\n  File \"firmware_mock/persist.py\", line 96, in load_log\n"
             "MemoryError: memory allocation failed, allocating 4096 bytes\n")
SCENARIO_SESSION = HOST_SESSION_ID.to_bytes(4, "little")
QUICK = dict(round_trips=10, log_entries=12, fuzz_seconds=0)


def quiet(_text):
    pass


@pytest.fixture
def dying(request):
    """register(frames, board=None) -> the pumpmock:// URL of a board dying after that many frames."""
    names = []

    def register(frames, board=None, count_from=None):
        name = "dying-%s-%d" % (request.node.name, len(names))
        register_dying_board(name, frames, board=board, crash_text=TRACEBACK if board is not None else None,
                             count_from=count_from)
        names.append(name)
        return "pumpmock://%s?clock=virtual" % name

    yield register
    for name in names:
        unregister_dying_board(name)


def test_a_board_that_dies_during_the_checks_is_a_fail_with_its_last_frames_and_traceback(tmp_path, dying):
    board = FakeBoard(tmp_path / "board")
    url = dying(60, board=board)  # HELLO of the first connection, then a few checks' worth
    options = BenchOptions(crash_reader=lambda: board.read_text(CRASH_FILE), **QUICK)
    report = bench(url, tmp_path / "report", options, progress=quiet)
    death = report["died"]
    assert report["verdict"] == "fail"
    assert death["during"] == "the conformance checks"
    assert "NotAMockError" in death["error"] and "HELLO" in death["error"]
    assert death["last_answer_after_s"] is not None and death["last_answer_after_s"] <= death["noticed_after_s"]
    assert death["last_frames"] and any("pump>host" in line for line in death["last_frames"])
    assert death["crash"] == {"status": "read", "text": TRACEBACK.rstrip("\n")}
    # the rest of the run is not done, and says why
    assert report["checks"]["counts"]["pass"] >= 1 and report["checks"]["not_run"]
    for key in ("fuzz", "link", "transcript_diff"):
        assert report[key]["status"] == "not run", (key, report[key])
    summary = (tmp_path / "report" / "summary.txt").read_text()
    assert "verdict: FAIL" in summary and "TARGET STOPPED ANSWERING during the conformance checks" in summary
    assert "MemoryError: memory allocation failed, allocating 4096 bytes" in summary
    assert json.loads((tmp_path / "report" / "report.json").read_text())["died"]["during"] == "the conformance checks"


def test_a_board_that_dies_in_the_scenario_is_reported_where_it_died(tmp_path, dying):
    # The scenario's HELLO carries its own session id: the board dies six frames after it.
    url = dying(6, count_from=lambda frame: frame.msg_id == 0x01 and frame.payload[:4] == SCENARIO_SESSION)
    report = bench(url, tmp_path / "report", BenchOptions(**QUICK), progress=quiet)
    assert report["verdict"] == "fail"
    assert report["died"]["during"] == "the scenario"
    assert report["transcript_diff"]["status"] == "error"
    assert report["checks"]["counts"]["fail"] == 0 and report["link"]["status"] == "measured"
    assert report["died"]["crash"]["status"] == "not read"  # no serial port to ask
    assert any("REFILL" in line or "AUTH" in line for line in report["died"]["last_frames"])


def test_pumpmock_bench_exits_1_with_a_report_when_the_board_dies(tmp_path, dying, capsys):
    url = dying(40)
    status = cli.main(["bench", "--port", url, "--report-dir", str(tmp_path), "--fuzz-seconds", "0",
                       "--round-trips", "10", "--log-entries", "12"])
    out = capsys.readouterr().out
    assert status == 1, out
    assert (tmp_path / "report.json").is_file() and "TARGET STOPPED ANSWERING" in out


def test_a_board_that_never_answers_is_still_refused_with_2(tmp_path, dying, capsys):
    url = dying(0)  # dead before its first HELLO: nothing to report on, as before
    assert cli.main(["bench", "--port", url, "--report-dir", str(tmp_path), "--fuzz-seconds", "0"]) == 2
    assert not (tmp_path / "report.json").exists()


def test_a_live_target_is_probed_once_and_a_dead_one_a_few_times():
    pauses = []
    assert liveness.silent("pumpmock://?clock=virtual", {}, sleep=pauses.append) is None and pauses == []
    register_dying_board("probe-dead", 0)
    try:
        why = liveness.silent("pumpmock://probe-dead?clock=virtual", {"timeout": 0.05}, sleep=pauses.append)
    finally:
        unregister_dying_board("probe-dead")
    assert "NotAMockError" in why and len(pauses) == liveness.PROBES - 1


def test_a_crash_file_is_read_from_a_board_on_micropython_too(tmp_path):
    from pumpmock.harness.bench.fakeboard import micropython_interpreter
    from pumpmock.harness.bench.deploy import DeployError
    try:
        interpreter = micropython_interpreter()
    except DeployError as missing:
        pytest.skip(str(missing))
    board = FakeBoard(tmp_path / "board", interpreter=interpreter)
    assert board.read_text(CRASH_FILE) is None
    (board.root / CRASH_FILE).write_text(TRACEBACK)
    assert board.read_text(CRASH_FILE) == TRACEBACK.rstrip("\n")


def test_a_dead_board_report_shows_in_the_summary_even_without_frames():
    death = liveness.obituary(None, 0.0, "the link measurements", "NotAMockError: no answer to HELLO")
    from pumpmock.harness.bench.report import _died
    lines = _died(death)
    assert lines[1] == "TARGET STOPPED ANSWERING during the link measurements"
    assert any("never" in line for line in lines)
