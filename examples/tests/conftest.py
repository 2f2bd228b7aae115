"""Fixtures for testing the example programmer app against the mock pump: run it, drive it, read it.

The app under test is a command line: $PUMPMOCK_APP if set (any language, e.g.
"java -jar programmer.jar"), else the example app. Every run gets `--port <pump_port>` first and
a timeout: an app that hangs fails its test instead of hanging CI.

pumpmock's pytest plugin provides pump_port (the pseudo-terminal the app opens), pump (test
control of the same pump) and wire (every frame the app and the pump exchanged, decoded).
"""

import json
import os
import queue
import select
import shlex
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path
from typing import NamedTuple

import pytest

from pumpmock.harness import oracles
from pumpmock.protocol import messages as m
from pumpmock.protocol.framing import REQUEST, RESPONSE, FrameDecoder, encode_frame

EXAMPLE_APP = Path(__file__).resolve().parent.parent / "programmer_app" / "app.py"
APP_COMMAND = shlex.split(os.environ.get("PUMPMOCK_APP", "")) or [sys.executable, str(EXAMPLE_APP)]
# Far above what any command needs (well under a second), far below the test's own timeout.
APP_TIMEOUT_S = 10.0


class AppResult(NamedTuple):
    """How one run of the app ended: unpacks as (code, stdout, stderr)."""

    code: int
    stdout: str
    stderr: str

    def json(self):
        """stdout as one JSON document."""
        return json.loads(self.stdout)

    def json_lines(self):
        """stdout as JSON lines (watch-alarms prints one line per alarm)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def _hung(args, timeout_s, stderr=""):
    pytest.fail("app hung: `%s` did not exit within %.0f s. A silent or slow pump must make it time out "
                "and exit 2, never hang.%s" % (" ".join(args), timeout_s,
                                                  "\nits stderr so far:\n" + stderr if stderr else ""),
                pytrace=False)


def check_run(result, wire, start, problems, args=()):
    """pumpmock's checks on one run of the app: what it printed, on stdout and stderr, is what the
    pump said (alarms, log entries, every amount in mg or mL in any line, which may also be one the
    command line `args` typed), and an exit status 0 had the pump's yes to its last try of every
    state-changing request (pumpmock.harness.oracles.shown and .outcome). Problems are collected
    into `problems` and fail the test at its end (the `app` fixture), after the test's own
    assertions had their say."""
    found = oracles.shown(result.stdout, wire, args) + oracles.shown(result.stderr, wire, args) \
        + oracles.outcome(list(wire)[start:], result.code == 0)
    if found:
        problems.append("\n".join(found) + "\n(app stdout: %s)\n(app stderr: %s)"
                        % (result.stdout.strip()[-800:], result.stderr.strip()[-400:]))
    return result


class RunningApp:
    """An app run in the background, for tests that act while it runs (answer a prompt, raise an
    alarm while it watches). Its stderr is read line by line as it comes."""

    def __init__(self, args, command, wire=None, problems=None):
        self.args = args
        self.wire = wire
        self.problems = problems if problems is not None else []
        self.start = len(wire) if wire is not None else 0
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, encoding="utf-8")
        self._stderr_lines = queue.Queue()
        self._stderr = []
        self._stdout = []
        self._readers = [threading.Thread(target=self._pump, args=(self.process.stderr, self._stderr, True), daemon=True),
                         threading.Thread(target=self._pump, args=(self.process.stdout, self._stdout, False), daemon=True)]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream, into, announce):
        # readline, not iteration: a prompt ends without a newline, so read characters for those
        buffer = ""
        while True:
            char = stream.read(1)
            if not char:
                break
            buffer += char
            into.append(char)
            if announce and (char == "\n" or buffer.endswith("] ")):
                self._stderr_lines.put(buffer)
                buffer = ""
        if announce and buffer:
            self._stderr_lines.put(buffer)

    def wait_for(self, text, timeout_s=APP_TIMEOUT_S):
        """Wait until the app writes a stderr line containing `text` (a prompt, "watching ...")."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._stderr_lines.get(timeout=0.05)
            except queue.Empty:
                if not self._readers[0].is_alive() and self._stderr_lines.empty():  # stderr closed: it exited
                    self.kill()
                    pytest.fail("app exited (code %s) before writing %r; stderr:\n%s" % (
                        self.process.poll(), text, "".join(self._stderr)), pytrace=False)
                if time.monotonic() > deadline:
                    self.kill()
                    pytest.fail("app never wrote %r within %.0f s; stderr:\n%s" % (
                        text, timeout_s, "".join(self._stderr)), pytrace=False)
                continue
            if text in line:
                return line

    def answer(self, line):
        """Type a line on the app's stdin (an answer to its prompt)."""
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def finish(self, timeout_s=APP_TIMEOUT_S):
        """Wait for the app to exit; fail the test if it hangs."""
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
        if self.process.poll() is None:
            self.kill()
            _hung(self.args, timeout_s, "".join(self._stderr))
        for reader in self._readers:
            reader.join(2)
        result = AppResult(self.process.returncode, "".join(self._stdout), "".join(self._stderr))
        return check_run(result, self.wire, self.start, self.problems, self.args) if self.wire is not None \
            else result

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class App:
    """The programmer app under test, bound to the pump's port."""

    def __init__(self, port, wire=None):
        self.port = port
        self.wire = wire  # the pump's wire: each run is checked against it (check_run)
        self.problems = []  # what check_run found, reported when the test ends
        self._running = []

    def command(self, args):
        return APP_COMMAND + ["--port", self.port] + list(args)

    def __call__(self, *args, timeout_s=APP_TIMEOUT_S):
        """Run the app to the end: AppResult(code, stdout, stderr)."""
        start = len(self.wire) if self.wire is not None else 0
        try:
            done = subprocess.run(self.command(args), stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, encoding="utf-8", timeout=timeout_s)
        except subprocess.TimeoutExpired as expired:
            stderr = expired.stderr
            done = None
        if done is None:  # outside the except block: the report shows the hang, not a traceback chain
            _hung(args, timeout_s, stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr or "")
        result = AppResult(done.returncode, done.stdout, done.stderr)
        return check_run(result, self.wire, start, self.problems, args) if self.wire is not None else result

    def start(self, *args):
        """Start the app in the background: a RunningApp."""
        running = RunningApp(args, self.command(args), self.wire, self.problems)
        self._running.append(running)
        return running

    def kill_all(self):
        for running in self._running:
            running.kill()


@pytest.fixture
def app(pump_port, wire):
    """The app under test, run against pump_port: app("interrogate") -> AppResult(code, stdout, stderr)."""
    bound = App(pump_port, wire)
    yield bound
    bound.kill_all()  # a test that failed half-way leaves no app behind
    if bound.problems:
        pytest.fail("pumpmock's checks of the app's runs:\n" + "\n".join(bound.problems), pytrace=False)


# ---- a pump in a known state -------------------------------------------------------------------
MORPHINE_20 = ("--drug", "morphine", "--concentration-mg-per-ml", "20", "--volume-ml", "20")
STANDARD_RX = ("--drug", "morphine", "--dose-mg-per-day", "3", "--max-mg-per-day", "5",
               "--ptm-dose-mg", "0.2", "--ptm-lockout-h", "2", "--ptm-max", "3")


def expect_ok(result, what):
    assert result.code == 0, "app failed to %s (exit %d): %s" % (what, result.code, result.stderr.strip())
    return result


@pytest.fixture
def refilled(app):
    """The reservoir holds 20 mL of morphine at 20 mg/mL, refilled by the app itself."""
    expect_ok(app("refill", *MORPHINE_20), "refill the reservoir")
    return app


@pytest.fixture
def programmed(refilled):
    """Refilled, and programmed by the app: morphine 3 mg/day, max 5 mg/day, PTM 0.2 mg every 2 h, 3 a day."""
    expect_ok(refilled("program", *STANDARD_RX), "program a standard prescription")
    return refilled


# ---- a peer that is not the mock ---------------------------------------------------------------
class Impostor:
    """A device on a pseudo-terminal that answers HELLO like a pump but not like the mock.

    It records every request it receives and answers nothing else: a careful app stops after
    HELLO, because the answer lacks the mock's magic and NOT FOR CLINICAL USE banner."""

    IDENTITY = m.HelloResponse(magic=b"ACME", banner="IMPLANT TELEMETRY", protocol_version=1,
                               firmware_version=0x0302, serial="AC-123456", test_mode=0, capacity_ul=20000)

    def __init__(self):
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self.requests = []  # catalog names, in order
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        decoder = FrameDecoder()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                continue
            for frame in decoder.feed(data):
                if isinstance(frame, Exception) or frame.kind != REQUEST:
                    continue
                cls = m.message_class(REQUEST, frame.msg_id)
                self.requests.append(cls.MESSAGE.name if cls else "0x%02x" % frame.msg_id)
                if cls is m.HelloRequest:
                    os.write(self._master, encode_frame(RESPONSE, frame.msg_id, frame.seq, self.IDENTITY.encode()))

    def close(self):
        self._stop.set()
        self._thread.join(2)
        for fd in (self._master, self._slave):
            os.close(fd)


@pytest.fixture
def app_at():
    """The app under test on another port than pump_port: app_at(path)("interrogate")."""
    bound = []

    def at(path):
        bound.append(App(path))
        return bound[-1]

    yield at
    for each in bound:
        each.kill_all()


@pytest.fixture
def impostor():
    """A look-alike device on a pty (.path): answers HELLO without the mock's identity."""
    device = Impostor()
    yield device
    device.close()
