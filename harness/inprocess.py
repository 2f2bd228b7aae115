"""The emulator core behind a simulated serial line, sans-I/O: faults, pacing and time are inputs.

The pumpmock:// URL handler wraps one of these with a clock and a lock. Bytes written by the
host travel the "to_pump" fault stream, reach firmware_mock's Pump at their arrival time, and
what the pump answers travels the "to_host" stream back. With no faults and no pacing the line
is a straight wire and costs nothing.
"""

import dataclasses

from pumpmock.firmware_mock.core import Pump


class InProcessLink:
    """A Pump and the two directions of the line to it, driven by virtual milliseconds."""

    def __init__(self, pump=None, faults=None, baud=None):
        self.pump = pump if pump is not None else Pump(test_mode=True)
        self._rx = bytearray()  # bytes that reached the host side and wait to be read
        self._to_pump = self._to_host = None
        if faults is not None or baud:
            from .faults import FaultModel
            model = faults if faults is not None else FaultModel(baud=baud)
            if baud and not model.baud:
                model = dataclasses.replace(model, baud=baud)
            self._to_pump = model.stream("to_pump")
            self._to_host = model.stream("to_host")
        self.now_ms = 0

    def write(self, data, now_ms):
        """The host put `data` on the line at now_ms."""
        if self._to_pump is None:
            # A straight wire: receive() first runs the pump to now_ms itself (events, then the
            # answer), as it does behind the pty and TCP servers.
            if now_ms > self.now_ms:
                self.now_ms = now_ms
            self._rx += self.pump.receive(data, self.now_ms)
        else:
            self.advance(now_ms)
            self._to_pump.feed(data, now_ms)
            self.advance(now_ms)

    def advance(self, now_ms):
        """Run the line and the pump forward to now_ms."""
        if now_ms < self.now_ms:
            now_ms = self.now_ms
        pump = self.pump
        if self._to_pump is None:
            deadline = pump.next_deadline_ms()
            if deadline is not None and deadline <= now_ms:
                self._rx += pump.poll(now_ms)
            self.now_ms = now_ms
            return
        # Step through every due moment in order, so the pump sees bytes and time as they happen.
        while True:
            due = [t for t in (self._to_pump.next_due_ms(), pump.next_deadline_ms(),
                               self._to_host.next_due_ms()) if t is not None and t <= now_ms]
            if not due:
                break
            moment = max(min(due), self.now_ms)
            arrived = self._to_pump.take(moment)
            out = pump.receive(arrived, moment) if arrived else pump.poll(moment)
            if out:
                self._to_host.feed(out, moment)
            delivered = self._to_host.take(moment)
            self._rx += delivered
            if moment == self.now_ms and not (arrived or out or delivered):
                break  # nothing moved at this moment: the rest is due later than now_ms
            self.now_ms = moment
        self.now_ms = now_ms

    def take(self, size):
        """Up to `size` bytes that have reached the host."""
        rx = self._rx
        if size >= len(rx):  # the usual read: everything there is, without a slice to copy first
            data = bytes(rx)
            rx.clear()
            return data
        data = bytes(rx[:size])
        del rx[:size]
        return data

    @property
    def waiting(self):
        return len(self._rx)

    def next_due_ms(self):
        """The next moment something can reach the host (None: nothing scheduled)."""
        times = [self.pump.next_deadline_ms()]
        if self._to_pump is not None:
            times += [self._to_pump.next_due_ms(), self._to_host.next_due_ms()]
        times = [t for t in times if t is not None]
        return min(times) if times else None

    def clear(self):
        self._rx.clear()
