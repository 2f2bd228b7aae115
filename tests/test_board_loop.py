"""The board shell (firmware_mock/board_loop.py and board/main.py) driven by fakes: a line, select.poll and a wrapping tick counter."""

import importlib.util
import pathlib
import sys
import types

import pytest

from pumpmock.protocol import BANNER, MAGIC, FrameDecoder
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Error, Fault
from pumpmock.protocol.framing import ACK, EVENT, NAK, RESPONSE, encode_frame

from pumpmock.firmware_mock import board_loop
from pumpmock.firmware_mock.board_loop import BoardLoop, StreamPort, UartPort, VirtualClock
from pumpmock.firmware_mock.core import Pump

ROOT = pathlib.Path(__file__).resolve().parent.parent
BOARD_MAIN = ROOT / "firmware_mock" / "board" / "main.py"
TICKS_PERIOD = 1 << 30  # time.ticks_ms() wraps here on most MicroPython ports


class Ticks:
    """time.ticks_ms / time.ticks_diff of a board, on a fake wall clock in ms."""

    def __init__(self, start_ticks, period=TICKS_PERIOD):
        self.period = period
        self.wall_ms = 0
        self.start = start_ticks

    def ticks_ms(self):
        return (self.start + self.wall_ms) % self.period

    def ticks_diff(self, new, old):  # MicroPython's definition: signed, modulo the period
        half = self.period // 2
        return ((new - old + half) % self.period) - half


class Line:
    """The host end of the link: bytes scheduled to arrive at wall ms; everything the board wrote."""

    def __init__(self, ticks):
        self.ticks = ticks
        self.incoming = []  # [(wall ms, bytes)]
        self.written = []  # [(wall ms, bytes)]
        self.waits = []

    def send_at(self, wall_ms, data):
        self.incoming.append((wall_ms, bytes(data)))
        self.incoming.sort(key=lambda item: item[0])

    def due(self):
        return bool(self.incoming) and self.incoming[0][0] <= self.ticks.wall_ms

    def wait(self, timeout_ms):
        """What a blocking poll does: time passes until input or the timeout."""
        assert timeout_ms >= 0
        self.waits.append(timeout_ms)
        if not self.due():
            arrival = self.incoming[0][0] if self.incoming else None
            if arrival is not None and arrival <= self.ticks.wall_ms + timeout_ms:
                self.ticks.wall_ms = arrival
            else:
                self.ticks.wall_ms += timeout_ms
        return self.due()

    def take(self, limit):
        data = b""
        while self.due() and len(data) < limit:
            at, chunk = self.incoming.pop(0)
            room = limit - len(data)
            data += chunk[:room]
            if len(chunk) > room:
                self.incoming.insert(0, (at, chunk[room:]))
        return data

    def frames(self):
        decoder = FrameDecoder()
        out = []
        for at, data in self.written:
            out += [(at, frame) for frame in decoder.feed(data)]
        return out


class FakePort:
    """The port protocol BoardLoop uses (ready / read_available / write), on a Line."""

    def __init__(self, line):
        self.line = line

    def ready(self, timeout_ms):
        return self.line.wait(timeout_ms)

    def read_available(self, limit):
        return self.line.take(limit)

    def write(self, data):
        self.line.written.append((self.line.ticks.wall_ms, bytes(data)))


def board(start_ticks, test_mode=True, period=TICKS_PERIOD, **options):
    ticks = Ticks(start_ticks, period)
    line = Line(ticks)
    pump = Pump(serial="PM-000001", test_mode=test_mode, seed=0)
    loop = BoardLoop(pump, FakePort(line), ticks.ticks_ms, ticks.ticks_diff, **options)
    return loop, line, ticks


def run_until(loop, ticks, wall_ms):
    steps = 0
    while ticks.wall_ms < wall_ms:
        loop.step()
        steps += 1
        assert steps < 100_000, "the loop does not advance time"


def answers(line):
    return [(at, frame) for at, frame in line.frames() if frame.kind in (RESPONSE, NAK)]


# ---- the virtual clock --------------------------------------------------------------------------
def test_virtual_clock_sums_tick_differences_across_the_wrap():
    ticks = Ticks(TICKS_PERIOD - 10)
    clock = VirtualClock(ticks.ticks_ms, ticks.ticks_diff)
    ticks.wall_ms = 15  # the counter wrapped: it reads 5 now
    assert ticks.ticks_ms() == 5 and clock.now_ms() == 15
    ticks.wall_ms = 110
    assert clock.now_ms() == 110
    ticks.wall_ms = 110 + 3 * TICKS_PERIOD // 8  # long gaps, each under half a period
    assert clock.now_ms() == 110 + 3 * TICKS_PERIOD // 8
    ticks.wall_ms += 3 * TICKS_PERIOD // 8  # wraps again
    assert clock.now_ms() == 110 + 6 * TICKS_PERIOD // 8


def test_virtual_clock_never_runs_backwards():
    readings = iter([100, 90, 130])
    clock = VirtualClock(lambda: next(readings), lambda new, old: new - old)
    assert clock.now_ms() == 0  # 90 after 100: a misread, not time travel
    assert clock.now_ms() == 40


# ---- the loop -------------------------------------------------------------------------------------
def test_hello_through_the_loop_just_before_the_tick_counter_wraps():
    loop, line, ticks = board(TICKS_PERIOD - 3)
    line.send_at(10, m.encode_message(m.HelloRequest(0x1234, 1), 7))
    run_until(loop, ticks, 50)
    [(at, frame)] = answers(line)
    hello = m.decode_message(frame)
    assert (hello.magic, hello.banner, hello.test_mode, frame.seq) == (MAGIC, BANNER, 1, 7)
    assert at == 10  # answered as soon as it arrived
    assert loop.bytes_in == len(m.encode_message(m.HelloRequest(0x1234, 1), 7))


def test_a_frame_split_over_two_arrivals_is_answered_once_complete():
    loop, line, ticks = board(0)
    wire = m.encode_message(m.HelloRequest(1, 1), 3)
    line.send_at(5, wire[:4])
    line.send_at(30, wire[4:])
    run_until(loop, ticks, 100)
    assert [at for at, _frame in answers(line)] == [30]


def test_events_are_resent_on_time_with_no_input_across_many_wraps():
    period = 1 << 12  # a tiny counter (4.096 s) so the test sees it wrap several times
    loop, line, ticks = board(period - 100, period=period, max_wait_ms=period // 4)
    line.send_at(0, m.encode_message(m.TcInjectFaultRequest(Fault.MOTOR_STALL), 1))
    run_until(loop, ticks, 20_000)
    events = [(at, frame) for at, frame in line.frames() if frame.kind == EVENT]
    first_at, first = events[0]
    resent = [at for at, frame in events if (frame.msg_id, frame.seq) == (first.msg_id, first.seq)]
    assert resent == [first_at + 500 * i for i in range(6)]  # EVENT_RETRY_MS apart, 5 re-sends
    # the MOTOR_STALL alarm is also re-announced every 60 s: none due yet at 20 s
    assert all(frame.seq == first.seq for _at, frame in events)
    assert max(line.waits) <= period // 4


def test_an_acknowledged_event_stops_the_resends():
    loop, line, ticks = board(12345)
    line.send_at(0, m.encode_message(m.TcInjectFaultRequest(Fault.MOTOR_STALL), 1))
    loop.step()  # the request arrived at once: answered, the event sent, no time passed
    [(at, event)] = [(at, f) for at, f in line.frames() if f.kind == EVENT]
    line.send_at(200, encode_frame(ACK, event.msg_id, event.seq))
    run_until(loop, ticks, 5_000)
    assert [at for at, f in line.frames() if f.kind == EVENT] == [at]


def test_the_pump_clock_follows_the_wrapping_ticks_for_hours():
    period = 1 << 16  # wraps every 65.5 s
    loop, line, ticks = board(period - 1, period=period)
    hours_ms = 3 * 3600 * 1000
    line.send_at(0, m.encode_message(m.TcGetStatusRequest(), 1))
    line.send_at(hours_ms, m.encode_message(m.TcGetStatusRequest(), 2))
    run_until(loop, ticks, hours_ms + 10)
    first, last = [m.decode_message(frame).clock_s for _at, frame in answers(line)]
    assert last - first == 3 * 3600  # 165 wraps of the tick counter, not a second lost or gained


def test_the_loop_waits_no_longer_than_the_next_deadline():
    loop, line, ticks = board(0, max_wait_ms=1000)
    assert loop.wait_ms() <= 1000
    line.send_at(0, m.encode_message(m.TcInjectFaultRequest(Fault.MOTOR_STALL), 1))
    loop.step()
    deadline = loop.pump.next_deadline_ms()
    assert loop.wait_ms() == min(1000, deadline - loop.clock.now_ms())
    ticks.wall_ms = deadline + 50  # the loop was late (a slow flash write): no negative wait
    assert loop.wait_ms() == 0


def test_without_test_mode_the_board_refuses_test_control():
    loop, line, ticks = board(0, test_mode=False)
    line.send_at(1, m.encode_message(m.TcGetStatusRequest(), 9))
    run_until(loop, ticks, 10)
    [(_at, frame)] = answers(line)
    assert frame.kind == NAK and m.decode_message(frame).code == Error.NOT_IN_TEST_MODE


# ---- the ports ------------------------------------------------------------------------------------
class Poller:
    def __init__(self, source):
        self.source = source
        self.timeouts = []

    def poll(self, timeout_ms):
        self.timeouts.append(timeout_ms)
        return [(object(), 1)] if self.source() else []


class Stdin:
    """MicroPython's sys.stdin.buffer: read(n) would block for n bytes, so only read(1) is safe."""

    def __init__(self, data):
        self.data = bytearray(data)

    def read(self, n):
        assert n == 1, "read(%d) blocks on a board until %d bytes came" % (n, n)
        byte = bytes(self.data[:1])
        del self.data[:1]
        return byte


class Trickle:
    """A stream that takes at most 3 bytes per write call."""

    def __init__(self):
        self.data = b""

    def write(self, buffer):
        chunk = bytes(buffer[:3])
        self.data += chunk
        return len(chunk)


def test_stream_port_reads_what_is_waiting_byte_by_byte_and_writes_everything():
    stdin = Stdin(b"\x01\x02\x03\x00\x05")
    poller = Poller(lambda: len(stdin.data) > 0)
    out = Trickle()
    port = StreamPort(stdin, out, poller)
    assert port.ready(7) and poller.timeouts == [7]
    assert port.read_available(4) == b"\x01\x02\x03\x00"
    assert port.read_available(256) == b"\x05"
    assert port.read_available(256) == b"" and not port.ready(0)
    port.write(b"0123456789")
    assert out.data == b"0123456789"


class Uart:
    def __init__(self, data):
        self.data = bytearray(data)
        self.sent = b""

    def any(self):
        return len(self.data)

    def read(self, n):
        chunk = bytes(self.data[:n])
        del self.data[:n]
        return chunk or None  # machine.UART.read returns None when nothing came

    def write(self, buffer):
        self.sent += bytes(buffer)
        return len(buffer)


def test_uart_port_reads_what_is_buffered():
    uart = Uart(b"abcdef")
    port = UartPort(uart, Poller(lambda: uart.any() > 0))
    assert port.ready(0)
    assert port.read_available(4) == b"abcd"
    assert port.read_available(4) == b"ef"
    assert port.read_available(4) == b"" and not port.ready(0)
    port.write(b"xyz")
    assert uart.sent == b"xyz"


def test_write_all_accepts_streams_that_return_none():
    taken = []
    board_loop.write_all(types.SimpleNamespace(write=lambda view: taken.append(bytes(view))), b"abc")
    assert taken == [b"abc"]


# ---- board/main.py with fake hardware -------------------------------------------------------------
class StopBoard(BaseException):
    """Ends the endless loop from a test (not an Exception: main.py must not record it as a crash)."""


def load_main(monkeypatch, kbd):
    monkeypatch.setitem(sys.modules, "micropython", types.SimpleNamespace(kbd_intr=kbd.append))
    spec = importlib.util.spec_from_file_location("pumpmock_board_main", BOARD_MAIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # __name__ is not "__main__": nothing runs yet
    return module


def fake_hardware(monkeypatch, module, incoming, stop_after_reads):
    ticks = Ticks(TICKS_PERIOD - 1)
    stdin = Stdin(incoming)
    stdout = types.SimpleNamespace(data=b"")

    def write(buffer):
        stdout.data += bytes(buffer)
        return len(buffer)

    stdout.write = write
    polls = []

    def poll(timeout_ms):
        polls.append(timeout_ms)
        if len(polls) > stop_after_reads:
            raise StopBoard()
        if not stdin.data:
            ticks.wall_ms += timeout_ms
        return [(0, 1)] if stdin.data else []

    registered = []
    poller = types.SimpleNamespace(register=lambda stream, mask: registered.append(stream), poll=poll)
    monkeypatch.setattr(module, "select", types.SimpleNamespace(poll=lambda: poller, POLLIN=1))
    console = types.SimpleNamespace(buffer=stdin)
    monkeypatch.setattr(module, "sys", types.SimpleNamespace(stdin=console, stdout=types.SimpleNamespace(buffer=stdout)))
    monkeypatch.setattr(module, "time", types.SimpleNamespace(ticks_ms=ticks.ticks_ms, ticks_diff=ticks.ticks_diff))
    return stdout, registered, console


@pytest.mark.parametrize("marker", [False, True])
def test_board_main_answers_hello_with_test_mode_only_when_the_marker_exists(monkeypatch, tmp_path, marker):
    monkeypatch.chdir(tmp_path)  # a board's working directory is its flash root
    if marker:
        (tmp_path / "pumpmock_test_mode").write_text("on purpose\n")
    kbd = []
    module = load_main(monkeypatch, kbd)
    stdout, registered, console = fake_hardware(monkeypatch, module, m.encode_message(m.HelloRequest(5, 1), 1), 400)
    with pytest.raises(StopBoard):
        module.main()
    assert kbd == [-1, 3]  # Ctrl-C off while frames flow, back on when the loop ends
    assert registered == [console]
    [frame] = FrameDecoder().feed(stdout.data)
    hello = m.decode_message(frame)
    assert (hello.magic, hello.test_mode) == (MAGIC, int(marker))
    assert (tmp_path / "pumpmock_nv").is_dir() and not (tmp_path / "pumpmock_crash.txt").exists()


def test_board_main_keeps_state_in_flash_and_records_a_crash(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pumpmock_test_mode").write_text("on purpose\n")
    kbd = []
    module = load_main(monkeypatch, kbd)
    fake_hardware(monkeypatch, module, m.encode_message(m.TcPowerLossRequest(0), 1), 400)
    with pytest.raises(StopBoard):
        module.main()
    assert any(p.name.startswith("pumpmock_state_") for p in (tmp_path / "pumpmock_nv").iterdir())

    def broken(*_args, **_kwargs):
        raise RuntimeError("flash worn out")

    monkeypatch.setattr(module, "BoardLoop", broken)
    with pytest.raises(RuntimeError):
        module.main()
    assert "flash worn out" in (tmp_path / "pumpmock_crash.txt").read_text()
    assert kbd[-1] == 3


# ---- a port that can tell when the host holds the line open -------------------------------------
class DtrPort(FakePort):
    """A port with connected(): DTR on a USB CDC interface that exposes it."""

    def __init__(self, line):
        super().__init__(line)
        self.dtr = True

    def connected(self):
        return self.dtr


def test_a_port_that_tells_connections_ends_the_session_with_the_connection():
    from pumpmock.protocol.auth import auth_mac, role_key
    from pumpmock.protocol.codes import Error, Role

    ticks = Ticks(0)
    line = Line(ticks)
    port = DtrPort(line)
    loop = BoardLoop(Pump(serial="PM-000001", test_mode=True, seed=0), port, ticks.ticks_ms, ticks.ticks_diff)
    line.send_at(10, m.encode_message(m.AuthChallengeRequest(Role.CLINICIAN), 1))
    run_until(loop, ticks, 11)
    nonce = m.decode_message(answers(line)[-1][1]).nonce
    mac = auth_mac(role_key("PM-000001", Role.CLINICIAN), nonce, "PM-000001", Role.CLINICIAN)

    def ask(message, seq):  # sent now, answered before the next wait ends
        line.send_at(ticks.wall_ms, m.encode_message(message, seq))
        run_until(loop, ticks, ticks.wall_ms + 1)
        return m.decode_message(answers(line)[-1][1])

    ask(m.AuthResponseRequest(Role.CLINICIAN, mac), 2)
    assert ask(m.GetStatusRequest(), 3).role == Role.CLINICIAN
    port.dtr = False  # the host closed the port ...
    run_until(loop, ticks, ticks.wall_ms + 2_000)
    port.dtr = True  # ... and another program opened it
    assert ask(m.GetStatusRequest(), 4).code == Error.UNAUTHORIZED
