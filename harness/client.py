"""The reference programmer: a protocol session over any pyserial-like port.

It does what a careful programmer app must: sends a delimiter before talking, checks the mock's
identity before anything else, retransmits a timed-out request with the SAME sequence number
(never a new one), gives up after bounded retries, ACKs every event and de-duplicates them by
sequence number, and turns every NAK into a typed exception. An answer that does not decode
(MalformedAnswerError) or cannot be true (ImplausibleAnswerError, see harness.plausibility) is
raised as a BadAnswerError, never returned.

    with harness.connect("pumpmock://?test_mode=1", role=Role.CLINICIAN) as session:
        session.program(rx)

The port needs only read(size), write(data), a settable `timeout` and `in_waiting`.
"""

import collections
import os
import time

from pumpmock.protocol import messages as m
from pumpmock.protocol.auth import auth_mac, role_key
from pumpmock.protocol.catalog import BANNER, MAGIC, MAX_RETRIES, PROTOCOL_VERSION, RESPONSE_TIMEOUT_MS
from pumpmock.protocol.codes import Role
from pumpmock.protocol.errors import RemoteProtocolError
from pumpmock.protocol.framing import EVENT, NAK, RESPONSE, FrameDecoder, encode_frame

from . import plausibility
from .errors import (BadAnswerError, ImplausibleAnswerError, LinkTimeout, MalformedAnswerError, NotAMockError,
                     PortError, refusal)
from .portio import DEFAULT_BUSY_POLL_S, reader_for, writer_for
from .testcontrol import TestControl

LOG_PAGE = 12  # entries per READ_LOG page (the catalog's maximum)
EVENT_QUEUE_LIMIT = 1024  # events kept for an app that never takes them; older ones are dropped and counted
# Answers looked at twice: decoded, then checked against each other (harness.plausibility)
_PLAUSIBLE = {m.GetStatusResponse: plausibility.status_problems, m.TcGetStatusResponse: plausibility.status_problems,
              m.HelloResponse: plausibility.hello_problems}


class PumpSession:
    """One protocol session with a pump (or the mock of one) over an open port."""

    def __init__(self, port, *, timeout=RESPONSE_TIMEOUT_MS / 1000, retries=MAX_RETRIES,
                 host_session_id=None, clock=time.monotonic, initial_seq=None, busy_poll_s=DEFAULT_BUSY_POLL_S):
        self.busy_poll_s = busy_poll_s  # a tty's or socket's read polls this long before sleeping (portio)
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.host_session_id = host_session_id if host_session_id is not None else int.from_bytes(os.urandom(4), "little")
        self.clock = clock
        self.identity = None  # HelloResponse once the handshake passed
        self.role = Role.NONE
        # AlarmRaised / AlarmCleared not yet taken. Bounded: an app that never takes events must not
        # grow it forever; the oldest go first, counted in stats["events_dropped"].
        self.events = collections.deque(maxlen=EVENT_QUEUE_LIMIT)
        self.bad_events = collections.deque(maxlen=64)  # (Frame, error): events that did not decode
        self.test = TestControl(self)
        self.stats = collections.Counter()
        self._decoder = FrameDecoder()
        # The first request takes initial_seq + 1. Random by default, so a restarted host does not
        # collide with its last session's cached answers; fixed when a test must replay exactly.
        self._seq = (initial_seq if initial_seq is not None else int.from_bytes(os.urandom(2), "little")) & 0xFFFF
        self._answers = {}  # seq -> Frame for requests still outstanding
        self._pending = {}  # seq -> (msg_id, wire bytes)
        self._recent_events = collections.deque(maxlen=64)
        self._need_delimiter = True

    @property
    def port(self):
        return self._port

    @port.setter
    def port(self, port):
        """The port, replaceable (a counting or recording wrapper put under a live session, say)."""
        self._port = port
        self._read = reader_for(port, self.busy_poll_s)
        self._write_port = writer_for(port)

    # ---- the exchange --------------------------------------------------------------------------
    def request(self, message):
        """Send a request and return its typed response; raise the typed refusal on NAK."""
        seq = self.send(message)
        return self.wait(seq, message)

    def send(self, message):
        """Send a request without waiting; returns its seq (see wait)."""
        self._seq = (self._seq + 1) & 0xFFFF
        seq = self._seq
        msg_id = message.MESSAGE.id
        wire = encode_frame(0, msg_id, seq, message.encode())
        self._pending[seq] = (msg_id, wire)
        self._write(wire)
        return seq

    def wait(self, seq, message):
        """Wait for the answer to `seq`, retransmitting the identical frame on timeout."""
        msg_id, wire = self._pending[seq]
        try:
            missed = 0
            while True:
                frame = self._read_until(seq, self.clock() + self.timeout)
                if frame is not None:
                    break
                # A pump in a child the port just started (exec://) may still be booting: until it
                # has said anything, or its start-up grace ran out, a missed answer does not count.
                if not self._peer_booting():
                    missed += 1
                    if missed > self.retries:
                        raise LinkTimeout("no answer to %s (seq %d) after %d retransmissions of %.0f ms"
                                          % (type(message).__name__, seq, self.retries, self.timeout * 1000))
                self.stats["retransmissions"] += 1
                self._need_delimiter = True
                self._write(wire)
        finally:
            del self._pending[seq]
        try:
            if frame.kind == NAK:
                nak = m.Nak.decode(frame.payload, frame.msg_id)
            else:
                answer = m.CLASSES[(RESPONSE, msg_id)].decode(frame.payload)
        except RemoteProtocolError as error:  # the CRC held, so this is the pump's fault, not the line's
            raise MalformedAnswerError("the answer to %s (seq %d) does not decode: %s"
                                       % (type(message).__name__, seq, error), error.reason, error.raw) from None
        if frame.kind == NAK:
            raise refusal(nak, message)
        check = _PLAUSIBLE.get(type(answer))
        if check is not None:
            problems = check(answer)
            if problems:
                raise ImplausibleAnswerError(problems, answer)
        return answer

    def _peer_booting(self):
        booting_until = getattr(self.port, "startup_deadline", None)
        return booting_until is not None and time.monotonic() < booting_until

    def _write(self, wire):
        if self._need_delimiter:
            wire = b"\x00" + wire
            self._need_delimiter = False
        try:
            self._write_port(wire, self.timeout)
        except OSError as error:  # pyserial's SerialException is one
            raise _port_failed("write", error) from error

    def _read_until(self, seq, deadline):
        """Read and dispatch frames until the answer to `seq` arrives or the deadline passes."""
        while True:
            frame = self._answers.pop(seq, None)
            if frame is not None:
                return frame
            remaining = deadline - self.clock()
            if remaining <= 0:
                return None
            self._receive(remaining)

    def _receive(self, timeout):
        """Read what the port has (waiting at most `timeout` s for the first byte) and dispatch it."""
        try:
            data = self._read(timeout)
        except OSError as error:
            raise _port_failed("read", error) from error
        if not data:
            return
        for item in self._decoder.feed(data):
            if isinstance(item, RemoteProtocolError):
                self.stats["bad_frames"] += 1
            elif item.kind == EVENT:
                self._on_event(item)
            elif item.kind in (RESPONSE, NAK) and item.seq in self._pending \
                    and self._pending[item.seq][0] == item.msg_id:
                self._answers[item.seq] = item
            else:
                self.stats["stale_frames"] += 1  # a late answer to an earlier attempt, say

    def _on_event(self, frame):
        try:
            event = m.CLASSES[(EVENT, frame.msg_id)].decode(frame.payload)
        except (KeyError, RemoteProtocolError) as error:
            # Not ACKed, so the pump sends it again; kept for the caller to see, never dropped
            # silently, and never raised into whichever request happens to be waiting.
            self.stats["bad_events"] += 1
            self.bad_events.append((frame, error))
            return
        self._write(encode_frame(3, frame.msg_id, frame.seq))  # ACK every copy
        if frame.seq in self._recent_events:
            self.stats["duplicate_events"] += 1
            return
        self._recent_events.append(frame.seq)
        if len(self.events) == self.events.maxlen:
            self.stats["events_dropped"] += 1
        self.events.append(event)

    def poll_events(self, timeout=0.0):
        """Read for up to `timeout` s; return (and take) every event that arrived so far."""
        deadline = self.clock() + timeout
        while True:
            self._receive(max(deadline - self.clock(), 0))
            if self.clock() >= deadline:
                break
        taken = list(self.events)
        self.events.clear()
        return taken

    def wait_for_event(self, predicate=lambda event: True, timeout=1.0):
        """The first queued or arriving event that satisfies `predicate`, or None after `timeout` s."""
        deadline = self.clock() + timeout
        while True:
            for event in list(self.events):
                if predicate(event):
                    self.events.remove(event)
                    return event
            remaining = deadline - self.clock()
            if remaining <= 0:
                return None
            self._receive(remaining)

    # ---- session ---------------------------------------------------------------------------------
    def hello(self):
        """Identify the peer; raise NotAMockError unless it gives the mock's exact identity."""
        try:
            identity = self.request(m.HelloRequest(self.host_session_id, PROTOCOL_VERSION))
        except LinkTimeout as error:
            raise NotAMockError("no answer to HELLO: the peer is not a pumpmock pump (%s)" % error) from None
        except (RemoteProtocolError, BadAnswerError) as error:
            raise NotAMockError("the HELLO answer is malformed: %s" % error) from None
        missing = []
        if identity.magic != MAGIC:
            missing.append("magic %r (got %r)" % (MAGIC, identity.magic))
        if identity.banner != BANNER:
            missing.append("banner %r (got %r)" % (BANNER, identity.banner))
        if identity.protocol_version != PROTOCOL_VERSION:
            missing.append("protocol version %d (got %d)" % (PROTOCOL_VERSION, identity.protocol_version))
        if missing:
            raise NotAMockError("the peer is not a pumpmock pump: missing " + "; ".join(missing))
        self.identity = identity
        self.role = Role.NONE
        return identity

    def authenticate(self, role, key=None):
        """Challenge–response for `role`, with the mock's derived key unless `key` is given."""
        serial = self.identity.serial
        key = key if key is not None else role_key(serial, role)
        nonce = self.request(m.AuthChallengeRequest(role)).nonce
        granted = self.request(m.AuthResponseRequest(role, auth_mac(key, nonce, serial, role))).role
        self.role = granted
        return granted

    def logout(self):
        self.request(m.LogoutRequest())
        self.role = Role.NONE

    # ---- interrogation and therapy ---------------------------------------------------------------
    def status(self):
        return self.request(m.GetStatusRequest())

    def prescription(self):
        """(version, Prescription) of the programmed prescription."""
        answer = self.request(m.GetPrescriptionRequest())
        return answer.version, answer.prescription

    def validate(self, prescription):
        """Every finding for `prescription`, without applying it."""
        return self.request(m.ValidatePrescriptionRequest(prescription)).findings

    def program(self, prescription, overrides=()):
        """Program `prescription`; `overrides` must name exactly its soft findings' limits."""
        return self.request(m.ProgramPrescriptionRequest(tuple(overrides), prescription))

    def refill(self, drug, concentration_ug_per_ml, volume_added_ul):
        return self.request(m.RefillRequest(drug, concentration_ug_per_ml, volume_added_ul))

    def clinician_bolus(self, dose_ug, duration_s, kind=3):
        return self.request(m.ClinicianBolusRequest(kind, dose_ug, duration_s))

    def ptm_bolus(self):
        return self.request(m.PtmBolusRequest())

    def suspend(self):
        return self.request(m.SuspendRequest()).therapy_state

    def resume(self):
        return self.request(m.ResumeRequest()).therapy_state

    def alarms(self):
        return self.request(m.GetAlarmsRequest()).alarms

    def ack_alarm(self, code, instance):
        return self.request(m.AckAlarmRequest(code, instance)).remaining

    def read_log(self, start_index=0, max_entries=LOG_PAGE):
        return self.request(m.ReadLogRequest(start_index, max_entries))

    def download_log(self, start_index=None, window=2):
        """Every log entry from `start_index` (default: the oldest held) to the newest.

        Keeps `window` READ_LOG requests in flight so a slow line never idles between pages.
        """
        first = self.read_log(0 if start_index is None else start_index, LOG_PAGE)
        start = first.oldest_index if start_index is None else max(start_index, first.oldest_index)
        entries = [e for e in first.entries if e.index >= start]
        end = first.next_index
        next_start = start + len(entries) if entries else start
        in_flight = collections.deque()
        while next_start < end or in_flight:
            while next_start < end and len(in_flight) < window:
                request = m.ReadLogRequest(next_start, LOG_PAGE)
                in_flight.append((self.send(request), request))
                next_start += LOG_PAGE
            seq, request = in_flight.popleft()
            page = self.wait(seq, request)
            entries.extend(e for e in page.entries if e.index < end)
        return entries

    # ---- context manager -------------------------------------------------------------------------
    def close(self):
        close = getattr(self.port, "close", None)
        if close is not None:
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _port_failed(operation, error):
    if isinstance(error, PortError):
        return error
    return PortError("the port failed on %s: %s" % (operation, error))
