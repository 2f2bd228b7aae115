"""The fuzzing oracle: checks what a pump sent against the independent model, and the safety invariants.

    checker = Checker(serial, capacity_ul)
    checker.exchange(data_written, lo_ms, hi_ms, frames_received)   # raises Violation

A pump on a virtual clock handles bytes at a known moment, so the model is one state and every
frame must match it exactly. A pump on a real clock (a pty, a board) handled them at some ms the
host only knows to within the round trip, so the checker keeps every model state that agrees
with everything the pump said so far (one per candidate moment, merged when equal), and fails
only when none is left. When the write ends with TC_GET_CLOCK, the pump's answer names the
moment, and each state is tried at that one ms first (the window still bounds it). The safety
invariants read the pump's own observations (counters, status), not the model, so they hold
even if the model were wrong.
"""

import collections
import struct

from pumpmock.protocol import messages as m
from pumpmock.protocol.catalog import MESSAGES_BY_NAME
from pumpmock.protocol.codes import Alarm, Error
from pumpmock.protocol.jsonify import describe

from .model import (ACK, EVENT, NAK, PENDING_NONCE, REQUEST, RESPONSE, LOW_UL, STOPPING, OracleModel, decode_request,
                    parse_block)

KIND_NAMES = ("REQUEST", "RESPONSE", "EVENT", "ACK", "NAK")
# Refusals that are a limit protecting the patient: a pump that accepts instead is unsafe.
SAFETY_ERRORS = {Error.HARD_LIMIT, Error.SOFT_LIMIT_NEEDS_OVERRIDE, Error.OVERRIDE_MISMATCH, Error.LOCKOUT_ACTIVE,
                 Error.MAX_ACTIVATIONS, Error.DAILY_MAX_REACHED, Error.RESERVOIR_INSUFFICIENT,
                 Error.THERAPY_STOPPED, Error.INVALID_STATE, Error.NOT_PROGRAMMED, Error.PTM_DISABLED,
                 Error.UNAUTHORIZED, Error.WRONG_ROLE, Error.BUSY, Error.SEQUENCE_REUSED}
AUTH_CHALLENGE = MESSAGES_BY_NAME["AUTH_CHALLENGE"].id
TC_RESET = MESSAGES_BY_NAME["TC_RESET"].id
TC_GET_STATUS = MESSAGES_BY_NAME["TC_GET_STATUS"].id
TC_GET_CLOCK = MESSAGES_BY_NAME["TC_GET_CLOCK"].id
ALARM_RAISED = MESSAGES_BY_NAME["ALARM_RAISED"].id
BOLUS_IDS = (MESSAGES_BY_NAME["CLINICIAN_BOLUS"].id, MESSAGES_BY_NAME["PTM_BOLUS"].id)


class Violation(AssertionError):
    """The pump broke the protocol, the model or a safety invariant. `category` groups failures."""

    def __init__(self, category, message):
        super().__init__("%s: %s" % (category, message))
        self.category = category


class LostTrack(Exception):
    """A real-clock run kept more candidate states than it may; what follows cannot be judged."""


class SplitTooWide(LostTrack):
    """A write whose frames may each have reached the pump at its own ms, over a window too wide
    to try every way (past SPLIT_WRITE_TRIES), with answers of the right kinds: left unjudged."""


def holds_reset(data):
    """Whether a write holds a TC_RESET. With no clock answer from before it, the moment of the
    reset is open: every ms of the window stays a candidate (a slow pump, MicroPython say, handles
    a write well after it left), which is why the fuzzer asks the clock first in such a write."""
    return any(msg_id == TC_RESET for msg_id, _seq, _payload in request_frames(data))


def _learn_nonces(model, expected, received):
    """`expected` with each nonce the model left pending (it cannot know it) replaced by the one the
    pump answered on that seq; the model takes it as its outstanding nonce. A pump that sent no
    such answer keeps the placeholder, which then differs as any wrong answer does."""
    if not any(f[0] == RESPONSE and f[1] == AUTH_CHALLENGE and f[3].startswith(PENDING_NONCE) for f in expected):
        return expected
    sent = {f[2]: f[3] for f in received if f[0] == RESPONSE and f[1] == AUTH_CHALLENGE and len(f[3]) == 16}
    out = []
    for frame in expected:
        if frame[0] == RESPONSE and frame[1] == AUTH_CHALLENGE and frame[3].startswith(PENDING_NONCE) \
                and frame[2] in sent:
            model.learn_nonce(frame[3], sent[frame[2]])
            frame = frame[:3] + (sent[frame[2]],)
        out.append(frame)
    return out


def frames_in(decoder, data):
    """The frames of pump output that `data` completes -> [(kind, msg_id, seq, payload) or
    ("bad", block)], cut by `decoder` (protocol's FrameDecoder, one per stream, kept by its owner:
    it holds the bytes after the last delimiter). A run longer than any frame is one
    ("bad", its first MAX_ENCODED bytes), as soon as it is that long; its rest is skipped."""
    in_run = decoder.skipping
    frames = []
    for piece in decoder.cut(bytes(data)):
        if piece[-1]:  # MAX_ENCODED bytes of a run with no delimiter: longer than any frame
            if not in_run:
                frames.append(("bad", piece))
            in_run = True
        elif in_run:  # the run's rest, up to and with its delimiter
            in_run = False
        elif len(piece) > 1:  # not a spare delimiter
            block = piece[:-1]
            frame = parse_block(block)
            frames.append(("bad", block) if frame is None or frame[0] != 1 else frame[1:])
    return frames


def describe_frame(frame):
    """One readable line for a (kind, msg_id, seq, payload) frame."""
    if frame[0] == "bad":
        return "malformed block %s" % frame[1].hex()
    kind, msg_id, seq, payload = frame
    try:
        if kind == NAK:
            message = m.Nak.decode(payload, msg_id, strict=False)
            from ..errors import refusal
            text = str(refusal(message))
        else:
            text = describe(m.CLASSES[(kind, msg_id)].decode(payload, strict=False))
    except Exception as error:  # the point is to show it: an undecodable payload is shown raw
        text = "0x%02x %s (%s)" % (msg_id, payload.hex(), error)
    return "%s seq=%s %s" % (KIND_NAMES[kind] if kind < 5 else kind, "-" if seq is None else seq, text)


def _clock_answer(frames, seq):
    """The ms of the TC_GET_CLOCK answer on `seq` among a model's frames, or None."""
    for kind, msg_id, frame_seq, payload in frames:
        if msg_id == TC_GET_CLOCK and frame_seq == seq and kind == RESPONSE:
            return struct.unpack("<Q", payload)[0]
    return None


def clock_report(data, received):
    """(seq, ms) of the pump's answer to the TC_GET_CLOCK in `data` that pins when the pump handled
    it, or None: the last one, unless a TC_RESET comes before it (after a reset the clock reads 0
    whatever the moment): then the last one before the reset, if any."""
    seq = _pinning_clock_seq(data)
    for frame in reversed(received):
        if frame[0] == RESPONSE and frame[1] == TC_GET_CLOCK and frame[2] == seq and len(frame[3]) == 8:
            return frame[2], struct.unpack("<Q", frame[3])[0]
    return None


def _pinning_clock_seq(data):
    before_reset = after_reset = None
    reset = False
    for msg_id, seq, _payload in request_frames(data):
        if msg_id == TC_RESET:
            reset = True
        elif msg_id == TC_GET_CLOCK:
            if reset:
                after_reset = seq
            else:
                before_reset = seq
    return before_reset if reset else after_reset if after_reset is not None else before_reset


def _pins(data, seq):
    """Whether the answer to TC_GET_CLOCK `seq` in `data` pins the moment: no TC_RESET before it."""
    for msg_id, frame_seq, _payload in request_frames(data):
        if msg_id == TC_RESET:
            return False
        if msg_id == TC_GET_CLOCK and frame_seq == seq:
            return True
    return True


def request_frames(data):
    """(msg_id, seq, payload) of the valid REQUEST frames in data (what the pump must answer)."""
    out = []
    for block in bytes(data).split(b"\x00"):
        frame = parse_block(block) if block else None
        if frame and frame[1] == REQUEST:
            out.append((frame[2], frame[3], frame[4]))
    return out


# Model runs (~20-150 µs each) the judgement of one write may cost, once at one moment for the
# whole write and once frame by frame, before the oracle leaves it unjudged or judges it by its
# answers' kinds alone (see _exchange_real).
SPLIT_WRITE_TRIES = 20_000


class Checker:
    """The model states consistent with the pump so far; exchange() narrows them or fails."""

    def __init__(self, serial="PM-000001", capacity_ul=20_000, test_mode=True, max_candidates=24):
        self.models = [OracleModel(serial, capacity_ul, test_mode)]
        self.max_candidates = max_candidates
        self.capped = False  # candidates were dropped: an empty set no longer proves a fault
        self.exchanges = 0
        self.raised = set()  # (code, instance) of every ALARM_RAISED the model predicted
        # Replays only: events the model expected but the pump has not sent yet, and the reverse.
        self._events_owed, self._events_early = collections.Counter(), collections.Counter()
        self.nonces = {}  # nonce -> the seq it answered, for every nonce issued since the last TC_RESET

    @property
    def model(self):
        """The first candidate (the only one on a virtual clock): what the fuzzer plans with."""
        return self.models[0]

    @property
    def certain(self):
        """One candidate left and none ever dropped: the model is the pump's state, to the ms."""
        return len(self.models) == 1 and not self.capped

    def exchange(self, data, lo_ms, hi_ms, received, exact=True, events_in_any_order=False, clock=None):
        """The pump got `data` at a shell ms in [lo_ms, hi_ms] and sent `received` (frames_in).

        clock: (seq, ms) when `data` ended with TC_GET_CLOCK on that seq and the pump answered ms.
        events_in_any_order: a replay writes frame by frame, so the end-of-call re-announcements
        may fall between answers that were one call when recorded."""
        self.exchanges += 1
        for frame in received:
            if frame[0] == "bad":
                raise Violation("malformed output", "the pump sent a frame that does not decode: %s"
                                % frame[1].hex())
        self._check_nonces(data, received)
        if clock is not None and not _pins(data, clock[0]):
            clock = None  # it read 0 after a reset, whatever the moment: the window decides
        unpinned_reset = clock is None and lo_ms != hi_ms and holds_reset(data)
        if exact and len(self.models) == 1 and not unpinned_reset:
            pinned = self._pinned(bytes(data), lo_ms, hi_ms, clock) if clock is not None and lo_ms != hi_ms else None
            if pinned:  # a replay on a real clock: the pump's clock answer says which ms in the window
                self.models, expected = [pinned[0][0]], pinned[0][1]
            else:
                expected = self.models[0].receive(data, lo_ms)
            expected = _learn_nonces(self.models[0], expected, received)
            self._remember(expected)
            problem = self._compare(expected, received, True, events_in_any_order)
            if problem:
                raise self._violation(data, expected, received, problem)
            return
        self._exchange_real(data, lo_ms, hi_ms, received, clock)

    def _exchange_real(self, data, lo_ms, hi_ms, received, clock):
        # A pump almost always reads one write whole and handles its frames at one ms: try that
        # first (one candidate per state and moment), and only when nothing survives allow each
        # frame its own moment (a slow UART can split a write), which costs far more candidates.
        # When the pump said its clock, the one moment per state that can match is tried first.
        data = bytes(data)
        if clock is not None and self._narrow(self._pinned(data, lo_ms, hi_ms, clock), received, data, final=False):
            return
        # Bounded too: states x moments of a slow line's window (24 x 1,400 ms) cost seconds of
        # CPU in one write, out of reach of any budget check; past the bound it is unjudged.
        whole = self._candidates([data], lo_ms, hi_ms, limit=SPLIT_WRITE_TRIES)
        if not self._narrow(whole, received, data, final=False):
            blocks = [block + b"\x00" for block in data.split(b"\x00")[:-1]]
            tail = data.split(b"\x00")[-1]
            if tail:
                blocks.append(tail)
            try:
                split = self._candidates(blocks, lo_ms, hi_ms, limit=SPLIT_WRITE_TRIES)
            except LostTrack:
                # Too wide a window to try every moment of every frame (a slow line). Moments
                # change payloads (a clock, a delivered volume), never which answers come: when
                # no one-moment candidate has the pump's answers in kind, id and seq, that is a
                # finding at any moment; else the write cannot be judged (LostTrack, no finding).
                shape = [f[:3] for f in received if f[0] != EVENT]
                if any([f[:3] for f in out if f[0] != EVENT] == shape for _model, out in whole):
                    raise
                split = whole
            self._narrow(split, received, data, final=True)

    def _pinned(self, data, lo_ms, hi_ms, clock):
        """(model, outputs) per state at the one shell ms at which its TC_GET_CLOCK answer is `clock`.

        A state's clock is base + shell ms, and a warp earlier in `data` adds a fixed amount: so
        the ms is the reported clock minus the base, or if that is outside the window (a warp),
        what a first try in the window answered tells how far to move. Every other single moment
        answers another clock, so this is all that can survive."""
        seq, reported = clock
        states = []
        for model in self.models:
            start = max(lo_ms, model.last_shell if model.last_shell is not None else lo_ms)
            end = max(hi_ms, start)
            shell = reported - model.base
            if not start <= shell <= end:
                shell = start
            for _attempt in range(2):
                if not start <= shell <= end:
                    break
                candidate = model.copy()
                out = candidate.receive(data, shell)
                answered = _clock_answer(out, seq)
                if answered == reported or answered is None:
                    states.append((candidate, out))
                    break
                shell += reported - answered
        return states

    def _candidates(self, blocks, lo_ms, hi_ms, limit=None):
        """(model, outputs) for every state and every way the blocks' moments can fall in [lo, hi].

        limit: at most this many tries (model runs), else LostTrack: k blocks over a window of W ms
        are about W**k / k! ways, and a slow line's round trip makes W a second or more."""
        states = [(model, []) for model in self.models]
        tries = 0
        for block in blocks or [b""]:
            grown = {}
            for model, outputs in states:
                start = max(lo_ms, model.last_shell if model.last_shell is not None else lo_ms)
                tries += max(hi_ms, start) + 1 - start
                if limit is not None and tries > limit:
                    raise SplitTooWide("a write split over a %d ms window has too many ways to judge"
                                       % (hi_ms - lo_ms))
                for shell in range(start, max(hi_ms, start) + 1):
                    candidate = model.copy()
                    out = outputs + candidate.receive(block, shell)
                    key = (candidate.key(), tuple(out))
                    grown.setdefault(key, (candidate, out))
            states = list(grown.values())
        return states

    def _narrow(self, states, received, data, final):
        """Keep the candidates that agree with `received`; False (nothing changed) if none and not final."""
        survivors = []
        first_problem = None
        states = [(model, _learn_nonces(model, outputs, received)) for model, outputs in states]
        for model, outputs in states:
            problem = self._compare(outputs, received, False)
            if problem is None:
                survivors.append(model)
            elif first_problem is None:
                first_problem = (outputs, problem)
        if not survivors:
            if not final:
                return False
            if self.capped:
                raise LostTrack("no candidate state left after dropping some")
            raise self._violation(data, first_problem[0], received, first_problem[1])
        if len(survivors) > 1:  # equal states have equal futures: keep one of each
            unique = {}
            for model in survivors:
                unique.setdefault(model.key(), model)
            survivors = list(unique.values())
        if len(survivors) > self.max_candidates:
            survivors = survivors[:self.max_candidates]
            self.capped = True
        self.models = survivors
        for model, outputs in states:
            self._remember(outputs)
        return True

    def _check_nonces(self, data, received):
        """A nonce is never issued twice (PUMP_MODEL.md 10): a repeat lets a captured AUTH_RESPONSE in.
        Only TC_RESET with a seed may restart a (seeded) sequence, so a reset forgets what was seen."""
        if holds_reset(data):
            self.nonces.clear()
        for kind, msg_id, seq, payload in received:
            if kind == RESPONSE and msg_id == AUTH_CHALLENGE and len(payload) == 16:
                if self.nonces.setdefault(payload, seq) != seq:  # the same answer to a retransmission is one nonce
                    raise Violation("SAFETY: a nonce repeated", "AUTH_CHALLENGE answered nonce %s, which this "
                                    "pump already issued: an AUTH_RESPONSE captured then is accepted now"
                                    % payload.hex())

    def _remember(self, expected):
        for kind, msg_id, _seq, payload in expected:
            if kind == EVENT and msg_id == ALARM_RAISED:
                self.raised.add((payload[0], struct.unpack_from("<H", payload, 4)[0]))

    def _compare(self, expected, received, exact, events_in_any_order=False):
        """None when `received` is what the model says, else the reason."""
        if exact and events_in_any_order:
            answers = [f for f in expected if f[0] != EVENT]
            if answers != [f for f in received if f[0] != EVENT]:
                return "answers differ"
            return self._settle_events(expected, received)
        if exact:
            if len(expected) == len(received) and all(
                    e[:2] == r[:2] and (e[2] is None or e[2] == r[2]) and e[3] == r[3]
                    for e, r in zip(expected, received)):
                return None
            return "frames differ"
        answers = [f for f in expected if f[0] != EVENT]
        got = [f for f in received if f[0] != EVENT]
        if answers != got:
            return "answers differ"
        for frame in received:
            if frame[0] == EVENT and frame[1] == ALARM_RAISED \
                    and (frame[3][0], struct.unpack_from("<H", frame[3], 4)[0]) not in self.raised \
                    and not any(e[0] == EVENT and e[3][:6] == frame[3][:6] for e in expected):
                return "an alarm event the model never raised"
        return None

    def _settle_events(self, expected, received):
        """Events may land one write early or late in a replay: a replay's reads wait on its own
        clock, so an event due at a write's moment can come with the previous write's answers.
        Any event still unmatched one write later is a real difference."""
        owed = self._events_owed + collections.Counter((f[1], f[3]) for f in expected if f[0] == EVENT)
        early = self._events_early + collections.Counter((f[1], f[3]) for f in received if f[0] == EVENT)
        matched = owed & early
        owed, early = owed - matched, early - matched
        if (owed & self._events_owed) or (early & self._events_early):
            return "events differ"
        self._events_owed, self._events_early = owed, early
        return None

    def _violation(self, data, expected, received, problem):
        category = "response mismatch"
        answers = [f for f in expected if f[0] != EVENT]
        got = [f for f in received if f[0] != EVENT]
        requests = {(msg_id, seq): payload for msg_id, seq, payload in request_frames(data)}
        for want, have in zip(answers, got):
            if want == have:
                continue
            if want[0] == NAK and want[3][0] == Error.SEQUENCE_REUSED and (have[0] == RESPONSE or
                                                                        have[3][:1] != want[3][:1]):
                category = "SAFETY: exactly once"  # a reused seq with new content was handled anew
            elif want[0] == NAK and have[0] == RESPONSE and want[3][0] in SAFETY_ERRORS:
                category = "SAFETY: accepted what a limit forbids"
            elif want[0] == RESPONSE and have[0] == NAK and want[1] in BOLUS_IDS:
                category = "refused a bolus the rules allow"
            break
        if len(got) > len(answers):
            category = "answered what must be dropped" if len(got) > len(requests) else category
        if len(got) < len(answers):
            category = "no answer"
        elif category == "response mismatch" and _clock_differs(answers, got):
            category = "pump clock != model clock"  # after a power cut, say: delivery runs on the wrong time
        lines = ["%s after %s" % (problem, _requests_text(data, requests)), "  expected (model):"]
        lines += ["    " + describe_frame(f) for f in expected] or ["    (nothing)"]
        lines += ["  received (pump):"] + (["    " + describe_frame(f) for f in received] or ["    (nothing)"])
        return Violation(category, "\n".join(lines))


_CLOCK_FIELDS = {TC_GET_STATUS: (m.TcGetStatusResponse, "clock_s"), TC_GET_CLOCK: (m.TcGetClockResponse, "clock_ms")}


def _clock_differs(answers, got):
    """Whether an answer that tells the pump clock (TC_GET_STATUS, TC_GET_CLOCK) differs from the model's."""
    for want, have in zip(answers, got):
        if want[0] == have[0] == RESPONSE and want[1] == have[1] and want[1] in _CLOCK_FIELDS:
            cls, field = _CLOCK_FIELDS[want[1]]
            try:
                if getattr(cls.decode(want[3]), field) != getattr(cls.decode(have[3]), field):
                    return True
            except Exception:  # a malformed answer is its own finding
                continue
    return False


def _requests_text(data, requests):
    names = []
    for (msg_id, seq), payload in requests.items():
        try:
            names.append("%s seq=%d" % (describe(decode_request(msg_id, payload)), seq))
        except Exception:
            names.append("0x%02x seq=%d %s" % (msg_id, seq, payload.hex()))
    return "; ".join(names) if names else "%d bytes without a valid request" % len(data)


# ---- safety invariants on the pump's own observations ---------------------------------------------
def check_observations(counters, status, previous=None):
    """Conservation, alarms that must be raised, therapy state, monotone totals. Raises Violation."""
    if counters.filled_ul != counters.delivered_ul + counters.removed_ul + status.reservoir_ul:
        raise Violation("SAFETY: volume not conserved", "filled %d µL != delivered %d + withdrawn %d + in the "
                        "reservoir %d" % (counters.filled_ul, counters.delivered_ul, counters.removed_ul,
                                          status.reservoir_ul))
    if status.reservoir_ul > status.capacity_ul:
        raise Violation("SAFETY: overfilled", "%d µL in a %d µL reservoir" % (status.reservoir_ul, status.capacity_ul))
    listed = set(status.active_alarms)
    programmed = status.mode != 0
    must = []
    if programmed and status.reservoir_ul == 0:
        must.append(Alarm.EMPTY_RESERVOIR)
    if programmed and status.reservoir_ul <= LOW_UL:
        must.append(Alarm.LOW_RESERVOIR)
    if status.battery_state == 2:
        must.append(Alarm.END_OF_SERVICE)
    if status.battery_state >= 1:
        must.append(Alarm.ELECTIVE_REPLACEMENT)
    missing = [alarm.name for alarm in must if alarm not in listed]
    if missing:
        raise Violation("alarm missing", "%s not raised: reservoir %d µL, battery state %d, alarms %s"
                        % (", ".join(missing), status.reservoir_ul, status.battery_state, sorted(listed)))
    stopped = any(code in STOPPING for code in listed)
    if programmed and stopped != (status.therapy_state == 3):
        raise Violation("SAFETY: therapy state", "therapy state %d with alarms %s" % (status.therapy_state,
                                                                                     sorted(listed)))
    if status.therapy_state != 1 and (status.basal_rate_ug_per_day or status.basal_rate_ul_per_day):
        raise Violation("SAFETY: delivering while stopped", "therapy state %d but basal %d µg/day"
                        % (status.therapy_state, status.basal_rate_ug_per_day))
    if previous is not None:
        for name in ("delivered_ul", "delivered_ug", "boluses_delivered", "filled_ul", "removed_ul"):
            if getattr(counters, name) < getattr(previous, name):
                raise Violation("SAFETY: counter went back", "%s fell from %d to %d" % (
                    name, getattr(previous, name), getattr(counters, name)))


__all__ = ["Checker", "Violation", "LostTrack", "SplitTooWide", "frames_in", "describe_frame", "check_observations",
           "request_frames", "clock_report", "ACK", "RESPONSE", "NAK", "EVENT", "REQUEST"]
