"""The reference programmer: a protocol session over any pyserial-like port.

It does what a careful programmer app must: sends a delimiter before talking, checks the mock's
identity before anything else, retransmits a timed-out request with the SAME sequence number
(never a new one), gives up after bounded retries, ACKs every event and de-duplicates them by
sequence number, and turns every NAK into a typed exception. An answer that does not decode
(MalformedAnswerError) or cannot be true (ImplausibleAnswerError, see harness.plausibility) is
raised as a BadAnswerError, never returned. Those rules are harness.connection's (sans-I/O);
this module is the blocking shell that moves bytes between it and a port and reads the clock.

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
from pumpmock.protocol.framing import decode_frame

from .connection import BadEvent, Connection, Event, Outcome
from .errors import BadAnswerError, LinkTimeout, NotAMockError, PortError
from .portio import DEFAULT_BUSY_POLL_S, reader_for, writer_for
from .testcontrol import TestControl

LOG_PAGE = 12  # entries per READ_LOG page (the catalog's maximum)
EVENT_QUEUE_LIMIT = 1024  # events kept for an app that never takes them; older ones are dropped and counted
OUTCOME_LIMIT = 1024  # outcomes kept for send()s never wait()ed for; older ones are dropped and counted


class PumpSession:
    """One protocol session with a pump (or the mock of one) over an open port.

    The protocol rules are its harness.connection.Connection's (`self.connection`); this class
    only moves bytes between it and the port, reads the clock and blocks until an outcome.
    """

    def __init__(self, port, *, timeout=RESPONSE_TIMEOUT_MS / 1000, retries=MAX_RETRIES,
                 host_session_id=None, clock=time.monotonic, initial_seq=None, busy_poll_s=DEFAULT_BUSY_POLL_S):
        self.busy_poll_s = busy_poll_s  # a tty's or socket's read polls this long before sleeping (portio)
        self.connection = Connection(timeout_ms=timeout * 1000, retries=retries, initial_seq=initial_seq)
        self.port = port
        self.host_session_id = host_session_id if host_session_id is not None else int.from_bytes(os.urandom(4), "little")
        self.clock = clock
        self.identity = None  # HelloResponse once the handshake passed
        self.role = Role.NONE
        # AlarmRaised / AlarmCleared not yet taken. Bounded: an app that never takes events must not
        # grow it forever; the oldest go first, counted in stats["events_dropped"].
        self.events = collections.deque(maxlen=EVENT_QUEUE_LIMIT)
        self.bad_events = collections.deque(maxlen=64)  # (Frame, error): events that did not decode
        self.test = TestControl(self)
        self.stats = self.connection.stats
        # seq -> Outcome that came before its wait(). Bounded like the event queue: an app that sends
        # and never waits must not grow it forever; the oldest go first, in stats["outcomes_dropped"].
        self._outcomes = {}

    @property
    def port(self):
        return self._port

    @port.setter
    def port(self, port):
        """The port, replaceable (a counting or recording wrapper put under a live session, say)."""
        self._port = port
        self._read = reader_for(port, self.busy_poll_s)
        self._write_port = writer_for(port)

    @property
    def timeout(self):
        """Seconds to wait for each attempt's answer."""
        return self.connection.timeout_ms / 1000

    @timeout.setter
    def timeout(self, seconds):
        self.connection.timeout_ms = seconds * 1000

    @property
    def retries(self):
        """Retransmissions of a request, with the same seq, before LinkTimeout."""
        return self.connection.retries

    @retries.setter
    def retries(self, count):
        self.connection.retries = count

    @property
    def _seq(self):  # the last seq taken; a test that replays a recording sets it
        return self.connection.seq

    @_seq.setter
    def _seq(self, seq):
        self.connection.seq = seq & 0xFFFF

    # ---- the exchange --------------------------------------------------------------------------
    def request(self, message):
        """Send a request and return its typed response; raise the typed refusal on NAK."""
        connection = self.connection
        now_ms = self.clock() * 1000
        data = connection.send(message, now_ms)
        return self._wait(connection.seq, now_ms, data)  # the clock just read serves the first look

    def request_frame(self, wire):
        """Send a request frame built by the caller and return its answer undecoded: (kind, payload).

        For a check that must send what a typed message cannot (an unknown id, a wrong length, a
        seq of its choosing); retransmitted at each deadline as any request, LinkTimeout after.
        """
        now_ms = self.clock() * 1000
        data = self.connection.send_frame(wire, now_ms)
        return self._wait(decode_frame(wire).seq, now_ms, data)

    def send(self, message):
        """Send a request without waiting; returns its seq (see wait)."""
        return self._send(message, self.clock() * 1000)

    def _send(self, message, now_ms):
        connection = self.connection
        data = connection.send(message, now_ms)
        seq = connection.seq
        try:
            self._write(data)
        except BaseException:
            connection.abandon(seq)  # as in _wait
            raise
        return seq

    def wait(self, seq, message=None):
        """Block until `seq` has its outcome, retransmitting the identical frame at each deadline.

        Returns the answer, or raises the typed refusal (NAK), BadAnswerError or LinkTimeout.
        (`message` is not needed: the connection knows what was sent under `seq`.)
        """
        return self._wait(seq, None)

    def _wait(self, seq, now_ms, data=b""):
        outcomes = self._outcomes
        connection = self.connection
        try:
            self._write(data)  # in here, so that a failed write abandons the request too
            while seq not in outcomes:
                deadline_ms = connection.deadline_of(seq)
                if deadline_ms is None:
                    raise KeyError("no request with seq %d is outstanding (or its outcome was dropped: more "
                                   "than OUTCOME_LIMIT sent requests were never waited for)" % seq)
                if now_ms is None:
                    now_ms = self.clock() * 1000
                if now_ms < deadline_ms:
                    self._receive((deadline_ms - now_ms) / 1000)
                else:
                    # A pump in a child the port just started (exec://) may still be booting: until it
                    # has said anything, or its start-up grace ran out, a missed answer does not count.
                    self._write(connection.poll(now_ms, count_misses=not self._peer_booting()))
                    self._collect()
                now_ms = None
        except BaseException:
            # The caller hears of the failure and decides; the request is never resent behind its back.
            connection.abandon(seq)
            raise
        return outcomes.pop(seq).result()

    def _peer_booting(self):
        booting_until = getattr(self.port, "startup_deadline", None)
        return booting_until is not None and time.monotonic() < booting_until

    def _write(self, data):
        if not data:
            return
        try:
            self._write_port(data, self.connection.timeout_ms / 1000)
        except OSError as error:  # pyserial's SerialException is one
            raise _port_failed("write", error) from error

    def _receive(self, timeout):
        """Read what the port has (waiting at most `timeout` s for the first byte) and dispatch it."""
        try:
            data = self._read(timeout)
        except OSError as error:
            raise _port_failed("read", error) from error
        if data:
            out = self.connection.receive_data(data)
            if out:
                self._write(out)
            self._collect()

    def _collect(self):
        """Take the connection's results: outcomes kept for their wait(), events queued for the caller."""
        next_result = self.connection.next_result
        result = next_result()
        while result is not None:
            if isinstance(result, Outcome):
                outcomes = self._outcomes
                if len(outcomes) >= OUTCOME_LIMIT and result.seq not in outcomes:
                    del outcomes[next(iter(outcomes))]  # the oldest: dicts keep insertion order
                    self.stats["outcomes_dropped"] += 1
                outcomes[result.seq] = result
            elif isinstance(result, Event):
                if len(self.events) == self.events.maxlen:
                    self.stats["events_dropped"] += 1
                self.events.append(result.message)
            elif isinstance(result, BadEvent):
                self.bad_events.append((result.frame, result.error))
            # BadFrame, StaleFrame: counted in stats by the connection, nothing to act on
            result = next_result()

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
