"""The board shell's loop, apart from the hardware: a byte port, a tick counter and the pump.

board/main.py builds the real parts (the USB console or a UART, select.poll, time.ticks_ms)
and hands them to BoardLoop; tests hand it fakes, including a tick counter that wraps. Nothing
here imports a hardware module, so it runs on CPython and on MicroPython alike.

The loop never blocks the pump's clock: it waits for input at most until the pump's next
deadline (and at most max_wait_ms), so alarms and event re-sends leave on time with no host
traffic. A port that can tell whether a host holds the line open has connected() (True/False);
the loop then tells the pump when that changes (Pump.connection_made / connection_lost), so a
session ends with its connection. The built-in USB console and a UART cannot tell (see
docs/PUMP_MODEL.md, sessions). Time is the sum of tick differences: time.ticks_ms() wraps (at 2**30 ms, about 12
days, on most ports), ticks_diff() does not mind as long as two readings are less than half a
period apart, and the loop reads the clock at least every max_wait_ms.
"""

from . import heap

MAX_WAIT_MS = 1000
READ_CHUNK = 256  # a frame is at most MAX_ENCODED + 1 = 249 bytes


class StreamPort:
    """A byte stream with a poll object registered for its input (the USB console: sys.stdin.buffer).

    MicroPython's stdin read(n) blocks until n bytes came, so bytes are read one at a time while
    the poller says more are waiting.
    """

    def __init__(self, stream_in, stream_out, poller):
        self.stream_in = stream_in
        self.stream_out = stream_out
        self.poller = poller

    def ready(self, timeout_ms):
        return bool(self.poller.poll(timeout_ms))

    def read_available(self, limit):
        data = bytearray()
        while len(data) < limit and self.poller.poll(0):
            byte = self.stream_in.read(1)
            if not byte:
                break
            data += byte
        return bytes(data)

    def write(self, data):
        write_all(self.stream_out, data)


class UartPort:
    """A machine.UART (behind a USB-serial bridge, where the baud rate is real), same calls as StreamPort."""

    def __init__(self, uart, poller):
        self.uart = uart
        self.poller = poller

    def ready(self, timeout_ms):
        return bool(self.uart.any()) or bool(self.poller.poll(timeout_ms))

    def read_available(self, limit):
        count = self.uart.any()
        if not count:
            return b""
        return self.uart.read(count if count < limit else limit) or b""

    def write(self, data):
        write_all(self.uart, data)


def write_all(stream, data):
    """Write every byte: a stream may take only part of a buffer per call."""
    view = memoryview(data)
    while len(view):
        written = stream.write(view)
        if written is None:  # a stream that does not count took it all
            return
        view = view[written:]


class VirtualClock:
    """Milliseconds since the loop started, from a wrapping tick counter."""

    def __init__(self, ticks_ms, ticks_diff):
        self.ticks_ms = ticks_ms
        self.ticks_diff = ticks_diff
        self.last_ticks = ticks_ms()
        self.elapsed_ms = 0

    def now_ms(self):
        ticks = self.ticks_ms()
        step = self.ticks_diff(ticks, self.last_ticks)
        self.last_ticks = ticks
        if step > 0:  # negative only after more than half a period unread: the pump's time stands still
            self.elapsed_ms += step
        return self.elapsed_ms


class BoardLoop:
    """One pump on one port: call step() forever (run()), or a few times from a test."""

    def __init__(self, pump, port, ticks_ms, ticks_diff, max_wait_ms=MAX_WAIT_MS, read_chunk=READ_CHUNK):
        self.pump = pump
        self.port = port
        self.clock = VirtualClock(ticks_ms, ticks_diff)
        self.max_wait_ms = max_wait_ms
        self.read_chunk = read_chunk
        self.bytes_in = 0
        self.bytes_out = 0
        self._connected = None  # unknown until the port says (only ports with connected() do)
        self._send(pump.poll(self.clock.now_ms()))  # start the pump's clock now, not at the first byte

    def wait_ms(self):
        """How long the next step may wait for input: until the pump's next deadline, capped."""
        deadline = self.pump.next_deadline_ms()
        if deadline is None:
            return self.max_wait_ms
        wait = deadline - self.clock.now_ms()
        if wait < 0:
            return 0
        return wait if wait < self.max_wait_ms else self.max_wait_ms

    def step(self):
        """Wait for input or the next deadline, then feed the pump and write what it answers."""
        self._watch_connection()
        data = b""
        if self.port.ready(self.wait_ms()):
            data = self.port.read_available(self.read_chunk)
        now = self.clock.now_ms()
        if data:
            self.bytes_in += len(data)
            out = self.pump.receive(data, now)
            heap.point()  # after an input, its answer still held: TC_HEAP_INFO's watch
            self._send(out)
            return
        deadline = self.pump.next_deadline_ms()
        if deadline is not None and now >= deadline:
            self._send(self.pump.poll(now))

    def _watch_connection(self):
        connected = getattr(self.port, "connected", None)
        if connected is None:
            return
        now = bool(connected())
        if now != self._connected:
            if now:
                self.pump.connection_made()
            elif self._connected is not None:
                self.pump.connection_lost()
            self._connected = now

    def run(self):
        while True:
            self.step()

    def _send(self, out):
        if out:
            self.bytes_out += len(out)
            self.port.write(out)
