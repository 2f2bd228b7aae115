"""The host's end of the protocol, sans-I/O: the firmware core's mirror. Messages and time in, bytes out.

    conn = Connection(timeout_ms=250, retries=3)
    out = conn.send(request, now_ms)        # bytes to write; the seq it took is conn.seq
    out = conn.receive_data(data)           # bytes from the line -> bytes to write (event ACKs)
    out = conn.poll(now_ms)                 # no input: time runs -> bytes to write (retransmissions)
    conn.next_deadline_ms()                 # when poll() next has work, or None
    result = conn.next_result()             # Answer, Refused, BadAnswer, TimedOut, Event, BadEvent,
                                            # BadFrame, StaleFrame in line order; None when empty
    out = conn.send_frame(wire, now_ms)     # a request frame the caller built: answered by RawAnswer

now_ms is the shell's monotonic clock in ms (an int or a float). The connection never reads a
clock, sleeps or touches a port, so harness.client's blocking PumpSession, a test or an async
shell drive it the same way. The rules it keeps are the ones a careful programmer app must:
a delimiter before the first bytes and before every retransmission; a timed-out request sent
again with the SAME seq (never a new one), `retries` times, then TimedOut; an answer taken only
for its own seq and message id, decoded strictly and checked for plausibility; a NAK turned into
the typed refusal of harness.errors; every event ACKed, every copy of it, and given to the caller
once. Results stay queued until taken: a shell takes them after each receive_data and poll, as
PumpSession does.
"""

import collections
import os

from pumpmock.protocol import messages as m
from pumpmock.protocol.catalog import MAX_RETRIES, RESPONSE_TIMEOUT_MS
from pumpmock.protocol.errors import RemoteProtocolError
from pumpmock.protocol.framing import (ACK, EVENT, NAK, REQUEST, RESPONSE, Frame, FrameDecoder, decode_frame,
                                       encode_frame)

from . import plausibility
from .errors import ImplausibleAnswerError, LinkTimeout, MalformedAnswerError, refusal

RECENT_EVENTS = 64  # event seqs remembered to drop a re-announced copy (the pump re-sends until ACKed)
_RESPONSES = {msg_id: cls for (kind, msg_id), cls in m.CLASSES.items() if kind == RESPONSE}
# Answers looked at twice: decoded, then checked against each other (harness.plausibility)
_PLAUSIBLE = {m.GetStatusResponse: plausibility.status_problems, m.TcGetStatusResponse: plausibility.status_problems,
              m.HelloResponse: plausibility.hello_problems}


# ---- results ---------------------------------------------------------------------------------
class Outcome:
    """How one request ended. `result()` gives the answer or raises what went wrong."""

    __slots__ = ("seq", "request")

    def __init__(self, seq, request):
        self.seq = seq
        self.request = request

    def __repr__(self):
        return "%s(seq=%d, %s)" % (type(self).__name__, self.seq, type(self.request).__name__)


class Answer(Outcome):
    """The typed response to the request sent with `seq`."""

    __slots__ = ("message",)

    def __init__(self, seq, request, message):
        self.seq = seq  # set here, not by Outcome.__init__: one call less on every round trip
        self.request = request
        self.message = message

    def result(self):
        return self.message


class RawAnswer(Outcome):
    """The answer, RESPONSE or NAK and undecoded, to a frame the caller built (send_frame): `request`
    is that frame, result() is (kind, payload)."""

    __slots__ = ("kind", "payload")

    def __init__(self, seq, request, kind, payload):
        self.seq = seq
        self.request = request
        self.kind = kind
        self.payload = payload

    def result(self):
        return self.kind, self.payload


class Failed(Outcome):
    """A request that ended without a usable answer; `error` is the exception result() raises."""

    __slots__ = ("error",)

    def __init__(self, seq, request, error):
        self.seq = seq
        self.request = request
        self.error = error

    def result(self):
        raise self.error


class Refused(Failed):
    """The pump said NAK: `error` is the PumpRefusedError subclass of its code (HardLimitError, ...)."""


class BadAnswer(Failed):
    """The pump answered with something that cannot be right: MalformedAnswerError or ImplausibleAnswerError."""


class TimedOut(Failed):
    """No answer after the first send and every retransmission: `error` is a LinkTimeout."""


class Event:
    """A new event from the pump (its ACK is already in the bytes receive_data returned)."""

    __slots__ = ("seq", "message")

    def __init__(self, seq, message):
        self.seq = seq
        self.message = message

    def __repr__(self):
        return "Event(seq=%d, %r)" % (self.seq, self.message)


class BadEvent:
    """An event frame whose payload does not decode: not ACKed, so the pump sends it again."""

    __slots__ = ("frame", "error")

    def __init__(self, frame, error):
        self.frame = frame
        self.error = error

    def __repr__(self):
        return "BadEvent(%r, %s)" % (self.frame, self.error)


class BadFrame:
    """Bytes between delimiters that are no frame (CRC, COBS, too short, too long): the line's fault."""

    __slots__ = ("error",)

    def __init__(self, error):
        self.error = error

    def __repr__(self):
        return "BadFrame(%s)" % self.error


class StaleFrame:
    """A good frame nobody waits for: a late answer to a request already answered or given up, say."""

    __slots__ = ("frame",)

    def __init__(self, frame):
        self.frame = frame

    def __repr__(self):
        return "StaleFrame(%r)" % (self.frame,)


# ---- the connection ------------------------------------------------------------------------------
# A request waiting for its answer: [request, msg_id, wire bytes, deadline of this attempt, misses].
# A list, not an object: one is made on every round trip, and a list costs a third as much.
_REQUEST, _MSG_ID, _WIRE, _DEADLINE, _MISSES = range(5)


class Connection:
    """All of one host session's protocol state; the caller moves the bytes and reads the clock."""

    def __init__(self, *, timeout_ms=RESPONSE_TIMEOUT_MS, retries=MAX_RETRIES, initial_seq=None):
        self.timeout_ms = timeout_ms
        self.retries = retries
        # The first request takes initial_seq + 1. Random by default, so a restarted host does not
        # collide with its last session's cached answers; fixed when a test must replay exactly.
        self.seq = (initial_seq if initial_seq is not None else int.from_bytes(os.urandom(2), "little")) & 0xFFFF
        self.stats = collections.Counter()
        self._decoder = FrameDecoder()  # the one splitter, capped at MAX_ENCODED
        self._pending = {}  # seq -> [request, msg_id, wire, deadline_ms, misses] until its outcome
        self._results = collections.deque()
        self._recent_events = collections.deque(maxlen=RECENT_EVENTS)
        self._need_delimiter = True  # a 0x00 first ends whatever partial frame the pump holds

    # ---- bytes out ------------------------------------------------------------------------------
    def send(self, request, now_ms):
        """Frame `request` under the next seq (then conn.seq) -> the bytes to write; its deadline starts now."""
        seq = self.seq = (self.seq + 1) & 0xFFFF
        msg_id = request.MESSAGE.id
        wire = encode_frame(REQUEST, msg_id, seq, request.encode())
        self._pending[seq] = [request, msg_id, wire, now_ms + self.timeout_ms, 0]
        if self._need_delimiter:  # _out, inline: this is every round trip's path
            self._need_delimiter = False
            return b"\x00" + wire
        return wire

    def send_frame(self, wire, now_ms):
        """A request frame built by the caller -> the bytes to write. For what a typed message cannot
        say (an unknown id, a wrong length, a seq of the caller's choosing): retransmitted and timed
        out as any request; its answer comes back undecoded, a RawAnswer. conn.seq is not moved."""
        wire = bytes(wire)
        frame = decode_frame(wire)
        self._pending[frame.seq] = [frame, frame.msg_id, wire, now_ms + self.timeout_ms, 0]
        return self._out(wire)

    def _out(self, wire):
        if self._need_delimiter:
            self._need_delimiter = False
            return b"\x00" + wire
        return wire

    # ---- bytes and time in ------------------------------------------------------------------------
    def receive_data(self, data):
        """Bytes from the line -> bytes to write (an ACK for every event copy); results queued.

        Receipt needs no clock: an answer counts whenever it comes while its request is outstanding.
        """
        out = b""
        results = self._results
        for item in self._decoder.feed(data):
            if isinstance(item, RemoteProtocolError):
                self.stats["bad_frames"] += 1
                results.append(BadFrame(item))
                continue
            kind, msg_id, seq, payload, _version = item
            if kind == EVENT:
                out += self._on_event(item)
                continue
            pending = self._pending.get(seq) if kind == RESPONSE or kind == NAK else None
            if pending is None or pending[_MSG_ID] != msg_id:
                self.stats["stale_frames"] += 1
                results.append(StaleFrame(item))
                continue
            del self._pending[seq]
            request = pending[_REQUEST]
            if request.__class__ is Frame:  # the caller built it (send_frame): its answer as it came
                results.append(RawAnswer(seq, request, kind, payload))
                continue
            results.append(_outcome(kind, msg_id, seq, payload, request))
        return out

    def poll(self, now_ms, *, count_misses=True):
        """Time ran to now_ms -> bytes to write: every request past its deadline sent again, same seq.

        One that has missed its answer `retries` times more ends as TimedOut. count_misses=False:
        the peer is still starting (a child pump booting), so this round of misses does not count.
        """
        out = b""
        for seq, pending in list(self._pending.items()):
            if pending[_DEADLINE] > now_ms:
                continue
            if count_misses:
                pending[_MISSES] += 1
                if pending[_MISSES] > self.retries:
                    del self._pending[seq]
                    request = pending[_REQUEST]
                    self._results.append(TimedOut(seq, request, LinkTimeout(
                        "no answer to %s (seq %d) after %d retransmissions of %.0f ms"
                        % (type(request).__name__, seq, self.retries, self.timeout_ms))))
                    continue
            self.stats["retransmissions"] += 1
            pending[_DEADLINE] = now_ms + self.timeout_ms
            self._need_delimiter = True  # the answer may have died in a half-received frame
            out += self._out(pending[_WIRE])
        return out

    def next_deadline_ms(self):
        """When poll() next has work (a request's answer is overdue), or None with nothing outstanding."""
        if not self._pending:
            return None
        return min(pending[_DEADLINE] for pending in self._pending.values())

    def deadline_of(self, seq):
        """The deadline of request `seq`'s current attempt, or None once it has its outcome."""
        pending = self._pending.get(seq)
        return None if pending is None else pending[_DEADLINE]

    def abandon(self, seq):
        """Stop waiting for `seq` (its caller gave up): no more retransmissions, a late answer is stale."""
        self._pending.pop(seq, None)

    def next_result(self):
        """The oldest result not yet taken, or None."""
        return self._results.popleft() if self._results else None

    @property
    def outstanding(self):
        """Seqs of the requests still waiting for an outcome."""
        return tuple(self._pending)

    # ---- inside ---------------------------------------------------------------------------------
    def _on_event(self, frame):
        try:
            event = m.CLASSES[(EVENT, frame.msg_id)].decode(frame.payload)
        except (KeyError, RemoteProtocolError) as error:
            # Not ACKed, so the pump sends it again; the caller sees it, it is never dropped silently
            # nor raised into whichever request happens to be waiting.
            self.stats["bad_events"] += 1
            self._results.append(BadEvent(frame, error))
            return b""
        ack = self._out(encode_frame(ACK, frame.msg_id, frame.seq))  # every copy: the last ACK may have been lost
        if frame.seq in self._recent_events:
            self.stats["duplicate_events"] += 1
            return ack
        self._recent_events.append(frame.seq)
        self._results.append(Event(frame.seq, event))
        return ack


def _outcome(kind, msg_id, seq, payload, request):
    """The answer in a frame (its seq and id already matched to `request`) as an Outcome."""
    try:
        if kind == NAK:
            return Refused(seq, request, refusal(m.Nak.decode(payload, msg_id), request))
        answer = _RESPONSES[msg_id].decode(payload)
    except RemoteProtocolError as error:  # the CRC held, so this is the pump's fault, not the line's
        return BadAnswer(seq, request, MalformedAnswerError(
            "the answer to %s (seq %d) does not decode: %s" % (type(request).__name__, seq, error),
            error.reason, error.raw))
    check = _PLAUSIBLE.get(type(answer))
    if check is not None:
        problems = check(answer)
        if problems:
            return BadAnswer(seq, request, ImplausibleAnswerError(problems, answer))
    return Answer(seq, request, answer)
