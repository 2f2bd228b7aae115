"""pumpmock's host side: open a pump by URL, check it is the mock, and talk to it.

    from pumpmock import harness
    from pumpmock.protocol.codes import Role

    with harness.connect("pumpmock://?clock=virtual", role=Role.CLINICIAN) as session:
        print(session.status())

URLs: a device path (/dev/ttyACM0, COM3; checked against the USB allowlist first),
pumpmock://?... (the emulator in-process), exec://COMMAND (a child's stdin/stdout, e.g. the
MicroPython runner), socket://HOST:PORT, rfc2217://HOST:PORT, loop://. Importing pumpmock
(this package's parent) registers the pumpmock:// and exec:// schemes with pyserial, so
serial.serial_for_url opens them.
"""

import serial

from .client import PumpSession
from .errors import (BadAnswerError, HarnessError, ImplausibleAnswerError, LinkError, LinkTimeout,
                     MalformedAnswerError, NotAMockError, PortError, PumpRefusedError, SafetyInterlockError,
                     UsbDeviceNotAllowed)
from .interlock import Allowlist, check_port

DEFAULT_URL = "pumpmock://?clock=virtual"


def normalize_url(url):
    """exec:COMMAND is accepted as shorthand for exec://COMMAND."""
    if url.startswith("exec:") and not url.startswith("exec://"):
        return "exec://" + url[len("exec:"):]
    return url


def is_device_path(url):
    """A hardware port name rather than a URL scheme pyserial handles."""
    return "://" not in url


def open_port(url, *, baudrate=115200, timeout=0.25, allowlist=None, faults=None, transcript=None):
    """Open `url` as a pyserial port, after the interlock for hardware ports.

    faults: a harness.faults spec or FaultModel to put the line behind (host side).
    transcript: a path or harness.transcript.TranscriptRecorder to tap every frame into.
    """
    url = normalize_url(url)
    if is_device_path(url):
        check_port(url, allowlist)
    port = serial.serial_for_url(url, baudrate=baudrate, timeout=timeout)
    if faults:
        from .faults import FaultModel
        from .faulty_port import FaultyPort
        model = FaultModel.parse(faults) if isinstance(faults, str) else faults
        port = FaultyPort(port, model)
    if transcript is not None:
        from .transcript import TappedPort, TranscriptRecorder
        if hasattr(transcript, "record"):
            port = TappedPort(port, transcript)
        else:
            port = TappedPort(port, TranscriptRecorder(transcript, meta={"url": url}), owns_recorder=True)
    return port


def open_vetted_port(url, *, timeout=None, baudrate=115200):
    """A raw port to `url` (for resending recorded bytes), opened only after a session on it passed
    the interlock and the mock's handshake: nothing recorded is ever sent to anything else."""
    with connect(url, timeout=timeout, baudrate=baudrate):
        pass
    return open_port(url, baudrate=baudrate, timeout=timeout or 0.25)


def connect(url=DEFAULT_URL, role=None, *, key=None, require_test_mode=False, timeout=None,
            retries=None, host_session_id=None, initial_seq=None, busy_poll_s=None, **port_options):
    """Open `url`, pass the handshake, authenticate as `role` (if given); returns a PumpSession.

    Raises NotAMockError when the peer does not answer HELLO with the mock's identity (nothing
    else is sent to it), UsbDeviceNotAllowed for a hardware port off the allowlist.
    """
    port = open_port(url, **port_options)
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


__all__ = ["connect", "open_port", "open_vetted_port", "normalize_url", "PumpSession", "Allowlist", "check_port",
           "HarnessError", "LinkError", "LinkTimeout", "PortError", "NotAMockError", "PumpRefusedError",
           "BadAnswerError", "MalformedAnswerError", "ImplausibleAnswerError",
           "SafetyInterlockError", "UsbDeviceNotAllowed", "DEFAULT_URL"]
