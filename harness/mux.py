"""Share one pump line between an external app on a pseudo-terminal and the test's control channel.

    app (any language) ── pty ──┐
                                ├── PortMux ── upstream port (pumpmock://, a board, exec:...)
    test's PumpSession ─ control┘

Frames are relayed whole (cut at the 0x00 delimiter by protocol's FrameDecoder, so a run longer
than any frame is passed on in MAX_ENCODED pieces, never buffered whole), so a control frame never
lands in the middle of one of the app's frames. Answers go back to whoever asked: the mux remembers the
(msg_id, seq) of every control request in flight; everything else (the app's answers, every
event, any line noise) goes to the app untouched. `on_frame(direction, block)` sees the app's
traffic in both directions ("host>pump" / "pump>host"), for transcripts and oracles, in the order
the bytes crossed the mux: a frame is recorded in the same locked step that passes it on, so an
app's next request can never be recorded before the answer it was waiting for.
"""

import os
import select
import threading
import time
import tty

from pumpmock.protocol import cobs
from pumpmock.protocol.errors import ProtocolError
from pumpmock.protocol.catalog import MESSAGES_BY_ID
from pumpmock.protocol.framing import ACK, NAK, REQUEST, RESPONSE, FrameDecoder, encode_frame, parse_body
from pumpmock.protocol.messages import Nak


def _frame_of(block):
    try:
        return parse_body(cobs.decode(block))
    except ProtocolError:
        return None


def _blocks(cutter, data):
    """What `data` completes, cut by `cutter` (a FrameDecoder): [(block, end, whole)], where a
    block and `end` are the bytes as they came. `whole`: a block between delimiters (b"" for a
    spare one), end b"\x00"; otherwise a piece of a run longer than any frame, never a frame:
    MAX_ENCODED bytes with no end, or the run's rest with its delimiter."""
    in_run = cutter.skipping
    pieces = cutter.cut(data)
    if not in_run and len(pieces) == data.count(0):  # every piece ends at a delimiter: no run
        return [(piece[:-1], b"\x00", True) for piece in pieces]
    out = []
    for piece in pieces:
        if piece[-1]:
            in_run = True
            out.append((piece, b"", False))
        elif in_run:
            in_run = False
            out.append((piece[:-1], b"\x00", False))
        else:
            out.append((piece[:-1], b"\x00", True))
    return out


def _take(rules, name):
    """The first rule for `name` (or for any message, name None), counted down; None if none."""
    if name is None:
        return None
    for rule in rules:
        if rule[0] is None or rule[0] == name:
            rule[-1] -= 1
            if rule[-1] <= 0:
                rules.remove(rule)
            return rule
    return None


def _corrupted(block):
    """The block with one byte in its middle changed (never to the 0x00 delimiter): the CRC fails."""
    middle = len(block) // 2
    changed = block[middle] ^ 0x5A or 0xA5
    return block[:middle] + bytes([changed]) + block[middle + 1:]


class ControlPort:
    """The test's side of the mux: a pyserial-like port whose answers the mux sorts out for it."""

    def __init__(self, mux):
        self._mux = mux
        self._buffer = bytearray()
        self._ready = threading.Condition()
        self.timeout = 0.25

    def clock(self):
        return time.monotonic()

    def write(self, data):
        self._mux._send_control(bytes(data))
        return len(data)

    def _deliver(self, block):
        with self._ready:
            self._buffer += block + b"\x00"
            self._ready.notify_all()

    @property
    def in_waiting(self):
        with self._ready:
            return len(self._buffer)

    def read(self, size=1):
        deadline = time.monotonic() + (self.timeout or 0)
        with self._ready:
            while len(self._buffer) < size:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._mux.closed:
                    break
                self._ready.wait(remaining)
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
            return data

    def close(self):
        """The control channel lives as long as the mux."""


class PortMux:
    """Relays frames between an app's pty, the test's control port and the upstream pump line."""

    def __init__(self, upstream, on_frame=None):
        self.upstream = upstream
        self.on_frame = on_frame
        self.control = ControlPort(self)
        self.closed = False
        self.silenced = False  # drop everything the pump sends to the app
        self.drop_rules = []  # [message name or None, count]: lose the pump's next answers to the app
        # Per-message trouble a test asks for (harness.pytest_plugin.PumpControl), each [name, ..., count]:
        self.refuse_rules = []  # [name, Nak, count]: answer the app's next request X with this NAK
        self.corrupt_rules = []  # [name, count]: flip a byte of the pump's next answer to X
        self.before_rules = []  # [name, action, count]: call action() before X reaches the pump
        self.lose_ack_rules = []  # [event name or None, count]: lose the app's next ACKs of events
        self.hold_rules = []  # [name, count]: keep the pump's next answer to X until the app's next X
        self._held = []  # [name, seq, block]: answers kept by hold_rules, delivered late
        # Only the app holds the pty's slave end: while nobody has it open, reading the master
        # fails with EIO, which is how the mux knows no app is listening (frames then go nowhere,
        # and are not recorded as delivered).
        self.app_connected = False
        self._master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        os.close(slave)
        # Never block on the app: if nobody reads the pty and its buffer fills, drop (line noise).
        os.set_blocking(self._master, False)
        self._write_lock = threading.Lock()
        # Held while a frame of the app's crosses and is recorded, in either direction.
        self._wire_lock = threading.Lock()
        self._control_pending = set()  # (msg_id, seq) of control requests awaiting an answer
        self._control_frames = FrameDecoder()  # the control channel's writes, to note its requests
        self._app_cutter = FrameDecoder()  # bytes from the app, held until a delimiter (capped)
        self._pump_cutter = FrameDecoder()  # bytes from the pump, likewise
        self._app_requests = {}  # (msg_id, seq) -> message name, for drop rules by name
        self._threads = [threading.Thread(target=self._app_to_pump, daemon=True, name="mux app>pump"),
                         threading.Thread(target=self._pump_to_all, daemon=True, name="mux pump>*")]

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def close(self):
        self.closed = True
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=2)
        try:
            os.close(self._master)
        except OSError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # ---- directions ------------------------------------------------------------------------------
    def _send_control(self, data):
        with self._write_lock:  # one writer at a time: a test's thread, or a rule's action on the app's
            for frame in self._control_frames.feed(data):
                if not isinstance(frame, ProtocolError):
                    self._control_pending.add((frame.msg_id, frame.seq))
            self.upstream.write(data)

    def _app_to_pump(self):
        cutter = self._app_cutter
        while not self.closed:
            readable, _, _ = select.select([self._master], [], [], 0.05)
            if not readable:
                self.app_connected = True  # a master with no slave open is always readable (EIO)
                continue
            try:
                data = os.read(self._master, 4096)
            except BlockingIOError:
                continue
            except OSError:  # EIO: no app has the pty open (yet, or any more)
                self.app_connected = False
                time.sleep(0.01)
                continue
            self.app_connected = True
            blocks = _blocks(cutter, data)
            if not blocks:
                continue
            if self.refuse_rules or self.before_rules or self.lose_ack_rules or self._held:
                for block, end, whole in blocks:
                    if whole and block:
                        self._app_frame(block)
                    elif not whole:
                        self._app_run(block, end)
                continue
            for block, _end, whole in blocks:
                if whole and block:
                    self._note_request(block)
            with self._wire_lock:
                with self._write_lock:
                    self.upstream.write(b"".join(block + end for block, end, _whole in blocks))
                if self.on_frame:
                    for block, _end, _whole in blocks:
                        if block:
                            self.on_frame("host>pump", block)

    def _app_run(self, block, end):
        """A piece of a run of the app's longer than any frame: passed on as it came, no rule applies."""
        with self._wire_lock:
            with self._write_lock:
                self.upstream.write(block + end)
            if self.on_frame:
                self.on_frame("host>pump", block)

    def _app_frame(self, block):
        """One of the app's frames while per-message rules are set: refused here, or passed on
        (after any action set for it)."""
        frame = _frame_of(block)
        if frame is not None and frame.kind == ACK and self.lose_ack_rules:
            event = MESSAGES_BY_ID.get(frame.msg_id)
            if _take(self.lose_ack_rules, event.name if event else "?") is not None:
                return  # lost on the line: neither the pump nor the wire sees it
        name = self._note_request(block)
        late = self._late_answer(name, frame)
        if late is not None:
            with self._wire_lock:  # the pump's own answer waits for this lock: the late one arrives first
                with self._write_lock:
                    self.upstream.write(b"\x00" + block + b"\x00")
                if self.on_frame:
                    self.on_frame("host>pump", block)
                self._to_app(late)
            return
        refusal = _take(self.refuse_rules, name)
        if refusal is not None:
            frame = _frame_of(block)
            answer = encode_frame(NAK, frame.msg_id, frame.seq, refusal[1].encode())[:-1]
            with self._wire_lock:
                if self.on_frame:
                    self.on_frame("host>pump", block)
                self._to_app(answer)
            return
        action = _take(self.before_rules, name)
        if action is not None:
            action[1]()  # through the control port: its answers come back on the other thread
        with self._wire_lock:
            with self._write_lock:
                self.upstream.write(b"\x00" + block + b"\x00")
            if self.on_frame:
                self.on_frame("host>pump", block)

    def _late_answer(self, name, frame):
        """A held answer to an earlier `name` request (another seq) that is due now, or None."""
        for held in self._held:
            if name is not None and held[0] == name and held[1] != frame.seq:
                self._held.remove(held)
                return held[2]
        return None

    def _pump_to_all(self):
        cutter = self._pump_cutter
        upstream = self.upstream
        while not self.closed:
            upstream.timeout = 0.05
            data = upstream.read(upstream.in_waiting or 1)
            if not data:
                continue
            for block, end, whole in _blocks(cutter, data):
                if whole:
                    self._route(block)
                elif not self.silenced and self.app_connected:  # a run no frame is that long: line noise
                    with self._wire_lock:
                        self._to_app(block, end)

    def _note_request(self, block):
        """The catalog name of the app's request in `block` (None for anything else), remembered
        by (msg_id, seq) so rules by name can find the answer."""
        frame = _frame_of(block)
        if frame is not None and frame.kind == REQUEST:
            message = MESSAGES_BY_ID.get(frame.msg_id)
            name = message.name if message else None
            self._app_requests[(frame.msg_id, frame.seq)] = name
            if len(self._app_requests) > 256:  # only recent requests can still be answered
                del self._app_requests[next(iter(self._app_requests))]
            return name
        return None

    def _dropped(self, frame):
        """Whether a drop rule eats this answer to the app."""
        if frame is None or frame.kind not in (RESPONSE, NAK) or not self.drop_rules:
            return False
        name = self._app_requests.get((frame.msg_id, frame.seq))
        for rule in self.drop_rules:
            if rule[0] is None or rule[0] == name:
                rule[1] -= 1
                if rule[1] <= 0:
                    self.drop_rules.remove(rule)
                return True
        return False

    def _route(self, block):
        frame = _frame_of(block) if block else None
        if frame is not None and frame.kind in (RESPONSE, NAK) and (frame.msg_id, frame.seq) in self._control_pending:
            self._control_pending.discard((frame.msg_id, frame.seq))
            self.control._deliver(block)
            return
        if self.silenced or not self.app_connected or self._dropped(frame):
            return
        if self.hold_rules and frame is not None and frame.kind in (RESPONSE, NAK):
            name = self._app_requests.get((frame.msg_id, frame.seq))
            if _take(self.hold_rules, name) is not None:
                self._held.append([name, frame.seq, block])
                return
        if self.corrupt_rules and frame is not None and frame.kind in (RESPONSE, NAK) and \
                _take(self.corrupt_rules, self._app_requests.get((frame.msg_id, frame.seq))) is not None:
            block = _corrupted(block)
        with self._wire_lock:
            self._to_app(block)

    def _to_app(self, block, end=b"\x00"):
        """A pump>host frame to the app, recorded first: the app may read it, act and exit before
        this thread runs again, and a check of that run must find the answer it acted on. (A frame
        the full pty of an app that stopped reading could not take is recorded all the same: the
        pump sent it and the line lost it.)"""
        if block and self.on_frame:
            self.on_frame("pump>host", block)
        try:
            os.write(self._master, block + end)
        except OSError:
            pass
