"""pyserial URL handler for pumpmock://: the pump emulator in-process, as a serial port.

    serial.serial_for_url("pumpmock://?test_mode=1&seed=7&clock=virtual", timeout=0.25)

Options (unknown ones are refused):
  test_mode=1|0     test control enabled (default 1: this is the emulator)
  seed=N            seeds the pump's nonces, for a test run that must repeat exactly (default:
                    random nonces, never the same in two runs)
  serial=TEXT       mock serial number (default PM-000001)
  clock=real|virtual  real: the line runs on the wall clock. virtual: time only moves while a
                    read waits, and jumps straight to the next thing due, so a test that waits
                    out a 500 ms event retransmission costs no wall time (default real)
  baud=N            pace the line at N baud, 8N1 (default: no pacing)
  faults=SPEC       link faults, harness.faults spec syntax, URL-encoded because the spec has
                    , = and %: urllib.parse.quote("corrupt=1%,drop=1%,seed=3")
  hostile=SPEC      a hostile pump (harness.hostile): some answers malformed, truncated, out of
                    range, out of order, or drowned in alarm floods; URL-encoded like faults=;
                    hostile=1 is the default profile, link_noise (harness.hostile). The pump itself is not changed: only this
                    port's view of it (a name= link for test control stays honest)
  name=TEXT         share one emulated pump between ports opened with the same name in this
                    process (a second link for test control while an app holds the first);
                    pumpmock://TEXT is the same
A path or a fragment is refused: pumpmock:///dev/ttyUSB0 would test the emulator while its
writer meant the board on that device.

Registered by `import harness` (it appends harness.urlhandler to
serial.protocol_handler_packages).
"""

import threading
import time
import urllib.parse

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from pumpmock.firmware_mock.core import Pump

from ..inprocess import InProcessLink

_SHARED_PUMPS = {}  # name -> Pump, for name= links
_USAGE = "pumpmock://[?test_mode=1|0&seed=N&serial=S&clock=real|virtual&baud=N&faults=SPEC&hostile=SPEC&name=S]"
MAX_SEED = 0xFFFFFFFF  # the pump keeps its nonce seed in 32 bits
MAX_BAUD = 10_000_000
SERIAL_MAX_CHARS = 16  # HELLO's serial field (protocol catalog: text, 16)


def parse_url(url):
    """The options of a pumpmock:// URL as a dict, every value checked; ValueError naming the bad one.

    Fault and hostile specs are parsed here too, so a bad one is refused before anything opens.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "pumpmock":
        raise ValueError("expected %s, got %r" % (_USAGE, url))
    options = {"test_mode": True, "seed": None, "serial": "PM-000001", "clock": "real", "baud": None,
               "faults": "", "hostile": "", "name": parts.netloc or ""}
    try:
        if parts.path not in ("", "/"):
            raise ValueError("no path is taken (%r): pumpmock:// is the in-process emulator, never a device;"
                             " a board is opened by its device path" % parts.path)
        if parts.fragment:
            raise ValueError("no #fragment is taken (%r)" % parts.fragment)
        for key, values in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items():
            value = values[-1]
            if len(values) > 1:
                raise ValueError("%s is given %d times" % (key, len(values)))
            if key == "test_mode":
                if value not in ("0", "1"):
                    raise ValueError("test_mode must be 0 or 1, not %r" % value)
                options[key] = value == "1"
            elif key == "seed":
                options[key] = _whole(key, value, 0, MAX_SEED)
            elif key == "baud":
                options[key] = _whole(key, value, 1, MAX_BAUD)
            elif key == "clock":
                if value not in ("real", "virtual"):
                    raise ValueError("clock must be real or virtual, not %r" % value)
                options[key] = value
            elif key == "serial":
                if not 0 < len(value) <= SERIAL_MAX_CHARS or not value.isascii() or not value.isprintable():
                    raise ValueError("serial must be 1 to %d printable ASCII characters, not %r"
                                     % (SERIAL_MAX_CHARS, value))
                options[key] = value
            elif key == "faults":
                from ..faults import FaultModel
                FaultModel.parse(value)
                options[key] = value
            elif key == "hostile":
                if value and value != "0":
                    from ..hostile import HostileSpec
                    HostileSpec.parse(value)
                options[key] = value
            elif key == "name":
                options[key] = value
            else:
                raise ValueError("unknown option %r" % key)
    except ValueError as error:
        raise ValueError("%s: %s (usage: %s)" % (url, error, _USAGE)) from None
    return options


def _whole(key, text, low, high):
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError("%s must be a whole number from %d to %d, not %r" % (key, low, high, text))
    return int(text)


class Serial(SerialBase):
    """An in-process emulated pump behind a pyserial port."""

    BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)

    def __init__(self, *args, **kwargs):
        self.link = None
        self.options = {}
        self._virtual = False
        self._virtual_ms = 0
        self._start = time.monotonic()
        # `with self._lock` (C) for mutual exclusion; the Condition on the same lock only to wait
        self._lock = threading.RLock()
        self._ready = threading.Condition(self._lock)
        self._readers_waiting = 0  # readers blocked in _ready.wait: only they need a notify
        super().__init__(*args, **kwargs)

    # ---- pyserial plumbing ---------------------------------------------------------------------
    def open(self):
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        options = self.from_url(self._port)
        pump = _SHARED_PUMPS.get(options["name"]) if options["name"] else None
        if pump is None:
            pump = Pump(serial=options["serial"], test_mode=options["test_mode"], seed=options["seed"])
            if options["name"]:
                _SHARED_PUMPS[options["name"]] = pump
        faults = None
        if options["faults"]:
            from ..faults import FaultModel
            faults = FaultModel.parse(options["faults"])
        if options["hostile"] and options["hostile"] != "0":
            from ..hostile import HostilePump
            pump = HostilePump(pump, options["hostile"])  # ValueError names the bad key
        self.options = options
        self._virtual = options["clock"] == "virtual"
        self.link = InProcessLink(pump, faults=faults, baud=options["baud"])
        self.is_open = True

    def close(self):
        self.is_open = False
        with self._lock:
            self._ready.notify_all()
        super().close()

    def from_url(self, url):
        """Parse and check the URL's options; returns them as a dict."""
        try:
            return parse_url(url)
        except ValueError as error:
            raise SerialException(str(error)) from None

    def _reconfigure_port(self):
        """Nothing to configure: line settings only matter through the baud= option."""

    # ---- the clock -----------------------------------------------------------------------------
    def clock(self):
        """Seconds on the line's clock (virtual or real): the client times out by this."""
        return self._virtual_ms / 1000 if self._virtual else time.monotonic() - self._start

    def _now_ms(self):
        if self._virtual:
            return self._virtual_ms
        return int((time.monotonic() - self._start) * 1000)

    # ---- data ----------------------------------------------------------------------------------
    @property
    def in_waiting(self):
        if not self.is_open:
            raise PortNotOpenError()
        with self._lock:
            self.link.advance(self._now_ms())
            return self.link.waiting

    def write(self, data):
        if not self.is_open:
            raise PortNotOpenError()
        data = bytes(data)
        with self._lock:
            self.link.write(data, self._now_ms())
            if self._readers_waiting:
                self._ready.notify_all()
        return len(data)

    def read(self, size=1):
        return self._read(size, self._timeout)

    def read_available(self, timeout):
        """Everything that has reached the host; if nothing has, wait up to `timeout` s for it.

        The reference client's fast path: one call where read(in_waiting or 1) plus
        read(in_waiting) takes three, each running the line forward under the lock.
        """
        return self._read(1, timeout, everything=True)

    def _read(self, size, timeout, everything=False):
        """At least `size` bytes (all that arrived, if `everything`), or fewer when `timeout` s pass."""
        if not self.is_open:
            raise PortNotOpenError()
        with self._lock:
            start_ms = self._now_ms()
            link = self.link
            if everything:  # the common case first: the answer is already there
                link.advance(start_ms)
                if link.waiting:
                    return link.take(link.waiting)
            # Rounded up, and any positive timeout is at least 1 ms: on a virtual clock a sub-ms
            # timeout that never advanced the clock would stall a caller's deadline loop forever.
            timeout_ms = None if timeout is None else (
                max(1, -(-round(timeout * 1_000_000) // 1000)) if timeout > 0 else 0)
            data = bytearray()
            while self.is_open:
                self.link.advance(self._now_ms())
                data += self.link.take(self.link.waiting if everything else size - len(data))
                if len(data) >= size:
                    break
                now_ms = self._now_ms()
                waited_ms = now_ms - start_ms
                if timeout_ms is not None and waited_ms >= timeout_ms:
                    break
                due = self.link.next_due_ms()
                limit = None if timeout_ms is None else start_ms + timeout_ms
                wake = min(t for t in (due, limit) if t is not None) if (due, limit) != (None, None) else None
                if self._virtual:
                    if wake is None:
                        break  # nothing will ever arrive and no timeout to wait out
                    self._virtual_ms = max(wake, now_ms + 1)  # always move, never spin
                else:
                    self._readers_waiting += 1
                    try:
                        self._ready.wait(None if wake is None else max(wake - now_ms, 1) / 1000)
                    finally:
                        self._readers_waiting -= 1
            return bytes(data)

    def reset_input_buffer(self):
        if not self.is_open:
            raise PortNotOpenError()
        with self._lock:
            self.link.clear()

    def reset_output_buffer(self):
        """Writes reach the pump at once: there is never output waiting."""
        if not self.is_open:
            raise PortNotOpenError()

    @property
    def out_waiting(self):
        return 0

    def _update_dtr_state(self):
        pass

    def _update_rts_state(self):
        pass

    def _update_break_state(self):
        pass
