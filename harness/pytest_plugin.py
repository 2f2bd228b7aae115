"""pytest plugin: test your programmer software against the pumpmock pump (emulator or board).

Installed with pumpmock (entry point `pytest11`), nothing to import. Options, each also an ini
key of the same name with dashes as underscores:

  --pump-url URL          target: a device path, exec:..., socket://..., pumpmock://... (default:
                          the in-process emulator in test mode)
  --pump-baud N           line rate for hardware ports (default 115200)
  --pump-faults SPEC      put the line behind link faults (harness.faults syntax)
  --pump-transcripts DIR  write every test's frames to DIR/<test>.jsonl
  --pump-oracles NAMES    oracles for every test: dose_limits, alarms, exactly_once
  --pump-allow-usb IDS    add your own board's USB VID:PID to the interlock's allowlist (comma-separated)
  --pump-allow-port PATHS allow ports with no USB identity by path (comma-separated)

Every option is checked once, when pytest starts: a bad one is a usage error (pytest exits with
status 4 and one line), not a failure of every test. So is a --pump-url the interlock refuses.

Fixtures: pump_port, pump, programmer, wire, pump_target (see `pytest --fixtures`).
Markers: needs_test_control, bench, pump_oracles(*names).

State lives in pytest's stashes: the run's PumpTarget in config.stash[TARGET], each test's
PumpEnvironment in item.stash[ENVIRONMENT].
"""

import contextlib
import io
import os
import re
import time

import pytest

from pumpmock.protocol.catalog import MESSAGES_BY_NAME
from pumpmock.protocol.codes import Error, Role
from pumpmock.protocol.messages import Nak

from . import connect, is_device_path, normalize_url, open_port, vet_url
from .client import PumpSession
from .errors import HarnessError
from .interlock import Allowlist, PortBusyError
from .mux import PortMux
from .oracles import ORACLES
from .oracles import check as check_oracles
from .testcontrol import TestControl
from .transcript import TranscriptRecorder
from .wire import Wire

EMULATOR_FAST = "pumpmock://?clock=virtual"  # for the reference client: waiting costs no wall time
EMULATOR_REAL = "pumpmock://?clock=real"  # for an external app, which times out by the wall clock
DEFAULT_TIMEOUT_S = 60
TAIL_FRAMES = 30

OPTIONS = (
    ("pump_url", None, "pumpmock target URL (default: the in-process emulator in test mode)"),
    ("pump_baud", "115200", "line rate for hardware serial ports"),
    ("pump_faults", None, "link fault spec applied between the harness and the pump"),
    ("pump_transcripts", None, "directory to write each test's frames to, as JSON lines"),
    ("pump_oracles", None, "oracles checked after every test: dose_limits alarms exactly_once"),
    ("pump_allow_usb", None, "USB VID:PID of your own boards to add to the interlock's allowlist (comma-separated)"),
    ("pump_allow_port", None, "ports with no USB identity to allow by path (comma-separated)"),
)


def pytest_addoption(parser):
    group = parser.getgroup("pumpmock", "pumpmock drug-pump emulator and bench")
    for name, default, help_text in OPTIONS:
        flag = "--" + name.replace("_", "-")
        group.addoption(flag, dest=name, default=None, help=help_text)
        parser.addini(name, help_text, default=default)


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_test_control: skip unless the target pump runs in test mode")
    config.addinivalue_line("markers", "bench: only for a real board on the bench (--pump-url /dev/tty...)")
    config.addinivalue_line("markers", "pump_oracles(*names): check these oracles on the wire after the test")
    config.stash[TARGET] = PumpTarget.from_config(config)


def _option(config, name):
    value = config.getoption(name)
    if value is None:
        value = config.getini(name)
    return value or None


def _names(text):
    return [name for name in re.split(r"[\s,]+", text.strip()) if name] if text else []


class PumpTarget:
    """What the run talks to, from the options: URL, line rate, faults, transcripts, oracles."""

    def __init__(self, url=None, baud=115200, faults=None, transcripts=None, oracles=(), allowlist=None):
        self.url = url
        self.baud = baud
        self.faults = faults
        self.transcripts = transcripts
        self.oracles = tuple(oracles)
        self.allowlist = allowlist
        self._test_mode = None  # learnt from the first HELLO any test's line passed

    @classmethod
    def from_config(cls, config):
        """The target for the run's options, each checked here once: pytest.UsageError for a bad one."""
        url, baud = _option(config, "pump_url"), _option(config, "pump_baud") or "115200"
        faults, oracles = _option(config, "pump_faults"), _names(_option(config, "pump_oracles"))
        allow_usb, allow_port = _names(_option(config, "pump_allow_usb")), _names(_option(config, "pump_allow_port"))
        if not str(baud).isdigit() or int(baud) == 0:
            raise pytest.UsageError("--pump-baud %r: give a baud rate, a whole number such as 115200" % baud)
        unknown = [name for name in oracles if name not in ORACLES]
        if unknown:
            raise pytest.UsageError("--pump-oracles: no oracle named %s (oracles: %s)"
                                    % (", ".join(unknown), ", ".join(ORACLES)))
        try:
            if faults:
                from .faults import FaultModel
                FaultModel.parse(faults)
        except ValueError as error:
            raise pytest.UsageError("--pump-faults: %s" % error) from None
        allowlist = None
        if url or allow_usb or allow_port:  # the machine's allowlist matters only off the emulator
            try:
                allowlist = Allowlist.load(usb=allow_usb, ports=allow_port)
                if url:
                    url = normalize_url(url)
                    vet_url(url, allowlist)
            except (HarnessError, ValueError) as error:
                raise pytest.UsageError("--pump-url %s: %s" % (url, error)) from None
        return cls(url=url, baud=int(baud), faults=faults, transcripts=_option(config, "pump_transcripts"),
                   oracles=oracles, allowlist=allowlist)

    @property
    def is_emulator(self):
        return self.url is None

    @property
    def is_board(self):
        return self.url is not None and is_device_path(self.url)

    def test_mode(self):
        """Whether the target has test control: what the run's first handshake said. Only a run
        that asks before any test opened a line to the pump opens one to ask (once)."""
        if self._test_mode is None:
            if self.is_emulator:
                self._test_mode = True
            else:
                with connect(self.url, baudrate=self.baud, allowlist=self.allowlist) as session:
                    self.identified(session.identity)
        return self._test_mode

    def identified(self, identity):
        """A line to the target passed HELLO with `identity` (a HelloResponse)."""
        self._test_mode = bool(identity.test_mode)

    def open(self, emulator_url, handshake=True):
        """The line to the pump, behind the run's faults; with `handshake`, its peer answered the
        mock's HELLO on it first (an app's bytes are relayed only to such a line)."""
        return open_port(self.url or emulator_url, baudrate=self.baud, faults=self.faults, allowlist=self.allowlist,
                         handshake=handshake)


TARGET = pytest.StashKey[PumpTarget]()  # config.stash: the run's target


class PumpControl(TestControl):
    """Test control of the pump under test, plus line tricks when an app sits on pump_port."""

    __test__ = False

    def __init__(self, session, mux=None):
        super().__init__(session)
        self._mux = mux

    def silence(self, on=True):
        """Drop everything the pump sends to the app (a dead line, to test the app's timeouts)."""
        self._need_mux().silenced = on

    def drop_next_responses(self, count=1, name=None):
        """Lose the pump's next `count` answers to the app (to test its retransmission); with
        `name` (e.g. "PTM_BOLUS"), only answers to requests of that message."""
        self._need_mux().drop_rules.append([name, count])

    def refuse_next(self, name, error, count=1, subject=0, limit_value=0, actual_value=0):
        """Answer the app's next `count` requests `name` (e.g. "PROGRAM_PRESCRIPTION") with a NAK
        of `error` (an Error or its name) instead of passing them to the pump: does the app show
        the refusal and stay consistent when the pump says no?"""
        code = Error[error] if isinstance(error, str) else Error(error)
        self._need_mux().refuse_rules.append([_message_name(name), Nak(0, code, subject, limit_value, actual_value),
                                              count])

    def corrupt_next(self, name, count=1):
        """Change a byte of the pump's next `count` answers to `name`: the app must see a frame
        that fails its check, and retransmit (same seq) rather than act on it."""
        self._need_mux().corrupt_rules.append([_message_name(name), count])

    def before_next(self, name, action, count=1):
        """Call action() (e.g. lambda: pump.set_reservoir(100)) just before the app's next request
        `name` reaches the pump: state that changes between two of the app's requests."""
        self._need_mux().before_rules.append([_message_name(name), action, count])

    @property
    def session(self):
        """The control line's PumpSession: the same pump, and with an app on pump_port the app's
        own session (one line): to act on the pump as another programmer would, behind the app."""
        return self._session

    def lose_next_acks(self, count=1, name=None):
        """Lose the app's next `count` ACKs of events (of event `name`, e.g. "ALARM_RAISED") on
        their way to the pump: the pump re-sends the event, and the app must ACK the copy too."""
        self._need_mux().lose_ack_rules.append([None if name is None else _message_name(name), count])

    def hold_next_response(self, name, count=1):
        """Keep the pump's next `count` answers to `name` from the app until it sends `name` again
        under another seq, then deliver each just before that request's own answer: an answer so
        late that it arrives while the app waits for another (its retransmission is answered)."""
        self._need_mux().hold_rules.append([_message_name(name), count])

    def _need_mux(self):
        if self._mux is None:
            raise RuntimeError("silence(), drop_next_responses(), refuse_next(), corrupt_next(), before_next(), "
                               "lose_next_acks() and hold_next_response() need an app on the pump_port fixture")
        return self._mux


def _message_name(name):
    if name not in MESSAGES_BY_NAME:
        raise ValueError("no message named %r in the catalog (e.g. PROGRAM_PRESCRIPTION, GET_STATUS)" % (name,))
    return name


class PumpEnvironment:
    """Everything one test holds: the pump link, the wire it records, and how to tear down."""

    def __init__(self, target, node_id):
        self.target = target
        self.node_id = node_id
        self.wire = Wire()
        self.mux = None
        self.session = None
        self.control = None
        self._closers = []
        self.recorder = None

    def _recorder(self, clock):
        """Streams the test's frames to its transcript file (or memory) and into `wire`."""
        if self.target.transcripts:
            os.makedirs(self.target.transcripts, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.node_id).strip("_") + ".jsonl"
            out = os.path.join(self.target.transcripts, name)
        else:
            out = io.StringIO()
        self.recorder = TranscriptRecorder(out, meta={"test": self.node_id, "url": self.target.url},
                                           clock=clock, on_entry=self.wire.add)
        self._closers.append(self.recorder.close)
        return self.recorder

    def open_pty(self):
        """Start the mux with an app-side pty; test control goes through its control channel."""
        if self.mux is None:
            if self.session is not None:
                raise RuntimeError("use either pump_port (an external app) or programmer, not both")
            upstream = self.target.open(EMULATOR_REAL)
            self._closers.append(upstream.close)
            recorder = self._recorder(time.monotonic)
            self.mux = PortMux(upstream, on_frame=recorder.record)
            self.mux.start()
            self._closers.insert(0, self.mux.close)
            control = PumpSession(self.mux.control)
            control.hello()
            self._prepare(control)
            self.control = PumpControl(control, self.mux)
        return self.mux.path

    def open_session(self):
        """The reference client, connected, reset and authenticated as clinician."""
        if self.session is None:
            if self.mux is not None:
                raise RuntimeError("use either pump_port (an external app) or programmer, not both")
            # The recorder must exist before the line, to record its HELLO; until connect() has
            # made the tap, no time has passed on it, and after, the tap's clock is the time base.
            tap = []
            recorder = self._recorder(lambda: tap[0].elapsed() if tap else 0.0)
            target = self.target
            session = connect(target.url or EMULATOR_FAST, baudrate=target.baud, faults=target.faults,
                              allowlist=target.allowlist, transcript=recorder)
            tap.append(session.port)
            self._closers.insert(0, session.close)
            self._prepare(session)
            session.authenticate(Role.CLINICIAN)
            self.session = session
            self.control = PumpControl(session)
        return self.session

    def _prepare(self, session):
        """After HELLO: what it said about test control, then factory state when that allows."""
        self.target.identified(session.identity)
        if session.identity.test_mode:
            session.test.reset(seed=0)

    def settle(self, quiet_s=0.05, limit_s=0.5):
        """Wait until the app's line has been quiet a moment, so the wire is complete."""
        if self.mux is None:
            return
        deadline = time.monotonic() + limit_s
        seen = -1
        while time.monotonic() < deadline and seen != len(self.wire):
            seen = len(self.wire)
            time.sleep(quiet_s)

    def close(self):
        for close in self._closers:
            try:
                close()
            except Exception:  # teardown must not mask the test's own outcome
                pass


ENVIRONMENT = pytest.StashKey[PumpEnvironment]()  # item.stash: the test's pump link, wire and teardown


# ---- fixtures --------------------------------------------------------------------------------
@contextlib.contextmanager
def _line_taken():
    """Another client holds the target (`pumpmock serve` told us "port busy", or a board's port is
    open elsewhere): the test cannot run, and a 60-line traceback would bury the one line that
    says so. Each test that needs the line says it in one line instead."""
    try:
        yield
    except PortBusyError as error:
        pytest.fail("pumpmock: %s" % error, pytrace=False)


@pytest.fixture(scope="session")
def pump_target(request):
    """The run's target: .url (None = in-process emulator), .baud, .faults, .is_board, .test_mode()."""
    return request.config.stash[TARGET]


@pytest.fixture
def _pumpmock_env(request, pump_target):
    env = PumpEnvironment(pump_target, request.node.nodeid)
    request.node.stash[ENVIRONMENT] = env
    yield env
    env.settle()
    env.close()


@pytest.fixture
def pump_port(_pumpmock_env):
    """Path of a pseudo-terminal for the programmer app under test to open (115200 8N1).

    Behind it: the in-process emulator (reset to factory state, test mode, real clock) or the
    --pump-url target. The `pump` fixture controls the same pump; `wire` shows the app's frames.
    """
    with _line_taken():
        return _pumpmock_env.open_pty()


@pytest.fixture
def programmer(_pumpmock_env):
    """The harness's reference programmer (harness.PumpSession), reset and logged in as clinician."""
    with _line_taken():
        return _pumpmock_env.open_session()


@pytest.fixture
def pump(request, _pumpmock_env, pump_target):
    """Test control of the pump under test: faults, reservoir, battery, clock, power, counters.

    Skips the test when the target is not in test mode. With pump_port, it controls the pump
    the app talks to (and can silence or drop the app's line); otherwise the programmer's.
    """
    # The line first: its HELLO says whether the pump has test control, no other connection asks.
    if "pump_port" in request.fixturenames:
        request.getfixturevalue("pump_port")
    else:
        with _line_taken():
            _pumpmock_env.open_session()
    if not pump_target.test_mode():
        pytest.skip("needs test control: %s is not in test mode" % pump_target.url)
    return _pumpmock_env.control


@pytest.fixture
def wire(_pumpmock_env):
    """Every frame between the programmer (app or reference client) and the pump, decoded."""
    return _pumpmock_env.wire


# ---- markers, oracles, reports ---------------------------------------------------------------
_PUMP_FIXTURES = {"pump_port", "pump", "programmer", "wire"}


def pytest_collection_modifyitems(config, items):
    """A silent device must fail a test, not hang it: default timeout for pump tests."""
    configured = _timeout_configured(config)
    for item in items:
        if item.get_closest_marker("pump_oracles"):
            _oracles_for(item)  # a misspelt oracle name stops the run here, once, not in every test
        if _PUMP_FIXTURES & set(getattr(item, "fixturenames", ())) and not configured \
                and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT_S))


def _timeout_configured(config):
    if not config.pluginmanager.hasplugin("timeout"):
        return True  # no pytest-timeout: nothing to set
    return bool(config.getoption("timeout", None) or config.getini("timeout"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    target = item.config.stash[TARGET]
    if item.get_closest_marker("bench") and not target.is_board:
        pytest.skip("bench test: needs a board (--pump-url /dev/ttyACM0)")
    result = yield
    # After the fixtures: a line they opened already told whether the pump has test control.
    if item.get_closest_marker("needs_test_control") and not target.test_mode():
        pytest.skip("needs test control: %s is not in test mode" % target.url)
    return result


def _oracles_for(item):
    names = list(item.config.stash[TARGET].oracles)
    for marker in item.iter_markers("pump_oracles"):
        unknown = [n for n in marker.args if n not in ORACLES]
        if unknown:
            raise pytest.UsageError("%s: pump_oracles(%s): no oracle named %s (oracles: %s)" % (
                item.nodeid, ", ".join(map(repr, marker.args)), ", ".join(map(str, unknown)), ", ".join(ORACLES)))
        names += [n for n in marker.args if n not in names]
    return names


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """The oracles judge every test's wire, passed or failed: when the test's own assertion
    failed, their verdict is added to its failure, so the clearer of the two always shows."""
    failure = None
    try:
        result = yield
    except (pytest.skip.Exception, pytest.xfail.Exception, KeyboardInterrupt):
        raise
    except BaseException as error:
        failure, result = error, None
    env = item.stash.get(ENVIRONMENT, None)
    names = _oracles_for(item)
    if env is not None and names:
        env.settle()
        violations = check_oracles(env.wire, names)
        verdict = ("pumpmock oracles found %d violation(s):\n  %s" % (len(violations), "\n  ".join(violations))
                   if violations else "pumpmock oracles (%s): no violation" % ", ".join(names))
        if failure is not None:
            failure.add_note("\n" + verdict)
        elif violations:
            raise AssertionError(verdict)
    if failure is not None:
        raise failure
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    env = item.stash.get(ENVIRONMENT, None)
    if report.failed and env is not None and len(env.wire):
        report.sections.append(("pumpmock wire (last %d frames)" % TAIL_FRAMES, "\n".join(env.wire.tail(TAIL_FRAMES))))
    return report


def pytest_report_header(config):
    target = config.stash[TARGET]
    where = target.url or "in-process emulator (test mode)"
    extra = ", faults %s" % target.faults if target.faults else ""
    extra += ", oracles %s" % " ".join(target.oracles) if target.oracles else ""
    return "pumpmock: %s%s" % (where, extra)
