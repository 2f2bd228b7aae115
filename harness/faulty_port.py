"""A pyserial-like port behind a faulty line: writes travel model.stream("to_pump"), reads arrive by "to_host".

    port = FaultyPort(serial.serial_for_url("loop://", timeout=0.25), "corrupt=1%,drop=1%,seed=3")
    session = PumpSession(port)

It wraps any object with read(size), write(data), a settable `timeout` and `in_waiting` (plus
close, flush, reset_input_buffer ... when the port has them; every other attribute passes
through). Bytes are delivered by the line's clock: `clock` if given, else the wrapped port's own
`clock()` when it has one (pumpmock://?clock=virtual: time moves only while a read waits, and the
faults follow it), else time.monotonic.

Reads keep pyserial's contract: read(size) returns when `size` bytes are there or `timeout` s have
passed (never more than about a millisecond later). Nothing runs in the background: bytes held
back by a delay move on whenever the port is read, written or asked for in_waiting, and a read
that waits wakes up for them. Bytes the wrapped port received enter the to_host line when this
port next looks at it, so a caller that seldom reads adds that lateness to the line's.
"""

import threading
import time

from .faults import FaultModel

# A wait on the wrapped port lasts at least this long, so a virtual clock kept in whole ms always
# moves, and at most this long, so bytes another thread writes meanwhile go out on time.
_MIN_WAIT_S = 0.001
_MAX_WAIT_S = 0.01
# A read gives up early if the clock has stood still over this many waits (a stopped fake clock),
# rather than spin forever.
_STALLED_WAITS = 20


class PortWrapper:
    """Base for port wrappers: unknown attributes are the wrapped port's, read_until goes through read.

    Subclasses keep their state in underscore names; a public attribute they keep for themselves
    is a property of theirs (FaultyPort.timeout). Setting anything else sets it on the wrapped port.
    """

    def __init__(self, port):
        self._port = port

    @property
    def wrapped(self):
        """The wrapped port (not `port`: on a pyserial port that is the device's name)."""
        return self._port

    def clock(self):
        """Seconds on the line's clock; subclasses say which."""
        return time.monotonic()

    def read_until(self, expected=b"\n", size=None):
        """pyserial's read_until, through this wrapper's read (the wrapped port's would bypass it)."""
        expected = bytes(expected)
        line = bytearray()
        timeout = self.timeout
        deadline = None if timeout is None else self.clock() + timeout
        while True:
            byte = self.read(1)
            if not byte:
                break
            line += byte
            if line.endswith(expected) or (size is not None and len(line) >= size):
                break
            if deadline is not None and self.clock() >= deadline:
                break
        return bytes(line)

    def readline(self, size=None):
        return self.read_until(b"\n", size)

    def read_all(self):
        return self.read(self.in_waiting)

    def close(self):
        self._port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getattr__(self, name):  # baudrate, is_open, name, write_timeout ... are the port's
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._port, name)

    def __setattr__(self, name, value):
        if name.startswith("_") or isinstance(getattr(type(self), name, None), property):
            object.__setattr__(self, name, value)
        else:
            setattr(self._port, name, value)


class FaultyPort(PortWrapper):
    """A port with link faults applied in both directions."""

    def __init__(self, port, model, clock=None):
        model = FaultModel.parse(model)
        if clock is None:
            port_clock = getattr(port, "clock", None)
            clock = port_clock if callable(port_clock) else time.monotonic
        super().__init__(port)
        self._model = model
        self._clock = clock
        self._start = clock()
        self._to_pump = model.stream("to_pump")
        self._to_host = model.stream("to_host")
        self._rx = bytearray()  # bytes out of the to_host line, waiting for read()
        self._lock = threading.RLock()
        self._timeout = getattr(port, "timeout", None)

    # ---- what is on the line ---------------------------------------------------------------------
    @property
    def model(self):
        return self._model

    @property
    def to_pump(self):
        """The FaultStream writes travel."""
        return self._to_pump

    @property
    def to_host(self):
        """The FaultStream reads arrive by."""
        return self._to_host

    @property
    def stats(self):
        return {"to_pump": dict(self._to_pump.stats), "to_host": dict(self._to_host.stats)}

    def clock(self):
        """Seconds on the line's clock (what its timeouts are measured by)."""
        return self._clock()

    def _now_us(self):
        return int((self._clock() - self._start) * 1_000_000)

    # ---- pyserial API ----------------------------------------------------------------------------
    @property
    def timeout(self):
        return self._timeout

    @timeout.setter
    def timeout(self, value):
        if value is not None and value < 0:
            raise ValueError("Not a valid timeout: %r" % (value,))
        self._timeout = value

    def write(self, data):
        data = bytes(data)
        with self._lock:
            self._to_pump.feed_us(data, self._now_us())
            self._move(receive=False)  # only readers drain the port, so received bytes keep their order
        return len(data)

    def read(self, size=1):
        clock = self._clock
        timeout = self._timeout
        deadline = None if timeout is None else clock() + timeout
        stalled = 0
        while True:
            with self._lock:
                self._move()
                if len(self._rx) >= size:
                    break
                next_due_us = self._next_due_us()
            now = clock()
            if deadline is not None and now >= deadline:
                break
            wait_s = _MAX_WAIT_S
            if next_due_us is not None:
                wait_s = min(wait_s, (next_due_us - (now - self._start) * 1_000_000) / 1_000_000)
            if deadline is not None:
                wait_s = min(wait_s, deadline - now)
            if self._wait(max(wait_s, _MIN_WAIT_S)) or clock() != now:
                stalled = 0
            else:
                stalled += 1
                if stalled >= _STALLED_WAITS:
                    break
        with self._lock:
            data = bytes(self._rx[:size])
            del self._rx[:size]
        return data

    @property
    def in_waiting(self):
        with self._lock:
            self._move()
            return len(self._rx)

    @property
    def out_waiting(self):
        """Bytes still in the to_pump line, plus what the wrapped port has not sent yet."""
        return self._to_pump.pending + (getattr(self._port, "out_waiting", 0) or 0)

    def flush(self):
        """Wait until everything written has come out of the to_pump line (then flush the port)."""
        stalled = 0
        while True:
            with self._lock:
                self._move()
                due_us = self._to_pump.next_due_us()
            if due_us is None:
                break
            before = self._clock()
            wait_s = (due_us - (before - self._start) * 1_000_000) / 1_000_000
            if self._wait(min(max(wait_s, _MIN_WAIT_S), _MAX_WAIT_S)) or self._clock() != before:
                stalled = 0
            else:
                stalled += 1
                if stalled >= _STALLED_WAITS:
                    break
        flush = getattr(self._port, "flush", None)
        if flush is not None:
            flush()

    def reset_input_buffer(self):
        """Discard what has arrived; bytes still travelling the line arrive later, as on a real one."""
        with self._lock:
            self._rx.clear()
            reset = getattr(self._port, "reset_input_buffer", None)
            if reset is not None:
                reset()

    def __repr__(self):
        return "<FaultyPort %s over %r>" % (self._model, self._port)

    # ---- moving bytes ----------------------------------------------------------------------------
    def _move(self, receive=True):
        """Write what is due on to_pump; take in what the port received; deliver what is due on to_host."""
        now_us = self._now_us()
        port = self._port
        out = self._to_pump.take_us(now_us)
        if out:
            port.write(out)
        if receive:
            waiting = port.in_waiting
            if waiting:  # already there: this read returns at once, whatever the port's timeout
                self._to_host.feed_us(port.read(waiting), now_us)
        delivered = self._to_host.take_us(now_us)
        if delivered:
            self._rx += delivered

    def _next_due_us(self):
        dues = [t for t in (self._to_pump.next_due_us(), self._to_host.next_due_us()) if t is not None]
        return min(dues) if dues else None

    def _wait(self, seconds):
        """Wait up to `seconds` on the port for incoming bytes (so a virtual clock moves); True if any came."""
        port = self._port
        self._set_port_timeout(seconds)
        data = port.read(1)
        if not data:
            return False
        with self._lock:
            self._to_host.feed_us(data, self._now_us())
        return True

    def _set_port_timeout(self, seconds):
        # Setting a real port's timeout reconfigures it (a tcsetattr): only when it changes. Asked
        # each time, not cached: whoever else holds the port may have set it too.
        if self._port.timeout != seconds:
            self._port.timeout = seconds
