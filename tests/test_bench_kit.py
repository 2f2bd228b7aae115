"""The bench kit, rehearsed without a board: flash against a fake board (its snippets run on
MicroPython too), and `pumpmock bench` against the MicroPython runner, a baud-paced pty and a
deliberately modified emulator whose difference the transcript diff must find."""

import functools
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from pumpmock import harness
from pumpmock.harness import cli
from pumpmock.harness.bench import flash as flash_module, fuzzing, measure, perf
from pumpmock.harness.bench.deploy import DeployError, MpremoteDeployer
from pumpmock.harness.bench.fakeboard import FakeBoard, micropython_interpreter, MICROPYTHON_MJS
from pumpmock.harness.bench.flash import TEST_MODE_MARKER, FlashError, deployment, flash
from pumpmock.harness.bench.run import BenchOptions, bench
from pumpmock.harness.fuzz import campaign
from targets import start, stop

ROOT = pathlib.Path(__file__).resolve().parent.parent
PUMPMOCK = [sys.executable, "-m", "pumpmock.harness.cli"]
RUNNER = ROOT / "firmware_mock" / "wasm_runner.mjs"
FAST_CHECKS_ONLY = ["--skip-check", "exactly once under link faults"]  # 200 boluses: seconds on a paced line
REPORT_SECTIONS = {"target", "machine", "checks", "fuzz", "link", "transcript_diff", "findings", "verdict"}



@pytest.fixture
def checkout(tmp_path_factory, monkeypatch):
    """The checkout flash deploys from: this one, or a copy with a stand-in board main.py until that lands."""
    if (ROOT / flash_module.BOARD_MAIN).is_file():
        return ROOT
    root = tmp_path_factory.mktemp("checkout")
    (root / "firmware_mock" / "board").mkdir(parents=True)
    for path in (ROOT / "firmware_mock").glob("*.py"):
        shutil.copy(path, root / "firmware_mock" / path.name)
    (root / flash_module.BOARD_MAIN).write_text("# stand-in for the board shell\n")
    monkeypatch.setattr(flash_module, "ROOT", root)
    return root


def fake_ports(*ports):
    return lambda: [SimpleNamespace(device=d, vid=v, pid=p, description=desc, manufacturer=None)
                    for d, v, p, desc in ports]


def quiet(_text):
    pass


# ---- flash -----------------------------------------------------------------------------------
def test_flash_deploys_every_file_verifies_its_hash_and_the_identity(tmp_path, checkout):
    board = FakeBoard(tmp_path / "board")
    result = flash(board, test_mode=True, progress=quiet)
    on_board = board.files()
    for local, remote in deployment(checkout):
        assert on_board[remote] == local.read_bytes(), remote
    assert "main.py" in on_board and "firmware_mock/core.py" in on_board
    assert TEST_MODE_MARKER in on_board and result["test_mode"] is True
    assert result["serial"] == "PM-FAKEBRD"
    assert board.calls[-1] == ("reset",)
    hashed = [code for kind, *rest in board.calls if kind == "run" for code in rest if "sha256" in code]
    assert hashed, "the hashes must be computed on the board"


def test_test_mode_is_only_on_when_asked_and_a_plain_flash_removes_it(tmp_path, checkout):
    board = FakeBoard(tmp_path / "board")
    flash(board, test_mode=True, progress=quiet)
    result = flash(board, test_mode=False, progress=quiet)
    assert TEST_MODE_MARKER not in board.files()
    assert result["test_mode"] is False


def test_a_file_that_arrives_different_fails_the_flash_before_the_reset(tmp_path, checkout):
    board = FakeBoard(tmp_path / "board", corrupt={"firmware_mock/core.py"})
    with pytest.raises(FlashError, match="firmware_mock/core.py: expected"):
        flash(board, test_mode=True, progress=quiet)
    assert ("reset",) not in board.calls


def test_a_board_that_comes_up_in_the_wrong_test_mode_fails(tmp_path, checkout):
    class Stubborn(FakeBoard):
        def identity_url(self):
            return "pumpmock://?clock=virtual&test_mode=1"  # test control on, whatever was flashed
    with pytest.raises(FlashError, match="test mode ON"):
        flash(Stubborn(tmp_path / "board"), test_mode=False, progress=quiet)


def test_the_deployment_snippets_run_on_micropython(tmp_path, checkout):
    try:
        interpreter = micropython_interpreter()
    except DeployError as missing:
        pytest.skip(str(missing))
    board = FakeBoard(tmp_path / "board", interpreter=interpreter)
    assert flash(board, test_mode=True, progress=quiet)["test_mode"] is True
    assert flash(board, test_mode=False, progress=quiet)["test_mode"] is False
    assert TEST_MODE_MARKER not in board.files()


def test_after_the_reset_the_identity_is_retried_while_the_board_reboots(monkeypatch):
    attempts = []

    class Rebooted:
        identity = SimpleNamespace(serial="PM-000001", test_mode=1)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    def connect(url, allowlist=None):
        attempts.append(url)
        if len(attempts) == 1:  # re-enumerating: no USB identity yet, so the interlock refuses it
            raise harness.UsbDeviceNotAllowed("refusing /dev/ttyACM0: not a USB serial device")
        if len(attempts) == 2:
            raise harness.NotAMockError("no answer to HELLO")  # booting
        return Rebooted()

    monkeypatch.setattr(flash_module, "connect", connect)
    monkeypatch.setattr(flash_module.time, "sleep", lambda s: None)
    assert flash_module.wait_for_identity("/dev/ttyACM0", timeout_s=5).serial == "PM-000001"
    assert len(attempts) == 3


def test_mpremote_is_driven_with_its_real_command_syntax(tmp_path):
    calls = []

    def runner(argv, **options):
        calls.append(argv)
        assert options["timeout"] > 0
        stdout = "sha256 main.py %s\n" % ("0" * 64) if argv[3] == "exec" else ""
        return subprocess.CompletedProcess(argv, 0, stdout, "")

    board = MpremoteDeployer("/dev/ttyACM0", command=["mpremote"], runner=runner)
    board.put([("firmware_mock/core.py", "firmware_mock/core.py"), ("firmware_mock/board/main.py", "main.py")])
    assert calls[-1] == ["mpremote", "connect", "/dev/ttyACM0", "fs", "cp", "firmware_mock/core.py",
                         ":firmware_mock/core.py", "+", "fs", "cp", "firmware_mock/board/main.py", ":main.py"]
    assert board.hashes(["main.py"]) == {"main.py": "0" * 64}
    assert calls[-1][:4] == ["mpremote", "connect", "/dev/ttyACM0", "exec"]
    board.reset()
    assert calls[-1] == ["mpremote", "connect", "/dev/ttyACM0", "reset"]


def test_mpremote_failures_are_explained():
    def no_repl(argv, **options):
        return subprocess.CompletedProcess(argv, 1, "", "mpremote: could not enter raw repl\n")

    with pytest.raises(DeployError, match="Ctrl-C switched off.*bench/README.md"):
        MpremoteDeployer("/dev/ttyACM0", command=["mpremote"], runner=no_repl).run("print(1)")

    def hangs(argv, **options):
        raise subprocess.TimeoutExpired(argv, options["timeout"])

    with pytest.raises(DeployError, match="no answer within"):
        MpremoteDeployer("/dev/ttyACM0", command=["mpremote"], runner=hangs, timeout_s=3).reset()


def test_flash_refuses_a_port_the_interlock_refuses_before_touching_it(monkeypatch, capsys):
    monkeypatch.setattr("pumpmock.harness.interlock._comports", fake_ports(("/dev/ttyUSB7", 0x1234, 0x5678, "Acme Programmer Head")))
    made = []
    monkeypatch.setattr(flash_module, "make_deployer", lambda args: made.append(args))
    assert cli.main(["flash", "--port", "/dev/ttyUSB7", "--test-mode"]) == 2
    assert "1234:5678" in capsys.readouterr().err
    assert made == []


def test_flash_without_mpremote_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setattr("pumpmock.harness.interlock._comports", fake_ports(("/dev/ttyACM9", 0x2E8A, 0x0005, "Board in FS mode")))
    monkeypatch.setattr(flash_module, "find_mpremote", lambda: None)
    assert cli.main(["flash", "--port", "/dev/ttyACM9"]) == 2
    assert "pip install 'pumpmock[bench]'" in capsys.readouterr().err


def test_pumpmock_flash_end_to_end_on_a_fake_board(monkeypatch, capsys, tmp_path, checkout):
    monkeypatch.setattr("pumpmock.harness.interlock._comports", fake_ports(("/dev/ttyACM9", 0x2E8A, 0x0005, "Board in FS mode")))
    monkeypatch.setattr(flash_module, "make_deployer", lambda args: FakeBoard(tmp_path / "board", port=args.port))
    assert cli.main(["flash", "--port", "/dev/ttyACM9", "--test-mode"]) == 0
    out = capsys.readouterr().out
    assert "Raspberry Pi" in out and "test mode ON" in out and "verified" in out


# ---- bench: measurements ---------------------------------------------------------------------
def test_a_16ms_cluster_is_named_as_the_ftdi_latency_timer():
    round_trips = {"latency_ms": {"p50": 16.1}, "wire_time_ms_per_round_trip": 5.3, "share_near_16ms": 0.93}
    log = {"line_efficiency_pct": 22.0, "line_utilisation_pct": 25.0, "entry_bytes_per_s": 2534,
           "line_rate_bytes_per_s": 11520}
    findings = measure.link_findings(round_trips, log)
    assert "FTDI" in findings[0] and "latency_timer" in findings[0]
    assert "22%" in findings[1]
    healthy = {"latency_ms": {"p50": 6.2}, "wire_time_ms_per_round_trip": 5.3, "share_near_16ms": 0.0}
    assert measure.link_findings(healthy, dict(log, line_efficiency_pct=91.0, line_utilisation_pct=98.0)) == []
    unpaced = measure.link_findings(healthy, dict(log, line_efficiency_pct=530.0, line_utilisation_pct=577.0))
    assert "not paced" in unpaced[0]


def test_bench_measures_a_line_with_16ms_round_trips_and_names_it(tmp_path):
    """A line that delays every frame 8 ms each way round-trips at ~16 ms, as an FTDI bridge does.
    A busy machine only stretches the delays: when fewer than half the round trips land near
    16 ms, the report must not name the timer (the naming itself is
    test_a_16ms_cluster_is_named_as_the_ftdi_latency_timer's)."""
    url = "pumpmock://?faults=delay%3D8ms%2Cunit%3Dframe"
    options = BenchOptions(round_trips=25, log_entries=24, fuzz_seconds=0, only_checks=["identity"])
    report = bench(url, tmp_path, options, progress=quiet)
    round_trips, notes = report["link"]["round_trips"], report["link"]["notes"]
    assert round_trips["latency_ms"]["p50"] >= 15
    named = any("FTDI" in note for note in notes)
    assert named == (round_trips["share_near_16ms"] >= 0.5), (round_trips, notes)


SLOW_CAMPAIGN = """\
import os, time

def run_campaign(url, budget_s, seed, test_mode, failures_dir, **options):
    if %(saves)r:
        os.makedirs(failures_dir, exist_ok=True)
        open(os.path.join(failures_dir, "stateful-1-bolus-twice.jsonl"), "w").close()
    time.sleep(60)  # a batch that never ends: the bench must stop it anyway
"""


def _slow_campaign(tmp_path, monkeypatch, saves=False):
    (tmp_path / "slow_campaign.py").write_text(SLOW_CAMPAIGN % {"saves": saves})
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "slow_campaign"


@pytest.mark.parametrize("saves", [False, True], ids=["nothing-found", "found-before-the-stop"])
def test_a_fuzz_campaign_that_overruns_its_budget_is_stopped_at_its_own_promise(tmp_path, monkeypatch, saves):
    """The bench holds the campaign to campaign.overrun_s, the one rule (it once allowed a quarter
    of the budget more), counted from the campaign's start, not the child's imports."""
    module = _slow_campaign(tmp_path, monkeypatch, saves)
    result = fuzzing.run_bounded("pumpmock://", 0.5, 1, True, tmp_path / "failures", campaign_module=module)
    assert result["status"] == ("failed" if saves else "stopped")
    assert result["limit_s"] == 0.5 + campaign.overrun_s(0.5) == fuzzing.limit_s(0.5)
    # Stopped at the limit (not a minute later, when the campaign would have ended by itself).
    assert result["limit_s"] <= result["seconds"] < result["limit_s"] + 10, result
    assert "overran" in result["reason"] and "overrun_s" in result["reason"]
    assert len(result["transcripts"]) == int(saves)
    for budget_s in (60, 600):  # a quarter more (75, 660 s) was the bench's old, looser rule
        assert fuzzing.limit_s(budget_s) == budget_s + campaign.overrun_s(budget_s) < budget_s * 1.25


def test_the_bench_reports_a_campaign_that_overran_as_giving_no_verdict(tmp_path, monkeypatch):
    module = _slow_campaign(tmp_path, monkeypatch)
    monkeypatch.setattr(fuzzing, "run_bounded", functools.partial(fuzzing.run_bounded, campaign_module=module))
    options = BenchOptions(round_trips=5, log_entries=8, fuzz_seconds=0.5, only_checks=["identity"])
    report = bench("pumpmock://?clock=virtual", tmp_path / "report", options, progress=quiet)
    assert report["fuzz"]["status"] == "stopped", report["fuzz"]
    assert report["verdict"] == "incomplete" and "fuzzing" in report["not_run"], report["verdict"]
    assert any(f.startswith("the fuzz campaign gave no verdict: the campaign overran") for f in report["findings"])
    summary = (tmp_path / "report" / "summary.txt").read_text()
    assert "fuzz: stopped" in summary and "overran" in summary


# ---- bench: rehearsals ------------------------------------------------------------------------
def read_report(directory):
    report = json.loads((pathlib.Path(directory) / "report.json").read_text())
    assert REPORT_SECTIONS <= set(report)
    assert (pathlib.Path(directory) / "summary.txt").read_text().startswith("pumpmock bench report")
    return report


def run_pumpmock(*args, timeout=120):
    done = subprocess.run(PUMPMOCK + list(args), cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def test_bench_in_process_reports_every_section_and_never_fakes_fuzzing(tmp_path):
    report = bench("pumpmock://?clock=virtual", tmp_path, BenchOptions(round_trips=20, log_entries=36, fuzz_seconds=3), progress=quiet)
    read_report(tmp_path)
    assert report["checks"]["status"] == "pass" and report["checks"]["counts"]["fail"] == 0
    assert report["transcript_diff"]["status"] == "same"
    assert report["link"]["log_download"]["entries"] >= 36
    if report["fuzz"]["status"] == "not available":
        assert any("no fuzzing was done" in f for f in report["findings"])
        assert report["verdict"] == "incomplete" and "fuzzing" in report["not_run"]
    else:
        assert report["fuzz"]["status"] == "passed", report["fuzz"]
        assert report["verdict"] == "pass"


def test_a_target_without_test_mode_is_measured_but_never_passed_by_omission(tmp_path):
    report = bench("pumpmock://?clock=virtual&test_mode=0", tmp_path,
                   BenchOptions(round_trips=10, log_entries=12, fuzz_seconds=1), progress=quiet)
    assert report["verdict"] == "incomplete"
    assert report["transcript_diff"]["status"] == "skipped"
    assert report["checks"]["counts"]["fail"] == 0 and report["checks"]["counts"]["skip"] > 0
    assert report["link"]["status"] == "measured"
    assert "INCOMPLETE" in (tmp_path / "summary.txt").read_text()


@pytest.fixture
def paced_pty():
    """The emulator served on a pseudo-terminal (`pumpmock serve`), paced at 115200 baud each way."""
    process, path = start("--pty", "--test-mode", "--baud", "115200")
    try:
        assert path.startswith("/dev/"), path
        yield path
    finally:
        stop(process)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="pseudo-terminals are POSIX only")
def test_bench_rehearsal_on_a_baud_paced_pty(paced_pty, tmp_path):
    status, output = run_pumpmock("bench", "--port", paced_pty, "--report-dir", str(tmp_path), "--round-trips", "50",
                                  "--log-entries", "120", "--fuzz-seconds", "2", *FAST_CHECKS_ONLY)
    report = read_report(tmp_path)
    assert "a pseudo-terminal" in report["target"]["interlock"]
    assert report["checks"]["counts"]["fail"] == 0, output
    assert report["transcript_diff"]["status"] == "same", output
    link = report["link"]
    assert link["status"] == "measured", link
    # Paced at 115200 baud: a round trip costs at least its bytes' time on the line, and the
    # bulk download fills most of the line but cannot beat it.
    rt = link["round_trips"]
    assert rt["latency_ms"]["p50"] >= rt["wire_time_ms_per_round_trip"] * 0.9
    assert 50 <= link["log_download"]["line_efficiency_pct"] <= 100
    assert status == {"pass": 0, "fail": 1, "incomplete": 3}[report["verdict"]]


needs_micropython_runner = pytest.mark.skipif(not shutil.which("node") or not MICROPYTHON_MJS.exists(),
                                              reason="the MicroPython runner needs node and node_modules (npm ci)")


@needs_micropython_runner
@pytest.mark.skipif(not hasattr(os, "openpty"), reason="pseudo-terminals are POSIX only")
@pytest.mark.timeout(360)  # the bench's own 300 s bound comes first (a loaded machine)
def test_bench_rehearsal_of_a_board_on_a_uart(tmp_path):
    """bench/README.md's rehearsal, as it is written there: the firmware under real MicroPython
    behind a pty paced at 115200 baud (a board on a UART, minus the board), then the whole bench
    with a 10 s fuzz campaign. The whole verdict must be a pass, the fuzz section included."""
    environment = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    proxy = subprocess.Popen(PUMPMOCK + ["proxy", "pty", "exec:pumpmock micropython --test-mode",
                                         "--faults", "baud=115200"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        path = proxy.stdout.readline().strip()
        assert path.startswith("/dev/"), proxy.stderr.read()
        status, output = run_pumpmock("bench", "--port", path, "--report-dir", str(tmp_path), "--fuzz-seconds", "10",
                                      timeout=300)
    finally:
        proxy.terminate()
        try:
            proxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait(timeout=10)
    report = read_report(tmp_path)
    assert report["checks"]["counts"]["fail"] == 0, output
    assert report["transcript_diff"]["status"] == "same", output
    assert 50 <= report["link"]["log_download"]["line_efficiency_pct"] <= 100, output
    fuzz = report["fuzz"]
    assert fuzz["status"] == "passed" and fuzz["examples"] > 0, output
    # One runner behind the pty: every phase's heap is watched, in MicroPython's own figures.
    heap = report["heap"]
    assert heap["status"] == "within budget", heap
    assert {row["phase"]: row["status"] for row in heap["phases"]} == dict.fromkeys(
        ["conformance checks", "a full event log", "log download", "power loss with a full log", "fuzz",
         "link measurements", "scenario diff"], "within budget"), heap["phases"]
    assert all(row["used_bytes"] > 0 and row["largest_buffer_bytes"] <= 512 for row in heap["phases"])
    assert report["verdict"] == "pass" and status == 0, output


PLANTED = """\
# The emulator on stdin/stdout with one planted defect: morphine's hard daily maximum is off by one.
import os, select, sys, time
sys.path.insert(0, %(root)r)
from pumpmock.firmware_mock import spec
spec.DRUGS[1] = (20000, 10000, 15001)
from pumpmock.firmware_mock.core import Pump

pump = Pump(serial="PM-PLANTED", test_mode=True)
start = time.monotonic()
while True:
    now_ms = int((time.monotonic() - start) * 1000)
    due = pump.next_deadline_ms()
    wait_s = None if due is None else max(0, due - now_ms) / 1000
    if select.select([0], [], [], wait_s)[0]:
        data = os.read(0, 4096)
        if not data:
            break
        out = pump.receive(data, int((time.monotonic() - start) * 1000))
    else:
        out = pump.poll(int((time.monotonic() - start) * 1000))
    if out:
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
"""


def test_a_planted_difference_shows_in_the_transcript_diff(tmp_path):
    script = tmp_path / "planted_pump.py"
    script.write_text(PLANTED % {"root": str(ROOT)})
    status, output = run_pumpmock("bench", "--port", "exec:%s %s" % (sys.executable, script), "--report-dir",
                                  str(tmp_path / "report"), "--round-trips", "20", "--log-entries", "24",
                                  "--fuzz-seconds", "0", "--only-check", "hard limit refuses")
    report = read_report(tmp_path / "report")
    assert status == 1 and report["verdict"] == "fail", output
    assert report["checks"]["counts"]["fail"] == 1
    diff = report["transcript_diff"]
    assert diff["status"] == "different"
    assert any("NAK" in line and "PROGRAM_PRESCRIPTION" in line for line in diff["differences"]), diff["differences"]
    assert (tmp_path / "report" / "diff.txt").read_text().strip()


@needs_micropython_runner
@pytest.mark.timeout(360)  # the bench's own 300 s bound comes first (a loaded machine)
def test_bench_rehearsal_on_the_micropython_runner(tmp_path):
    if not RUNNER.exists():
        pytest.skip("firmware_mock/wasm_runner.mjs has not landed yet")
    status, output = run_pumpmock("bench", "--port", "exec:node %s --test-mode" % RUNNER.relative_to(ROOT),
                                  "--report-dir", str(tmp_path), "--timeout", "2", "--round-trips", "20",
                                  "--log-entries", "24", "--fuzz-seconds", "2", *FAST_CHECKS_ONLY, timeout=300)
    report = read_report(tmp_path)
    assert report["target"]["identity"]["test_mode"] is True
    assert report["checks"]["counts"]["fail"] == 0, output
    assert report["transcript_diff"]["status"] == "same", output


def test_bench_refuses_a_port_the_interlock_refuses(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("pumpmock.harness.interlock._comports", fake_ports(("/dev/ttyUSB7", 0x1234, 0x5678, "Acme Programmer Head")))
    opened = []
    monkeypatch.setattr(harness.serial, "serial_for_url", lambda *a, **k: opened.append(a))
    assert cli.main(["bench", "--port", "/dev/ttyUSB7", "--report-dir", str(tmp_path)]) == 2
    assert "1234:5678" in capsys.readouterr().err
    assert opened == []


def test_pumpmock_perf_is_python_m_bench(monkeypatch):
    seen = []
    monkeypatch.setattr(perf.subprocess, "run", lambda command, cwd: seen.append((command, cwd)) or
                        subprocess.CompletedProcess(command, 0))
    assert cli.main(["perf", "--quick", "--only", "codec"]) == 0
    command, cwd = seen[0]
    assert command[1:] == ["-m", "bench", "--quick", "--only", "codec"] and pathlib.Path(cwd) == ROOT
