"""The firmware under real MicroPython (the WebAssembly port, run by Node.js) through firmware_mock/wasm_runner.mjs.

Golden vectors and a clinic session run inside MicroPython (tests/mpy/), and the host codec
talks to the runner as a child process over its stdin/stdout: the exec: transport's view.
Skipped only when node or the npm package is missing; CI has both (.ci/setup runs `npm ci --prefix firmware_mock`).
"""

import json
import os
import pathlib
import select
import shutil
import subprocess
import sys
import time

import pytest

from pumpmock.harness.micropython_cmd import micropython_mjs
from pumpmock import harness
from pumpmock.protocol import BANNER, MAGIC, FrameDecoder
from pumpmock.protocol import messages as m
from pumpmock.protocol.auth import auth_mac, role_key
from pumpmock.protocol.codes import Drug, Error, Fault, Role
from pumpmock.protocol.errors import ProtocolError
from pumpmock.protocol.framing import ACK, EVENT, NAK, RESPONSE, encode_frame

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNNER = ROOT / "firmware_mock" / "wasm_runner.mjs"
MICROPYTHON = micropython_mjs()
pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not MICROPYTHON.exists(),
    reason="needs Node.js (>= 18) and the MicroPython WebAssembly package: install node, then run "
           "`pumpmock micropython --setup` (bash .ci/setup does both)")
MPY_TESTS = ROOT / "tests" / "mpy"
VECTORS = sorted(str(p) for p in (ROOT / "protocol" / "vectors").glob("*.json"))
SERIAL = "PM-000001"


def run_node(*args, cwd=ROOT, timeout=60):
    return subprocess.run(["node", str(RUNNER), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


# ---- scripts inside MicroPython ---------------------------------------------------------------
def test_golden_vectors_pass_through_the_firmware_codec_under_micropython():
    done = run_node("--vectors")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "on micropython 1.27.0:" in done.stdout and " 0 failed" in done.stdout, done.stdout
    assert "vector entries from %d files" % len(VECTORS) in done.stdout


def test_the_vector_checker_fails_on_a_wrong_vector(tmp_path):
    entries = json.loads((ROOT / "protocol" / "vectors" / "messages.json").read_text())
    entry = next(e for e in entries["vectors"] if e["name"] == "REFILL request")
    entry["fields"]["volume_added_ul"] += 1  # the payload no longer says this
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(entries))
    done = run_node("--vectors", str(wrong))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL REFILL request: decoded fields" in done.stdout


def test_clinic_session_against_pump_under_micropython():
    done = run_node("--run", str(MPY_TESTS / "check_scenario.py"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "on micropython 1.27.0:" in done.stdout and " 0 failed" in done.stdout, done.stdout


@pytest.mark.parametrize("script, args", [("check_vectors.py", VECTORS), ("check_scenario.py", [])])
def test_the_same_scripts_pass_on_cpython(script, args):
    # The repository root on sys.path: the firmware is the top-level package firmware_mock there,
    # as on a board (installed, it is pumpmock.firmware_mock).
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(MPY_TESTS / script), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env=environment)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "on cpython" in done.stdout and " 0 failed" in done.stdout


def test_run_mode_passes_on_the_exit_status_and_the_arguments(tmp_path):
    script = tmp_path / "exit_with.py"
    script.write_text("import sys\nprint('args', sys.argv[1:])\nif sys.argv[1] == 'raise':\n"
                      "    raise ValueError('on purpose')\nsys.exit(int(sys.argv[1]))\n")
    done = run_node("--run", str(script), "3", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (3, "args ['3']\n")
    done = run_node("--run", str(script), "raise", cwd=tmp_path)
    assert done.returncode == 1 and "ValueError: on purpose" in done.stderr


def test_bad_options_exit_2_with_usage():
    done = run_node("--seed", "minus-one")
    assert done.returncode == 2 and "--seed needs a non-negative integer" in done.stderr
    done = run_node("--heap", "lots")
    assert done.returncode == 2 and "--heap needs a size" in done.stderr
    done = run_node("--frobnicate")
    assert done.returncode == 2 and "usage:" in done.stderr


def test_a_missing_npm_package_is_explained(tmp_path):
    (tmp_path / "firmware_mock").mkdir()
    for name in ("wasm_runner.mjs", "package.json"):
        shutil.copy(RUNNER.parent / name, tmp_path / "firmware_mock" / name)
    environment = {key: value for key, value in os.environ.items() if key != "PUMPMOCK_NODE_DIR"}
    done = subprocess.run(["node", str(tmp_path / "firmware_mock" / "wasm_runner.mjs")], capture_output=True,
                          text=True, cwd=tmp_path, timeout=30, env=environment)
    assert done.returncode == 2
    assert "micropython-webassembly-pyscript@1.27.0 is missing" in done.stderr
    assert "pumpmock micropython --setup" in done.stderr and len(done.stderr.strip().splitlines()) == 1


# ---- the pump on stdin/stdout -----------------------------------------------------------------
class Runner:
    """The runner as a child process, spoken to with the host codec; every read has a deadline."""

    def __init__(self, *args, cwd=ROOT):
        self.process = subprocess.Popen(["node", str(RUNNER), *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
        self.decoder = FrameDecoder()
        self.frames = []
        self.seq = 0x10

    def write(self, data):
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def read_frames(self, timeout_s, until=lambda frames: bool(frames)):
        """Frames from stdout until `until(frames)` holds or timeout_s passes; garbage fails the test."""
        deadline = time.monotonic() + timeout_s
        got = []
        while not until(got):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([self.process.stdout], [], [], left)
            if not ready:
                break
            data = os.read(self.process.stdout.fileno(), 65536)
            if not data:
                break
            for item in self.decoder.feed(data):
                assert not isinstance(item, ProtocolError), "runner stdout is not clean frames: %r" % item
                got.append(item)
        return got

    def request(self, message, timeout_s=20):
        """(answer frame, events that came with it)."""
        self.seq += 1
        seq = self.seq
        self.write(m.encode_message(message, seq))
        frames = self.read_frames(timeout_s, lambda got: any(f.seq == seq and f.kind in (RESPONSE, NAK) for f in got))
        answers = [f for f in frames if f.seq == seq and f.kind in (RESPONSE, NAK)]
        assert answers, "no answer to %r within %s s; stderr: %s" % (message, timeout_s, self.stderr_now())
        return answers[0], [f for f in frames if f.kind == EVENT]

    def call(self, message):
        answer, _events = self.request(message)
        decoded = m.decode_message(answer)
        assert answer.kind == RESPONSE, decoded
        return decoded

    def login(self, role):
        nonce = self.call(m.AuthChallengeRequest(role)).nonce
        return self.call(m.AuthResponseRequest(role, auth_mac(role_key(SERIAL, role), nonce, SERIAL, role)))

    def close(self, timeout_s=10):
        """Close stdin (EOF) and wait for the exit status."""
        self.process.stdin.close()
        try:
            return self.process.wait(timeout=timeout_s)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=5)
            self.process.stdout.close()

    def stderr_now(self):
        if self.process.poll() is None:
            return "(still running)"
        return self.process.stderr.read().decode(errors="replace")


@pytest.fixture
def runner_factory():
    started = []

    def start(*args, **kwargs):
        runner = Runner(*args, **kwargs)
        started.append(runner)
        return runner

    yield start
    for runner in started:
        if runner.process.poll() is None:
            runner.process.kill()
            runner.process.wait(timeout=5)
        runner.process.stderr.close()
        if not runner.process.stdout.closed:
            runner.process.stdout.close()
        if not runner.process.stdin.closed:
            runner.process.stdin.close()


def test_host_codec_talks_to_the_runner_over_stdio_from_another_cwd(runner_factory, tmp_path):
    runner = runner_factory("--test-mode", cwd=tmp_path)  # the npm package is found from the runner's own place
    hello = runner.call(m.HelloRequest(0x1234, 1))
    assert (hello.magic, hello.banner, hello.serial, hello.test_mode) == (MAGIC, BANNER, SERIAL, 1)
    assert runner.close() == 0  # stdin EOF ends it cleanly
    assert "test mode ON" in runner.process.stderr.read().decode()


def test_without_test_mode_test_control_is_refused(runner_factory):
    runner = runner_factory("--serial", "PM-777777", "--seed", "4000000000")
    hello = runner.call(m.HelloRequest(1, 1))
    assert (hello.serial, hello.test_mode) == ("PM-777777", 0)
    answer, _ = runner.request(m.TcGetStatusRequest())
    assert answer.kind == NAK and m.decode_message(answer).code == Error.NOT_IN_TEST_MODE
    assert runner.close() == 0


def test_events_flow_and_are_resent_with_no_input(runner_factory):
    runner = runner_factory("--test-mode")
    answer, events = runner.request(m.TcInjectFaultRequest(Fault.MOTOR_STALL))
    assert answer.kind == RESPONSE
    events += runner.read_frames(5, lambda got: any(f.kind == EVENT for f in got))
    [raised] = {(e.msg_id, e.seq) for e in events}
    started = time.monotonic()
    # not acknowledged: the pump's own timer sends it again (EVENT_RETRY_MS = 500) with no input
    again = runner.read_frames(5, lambda got: any(f.kind == EVENT for f in got))
    assert (again[0].msg_id, again[0].seq) == raised
    assert 0.3 < time.monotonic() - started < 3
    runner.write(encode_frame(ACK, raised[0], raised[1]))
    assert runner.read_frames(1.2) == []  # acknowledged: no more re-sends
    assert runner.close() == 0


def test_storage_survives_a_restart_of_the_runner(runner_factory, tmp_path):
    state = tmp_path / "nv"
    runner = runner_factory("--test-mode", "--storage", str(state))
    runner.call(m.HelloRequest(1, 1))
    runner.login(Role.CLINICIAN)
    assert runner.call(m.RefillRequest(Drug.MORPHINE, 20_000, 12_345)).reservoir_ul == 12_345
    assert runner.close() == 0
    files = {p.name for p in state.iterdir()}  # the same files FileStorage keeps on a board's flash
    assert "pumpmock_log.bin" in files and files & {"pumpmock_state_a.bin", "pumpmock_state_b.bin"}

    reborn = runner_factory("--test-mode", "--storage", str(state))
    reborn.call(m.HelloRequest(1, 1))
    assert reborn.call(m.TcGetStatusRequest()).reservoir_ul == 12_345
    assert reborn.call(m.TcReadCountersRequest()).reboots == 1
    assert reborn.close() == 0


def test_the_harness_exec_transport_reaches_the_runner():
    url = "exec://node %s --test-mode" % RUNNER
    with harness.connect(url, role=Role.CLINICIAN, timeout=10) as session:
        assert session.identity.test_mode
        session.refill(Drug.MORPHINE, concentration_ug_per_ml=20_000, volume_added_ul=20_000)
        assert session.status().reservoir_ul == 20_000


def test_micropython_package_is_the_pinned_one():
    pinned = json.loads((ROOT / "firmware_mock" / "package.json").read_text())["dependencies"]["@micropython/micropython-webassembly-pyscript"]
    installed = json.loads((MICROPYTHON.parent / "package.json").read_text())["version"]
    assert installed == pinned
