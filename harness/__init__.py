"""pumpmock's host side: open a pump by URL, check it is the mock, and talk to it.

    from pumpmock import harness
    from pumpmock.protocol.codes import Role

    with harness.connect("pumpmock://?clock=virtual", role=Role.CLINICIAN) as session:
        print(session.status())

URLs: a device path (/dev/ttyACM0, COM3; checked against the USB allowlist first, as are
spy://PATH, alt://PATH and hwgrep://REGEXP), pumpmock://?... (the emulator in-process),
exec://COMMAND (a child's stdin/stdout, e.g. the MicroPython runner), socket://HOST:PORT,
rfc2217://HOST:PORT, loop://. Every line is opened by open_port (docs/interlock.md). Importing pumpmock
(this package's parent) registers the pumpmock:// and exec:// schemes with pyserial, so
serial.serial_for_url opens them.
"""

import numbers

import serial

from .client import PumpSession
from .errors import (BadAnswerError, HarnessError, ImplausibleAnswerError, LinkError, LinkTimeout,
                     MalformedAnswerError, NotAMockError, PortError, PumpRefusedError, SafetyInterlockError,
                     UsbDeviceNotAllowed)
from . import interlock
from .interlock import (HARDWARE, Allowlist, BadUrlError, InterlockConfigError, NoSuchPortError, PortBusyError,
                        check_port)

DEFAULT_URL = "pumpmock://?clock=virtual"


def normalize_url(url):
    """exec:COMMAND is accepted as shorthand for exec://COMMAND."""
    if url.startswith("exec:") and not url.startswith("exec://"):
        return "exec://" + url[len("exec:"):]
    return url


def is_device_path(url):
    """A hardware port name rather than a URL scheme pyserial handles."""
    return "://" not in url


def vet_url(url, allowlist=None):
    """What `url` would open, checked without opening anything (interlock.Target): for up-front
    validation by entry points. BadUrlError, NoSuchPortError or a SafetyInterlockError otherwise."""
    return interlock.vet(normalize_url(url), allowlist)


def open_port(url, *, baudrate=115200, timeout=0.25, allowlist=None, faults=None, transcript=None,
              handshake=True):
    """Open `url` as a pyserial port: the one way pumpmock opens a line.

    Before anything is opened the URL is sorted by what it reaches and vetted (harness.interlock):
    a bad URL or option raises BadUrlError, a refused one a SafetyInterlockError. Hardware (a
    device path, spy://, alt://, hwgrep://) is opened by its resolved path with an exclusive lock
    (PortBusyError if another program has it) and its descriptor checked to be the device vetted.
    With `handshake` (the default) the peer must then answer HELLO with the mock's identity on this
    very connection (NotAMockError otherwise, and nothing else was sent), so the line returned only
    ever reaches the mock; pass handshake=False only when the caller's own first exchange is HELLO
    (harness.connect) or it means to talk to something that is not the mock (a test of the refusal).

    faults: a harness.faults spec or FaultModel to put the line behind (host side, after the handshake).
    transcript: a path or harness.transcript.TranscriptRecorder to tap every frame into (after it too).
    """
    url = normalize_url(url)
    if not isinstance(baudrate, numbers.Integral) or isinstance(baudrate, bool) or baudrate <= 0:
        raise BadUrlError("baud rate %r: give a positive whole number, e.g. 115200" % (baudrate,))
    if timeout is not None and (not isinstance(timeout, numbers.Real) or not timeout >= 0):
        raise BadUrlError("timeout %r: give seconds, zero or more" % (timeout,))
    model = None
    if faults:
        from .faults import FaultModel
        try:
            model = FaultModel.parse(faults) if isinstance(faults, str) else faults
        except ValueError as error:
            raise BadUrlError(str(error)) from None
    target = interlock.vet(url, allowlist)
    if target.kind == HARDWARE:
        port, target = interlock.open_hardware(target, baudrate, timeout)
    else:
        port = serial.serial_for_url(target.open_url, baudrate=baudrate, timeout=timeout)
    try:
        if handshake:
            _handshake(port)
        if model is not None:
            from .faulty_port import FaultyPort
            port = FaultyPort(port, model)
        if transcript is not None:
            from .transcript import TappedPort, TranscriptRecorder
            if hasattr(transcript, "record"):
                port = TappedPort(port, transcript)
            else:
                port = TappedPort(port, TranscriptRecorder(transcript, meta={"url": url}), owns_recorder=True)
    except BaseException:
        port.close()
        raise
    port.vetted = target  # what the interlock said about it, for reports (pumpmock bench)
    return port


def _handshake(port):
    """HELLO on `port` with a throwaway session; NotAMockError unless the mock answers."""
    clock = getattr(port, "clock", None)
    session = PumpSession(port, clock=clock) if callable(clock) else PumpSession(port)
    return session.hello()


def open_vetted_port(url, *, timeout=None, baudrate=115200, allowlist=None):
    """A raw port to `url` (for resending recorded bytes) whose peer answered the mock's handshake
    on this same connection: open_port with the handshake, kept for its callers' sake."""
    return open_port(url, baudrate=baudrate, timeout=0.25 if timeout is None else timeout, allowlist=allowlist)


def connect(url=DEFAULT_URL, role=None, *, key=None, require_test_mode=False, timeout=None,
            retries=None, host_session_id=None, initial_seq=None, busy_poll_s=None, **port_options):
    """Open `url`, pass the handshake, authenticate as `role` (if given); returns a PumpSession.

    Raises NotAMockError when the peer does not answer HELLO with the mock's identity (nothing
    else is sent to it), UsbDeviceNotAllowed for a hardware port off the allowlist.
    """
    port = open_port(url, handshake=False, **port_options)  # HELLO is this session's first exchange
    options = {"host_session_id": host_session_id, "initial_seq": initial_seq}
    if timeout is not None:
        options["timeout"] = timeout
    if retries is not None:
        options["retries"] = retries
    if busy_poll_s is not None:
        options["busy_poll_s"] = busy_poll_s
    clock = getattr(port, "clock", None)
    if callable(clock):
        options["clock"] = clock  # a virtual line: time out by its clock, not the wall's
    session = PumpSession(port, **options)
    try:
        session.hello()
        if require_test_mode and not session.test.available:
            raise SafetyInterlockError("%s: the pump is not in test mode, and this run needs test control" % url)
        if role is not None:
            session.authenticate(role, key)
    except BaseException:
        session.close()
        raise
    return session


__all__ = ["connect", "open_port", "open_vetted_port", "vet_url", "normalize_url", "PumpSession", "Allowlist",
           "check_port", "BadUrlError", "InterlockConfigError", "NoSuchPortError", "PortBusyError",
           "HarnessError", "LinkError", "LinkTimeout", "PortError", "NotAMockError", "PumpRefusedError",
           "BadAnswerError", "MalformedAnswerError", "ImplausibleAnswerError",
           "SafetyInterlockError", "UsbDeviceNotAllowed", "DEFAULT_URL"]
