"""pumpmock.harness.faulty_port: a port behind link faults, on loop:// (wall clock) and on a virtual-clock fake."""

import time

import pytest
import serial

from pumpmock.harness.client import PumpSession
from pumpmock.harness.faults import FaultModel
from pumpmock.harness.faulty_port import FaultyPort
from pumpmock.protocol import REQUEST, FrameDecoder, encode_message
from pumpmock.protocol.examples import EXAMPLES


class VirtualPort:
    """A pyserial-like fake on a virtual clock: a read that waits moves time instead of sleeping.

    What it answers to a write arrives `latency_s` later; subclasses say what that is.
    """

    def __init__(self, latency_s=0.001):
        self.now = 0.0
        self.timeout = 0.25
        self.latency_s = latency_s
        self.written = bytearray()
        self.is_open = True
        self.baudrate = 115200
        self._incoming = []  # (due_s, bytes)
        self._arrived = bytearray()

    def clock(self):
        return self.now

    def answer(self, data):
        return data  # an echo

    def write(self, data):
        self.written += data
        reply = self.answer(bytes(data))
        if reply:
            self._incoming.append((self.now + self.latency_s, reply))
        return len(data)

    def _arrive(self):
        due = [item for item in self._incoming if item[0] <= self.now + 1e-12]
        for item in due:
            self._incoming.remove(item)
            self._arrived += item[1]

    @property
    def in_waiting(self):
        self._arrive()
        return len(self._arrived)

    def read(self, size=1):
        self._arrive()
        if len(self._arrived) < size and self.timeout:
            wake = self.now + self.timeout
            if self._incoming:
                wake = min(wake, min(due for due, _ in self._incoming))
            self.now = max(wake, self.now)
            self._arrive()
        data = bytes(self._arrived[:size])
        del self._arrived[:size]
        return data

    def reset_input_buffer(self):
        self._arrived.clear()

    def close(self):
        self.is_open = False


class HelloPump(VirtualPort):
    """Answers every HELLO request with the mock's identity, like the emulator would."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._decoder = FrameDecoder()

    def answer(self, data):
        out = b""
        for frame in self._decoder.feed(data):
            if not isinstance(frame, Exception) and frame.kind == REQUEST and frame.msg_id == 0x01:
                out += encode_message(EXAMPLES["HELLO"][1], frame.seq)
        return out


@pytest.fixture
def loop():
    port = serial.serial_for_url("loop://", timeout=0.2)
    yield port
    port.close()


# ---- on loop:// and the wall clock ------------------------------------------------------------
def test_a_clean_line_is_a_loopback(loop):
    port = FaultyPort(loop, FaultModel())
    port.write(b"hello\x00world")
    assert port.read(11) == b"hello\x00world"
    assert port.in_waiting == 0


def test_a_read_never_blocks_past_its_timeout(loop):
    port = FaultyPort(loop, "delay=500ms")
    port.timeout = 0.05
    port.write(b"late")
    start = time.monotonic()
    assert port.read(4) == b""
    assert 0.05 <= time.monotonic() - start < 0.1  # (slack for a loaded CI machine)
    port.timeout = 0
    start = time.monotonic()
    assert port.read(4) == b"" and time.monotonic() - start < 0.01


def test_delay_applies_in_both_directions(loop):
    port = FaultyPort(loop, "delay=20ms")
    port.timeout = 1.0
    start = time.monotonic()
    port.write(b"ping")
    assert port.read(4) == b"ping"
    assert 0.04 <= time.monotonic() - start < 0.2  # 20 ms out, 20 ms back


def test_a_read_wakes_for_bytes_held_by_the_line(loop):
    port = FaultyPort(loop, "delay=10ms")
    port.write(b"abc")
    port.timeout = 0.5
    start = time.monotonic()
    assert port.read(1) == b"a"  # the read itself moves the written bytes on when they are due
    assert time.monotonic() - start < 0.1
    assert port.read(2) == b"bc"


def test_faults_are_applied_and_counted(loop):
    port = FaultyPort(loop, "drop=1.0,seed=1")
    port.write(b"gone")
    assert port.read(4) == b""
    assert port.stats["to_pump"]["dropped"] == 4 and port.stats["to_host"]["bytes_in"] == 0


def test_attributes_pass_through(loop):
    port = FaultyPort(loop, "")
    assert port.is_open and port.baudrate == loop.baudrate
    port.baudrate = 9600  # set on the wrapped port
    assert loop.baudrate == 9600
    port.timeout = 0.01  # but the timeout is the wrapper's own
    assert port.timeout == 0.01
    with pytest.raises(ValueError):
        port.timeout = -1
    with pytest.raises(AttributeError):
        port.no_such_attribute


def test_flush_waits_until_written_bytes_are_out(loop):
    port = FaultyPort(loop, "delay=30ms")
    port.write(b"xyz")
    assert port.out_waiting == 3
    start = time.monotonic()
    port.flush()
    assert port.out_waiting == 0 and time.monotonic() - start >= 0.029
    assert port.stats["to_pump"]["bytes_out"] == 3  # out of the to_pump line, into the loop


def test_reset_input_buffer_discards_what_arrived(loop):
    port = FaultyPort(loop, "")
    port.write(b"old")
    assert port.in_waiting == 3
    port.reset_input_buffer()
    assert port.in_waiting == 0


def test_close_and_context_manager(loop):
    with FaultyPort(loop, "") as port:
        assert port.is_open
    assert not loop.is_open


# ---- on a virtual clock -----------------------------------------------------------------------------
def test_the_wrapped_ports_clock_is_the_lines_clock():
    fake = VirtualPort()
    port = FaultyPort(fake, "delay=100ms")
    assert port.clock() == 0.0
    port.timeout = 1.0
    wall = time.monotonic()
    port.write(b"echo")
    assert port.read(4) == b"echo"
    assert fake.now == pytest.approx(0.201, abs=0.002)  # 100 ms each way + the echo's 1 ms
    assert time.monotonic() - wall < 0.5  # virtual time, not wall time


def test_a_timeout_on_a_virtual_clock_costs_no_wall_time():
    fake = VirtualPort()
    port = FaultyPort(fake, "drop=1.0")
    port.timeout = 5.0
    wall = time.monotonic()
    port.write(b"lost")
    assert port.read(1) == b""
    assert fake.now == pytest.approx(5.0, abs=0.002) and time.monotonic() - wall < 1.0


def test_baud_pacing_on_a_virtual_clock():
    fake = VirtualPort(latency_s=0)
    port = FaultyPort(fake, "baud=9600")  # 1.04 ms a byte, each way
    port.timeout = 10
    port.write(bytes(96))
    assert port.read(96) == bytes(96)
    assert fake.now == pytest.approx(0.1 + 0.001, abs=0.003)  # 96 bytes, paced out then back in


def test_a_stopped_clock_cannot_make_a_read_spin_forever(loop):
    port = FaultyPort(loop, "delay=1s", clock=lambda: 42.0)
    port.timeout = 1.0
    port.write(b"x")
    start = time.monotonic()
    assert port.read(1) == b""
    assert time.monotonic() - start < 0.5


def test_the_reference_client_gets_through_a_lossy_line():
    pump = HelloPump()
    port = FaultyPort(pump, "drop=0.3,duplicate=0.2,corrupt=0.1,unit=frame,seed=5")
    session = PumpSession(port, clock=port.clock, retries=20, timeout=0.25)
    for _ in range(20):
        assert session.hello().banner == "NOT FOR CLINICAL USE"
    stats = port.stats
    assert stats["to_pump"]["dropped"] + stats["to_host"]["dropped"] > 0
    assert session.stats["retransmissions"] > 0
