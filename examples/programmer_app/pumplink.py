"""The example app's own protocol client: one session with the mock pump over a serial port.

Built on the protocol package's codec (framing and typed messages) only. What it does, and why:
- every read has a timeout, so a silent pump is an error after a bounded time, never a hang;
- a request that times out is sent again with the SAME sequence number (bounded retries): the
  pump answers a repeated state-changing request from its cache, so a bolus whose answer was
  lost is never delivered twice;
- the peer must identify as the mock (magic PMCK, banner NOT FOR CLINICAL USE) before anything
  else is sent;
- every EVENT frame is ACKed on the link (copies too), and de-duplicated by its seq.
"""

import collections
import os
import time

import serial

from pumpmock.protocol import messages as m
from pumpmock.protocol.auth import auth_mac, role_key
from pumpmock.protocol.catalog import BANNER, MAGIC, MAX_RETRIES, PROTOCOL_VERSION, RESPONSE_TIMEOUT_MS
from pumpmock.protocol.codes import Error, Role
from pumpmock.protocol.errors import ProtocolError
from pumpmock.protocol.framing import ACK, EVENT, NAK, REQUEST, RESPONSE, FrameDecoder, encode_frame

BAUD = 115200
# Longest a single read may block. Reads loop until their own deadline, so this only bounds
# how late a deadline is noticed; it must never be None (pyserial's default: block forever).
READ_TIMEOUT_S = 0.05
RESPONSE_TIMEOUT_S = RESPONSE_TIMEOUT_MS / 1000
RETRIES = MAX_RETRIES
RECENT_EVENTS = 64  # event seqs remembered to drop the pump's re-sent copies


class LinkFailed(Exception):
    """The line or the peer failed: no answer, garbage, or not the mock. Exit code 2."""


class NotTheMock(LinkFailed):
    """The peer did not identify as the pumpmock mock pump: nothing more is sent to it."""


class PumpRefused(Exception):
    """The pump answered NAK. Exit code 1."""

    def __init__(self, request, nak):
        self.request = request
        self.nak = nak
        self.error = _name(Error, nak.code)
        super().__init__("the pump refused %s: %s (subject %d, limit %d, actual %d)" % (
            request.MESSAGE.name, self.error, nak.subject, nak.limit_value, nak.actual_value))


def _name(enum, value):
    try:
        return enum(value).name
    except ValueError:
        return str(value)


def open_port(path):
    """The serial port to the pump, 115200 8N1, with a read timeout."""
    try:
        return serial.Serial(path, BAUD, timeout=READ_TIMEOUT_S)
    except (serial.SerialException, OSError) as error:
        raise LinkFailed("cannot open %s: %s" % (path, error)) from None


class PumpLink:
    """A protocol session: handshake, login, requests with retransmission, events."""

    def __init__(self, port):
        self.port = port
        self.identity = None
        self.events = collections.deque()  # typed events not yet taken by the caller
        self.bad_frames = 0
        self._decoder = FrameDecoder()
        self._seq = int.from_bytes(os.urandom(2), "little")
        self._host_session_id = int.from_bytes(os.urandom(4), "little")
        self._waiting_for = None  # (msg_id, seq) of the request in flight
        self._answer = None
        self._recent_event_seqs = collections.deque(maxlen=RECENT_EVENTS)
        self._need_delimiter = True  # a 0x00 first ends any partial frame the pump holds

    def close(self):
        self.port.close()

    # ---- requests ------------------------------------------------------------------------------
    def next_seq(self):
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def request(self, message):
        """Send `message`, return its typed response; PumpRefused on NAK, LinkFailed on silence.

        A timed-out request is retransmitted byte for byte, under the same seq."""
        seq = self.next_seq()
        wire = encode_frame(REQUEST, message.MESSAGE.id, seq, message.encode())
        for attempt in range(RETRIES + 1):
            if attempt:
                self._need_delimiter = True
            self._write(wire)
            frame = self._wait_answer(message.MESSAGE.id, seq, time.monotonic() + RESPONSE_TIMEOUT_S)
            if frame is not None:
                return self._typed_answer(frame, message)
        raise LinkFailed("no answer to %s (seq %d) after %d retransmissions of %d ms" % (
            message.MESSAGE.name, seq, RETRIES, RESPONSE_TIMEOUT_MS))

    def _typed_answer(self, frame, message):
        try:
            if frame.kind == NAK:
                raise PumpRefused(message, m.Nak.decode(frame.payload, frame.msg_id))
            return m.message_class(RESPONSE, frame.msg_id).decode(frame.payload)
        except ProtocolError as error:
            raise LinkFailed("malformed answer to %s: %s" % (message.MESSAGE.name, error)) from None

    def _write(self, wire):
        if self._need_delimiter:
            wire = b"\x00" + wire
            self._need_delimiter = False
        try:
            self.port.write(wire)
        except (serial.SerialException, OSError) as error:
            raise LinkFailed("cannot write to the pump: %s" % error) from None

    def _wait_answer(self, msg_id, seq, deadline):
        self._waiting_for = (msg_id, seq)
        self._answer = None
        try:
            while self._answer is None and time.monotonic() < deadline:
                self.read_frames()
            return self._answer
        finally:
            self._waiting_for = None

    # ---- reading -------------------------------------------------------------------------------
    def read_frames(self):
        """Read what has arrived (blocking at most the port's read timeout) and dispatch it."""
        try:
            data = self.port.read(self.port.in_waiting or 1)
        except (serial.SerialException, OSError) as error:
            raise LinkFailed("cannot read from the pump: %s" % error) from None
        if not data:
            return
        for item in self._decoder.feed(data):
            if isinstance(item, ProtocolError):
                self.bad_frames += 1  # line noise: the sender's retransmission recovers it
            elif item.kind == EVENT:
                self._on_event(item)
            elif item.kind in (RESPONSE, NAK) and (item.msg_id, item.seq) == self._waiting_for:
                self._answer = item
            # anything else is a late answer to an earlier attempt: already handled

    def _on_event(self, frame):
        # ACK every copy: the pump re-sends an event until it sees an ACK for that seq.
        self._write(encode_frame(ACK, frame.msg_id, frame.seq))
        if frame.seq in self._recent_event_seqs:
            return
        self._recent_event_seqs.append(frame.seq)
        try:
            self.events.append(m.message_class(EVENT, frame.msg_id).decode(frame.payload))
        except (ProtocolError, AttributeError):
            self.bad_frames += 1

    def wait_events(self, deadline):
        """Read until `deadline` (time.monotonic) or until an event is queued."""
        while not self.events and time.monotonic() < deadline:
            self.read_frames()

    # ---- session -------------------------------------------------------------------------------
    def handshake(self):
        """HELLO, and refuse any peer that is not the mock (exactly its magic, banner, version)."""
        try:
            identity = self.request(m.HelloRequest(self._host_session_id, PROTOCOL_VERSION))
        except PumpRefused as refused:
            raise NotTheMock("the peer refused HELLO (%s): not a pumpmock mock pump" % refused.error) from None
        except LinkFailed as failed:
            raise LinkFailed("no valid answer to HELLO: %s" % failed) from None
        wrong = []
        if identity.magic != MAGIC:
            wrong.append("magic %r instead of %r" % (identity.magic, MAGIC))
        if identity.banner != BANNER:
            wrong.append("banner %r instead of %r" % (identity.banner, BANNER))
        if identity.protocol_version != PROTOCOL_VERSION:
            wrong.append("protocol version %d instead of %d" % (identity.protocol_version, PROTOCOL_VERSION))
        if wrong:
            raise NotTheMock("refusing to talk to this peer: it is not the pumpmock mock pump (%s)"
                             % "; ".join(wrong))
        self.identity = identity
        return identity

    def login(self, role):
        """Challenge–response with the mock's documented, derivable role key."""
        serial_number = self.identity.serial
        nonce = self.request(m.AuthChallengeRequest(role)).nonce
        mac = auth_mac(role_key(serial_number, role), nonce, serial_number, role)
        try:
            return Role(self.request(m.AuthResponseRequest(role, mac)).role)
        except PumpRefused as refused:
            # AUTH_RESPONSE spends the nonce, and it is not answered from the exactly-once cache:
            # if the answer to a successful one was lost, its retransmission is refused. The
            # session's role in the status says whether the first one got through.
            if refused.error != "UNAUTHORIZED":
                raise
            try:
                granted = self.request(m.GetStatusRequest()).role
            except PumpRefused:
                raise refused from None
            if granted != role:
                raise refused from None
            return Role(granted)
