"""A hostile pump: the real emulator, with its answers turned against the programmer under test.

    pump = HostilePump(Pump(test_mode=True), "malformed=10%,truncated=5%,out_of_range=5%,seed=3")
    out = pump.receive(data, now_ms)      # pump-shaped: receive / poll / next_deadline_ms
    pump.stats                            # what it did, by kind
    pump.actions                          # what it did, frame by frame (dicts), for tests and reports

Link faults (harness.faults) damage bytes at random; this damages *meaning* on purpose, so a team
can check that their app survives a peer that lies: malformed and cut-off frames, well-formed
answers carrying impossible numbers, answers under the wrong sequence number, and alarm storms.
It works on whole frames of the real pump's output, so the pump underneath behaves exactly as it
always does (and is never modified); with every rate at 0 the output is byte for byte the pump's.

Spec keys (comma-separated key=value; a bad key or value is a ValueError naming the key):
  malformed=P     a frame gets a bad CRC or a garbled body (still valid COBS, so it fails the CRC)
  truncated=P     a frame is cut short; its delimiter is kept, so the stream resynchronises
  out_of_range=P  a RESPONSE is decoded, one number set to an absurd value (reservoir above its
                  capacity, battery at 250 %, a drug at concentration 0 ...) and re-encoded with a
                  correct CRC: only the app's own checks can catch it
  out_of_order=P  an answer (RESPONSE or NAK) goes out under the wrong seq, an older answer is
                  duplicated in front of it, or it is held back and delivered after the next one
  flood=P         a burst of flood_size ALARM_RAISED events (real alarm codes) before an answer
  flood_size=N    events in a burst (default 16)
  all=P           every kind at P, unless the kind is given on its own
  seed=N          the seed: the same seed and the same input give the same output, always
  link_noise      a profile (below); 1 is the default profile, link_noise; 0 or nothing: no hostility

Profiles, named mixes with a promise each:
  link_noise  malformed=5%,truncated=5%: damage a correct app survives by design (it checks every
              CRC and retransmits under the same seq), so a whole suite can run under it and still
              pass; the default, for suites. (Not out_of_order: an AUTH_CHALLENGE answer held back
              past the app's timeout meets a retransmission that the pump answers with a new
              nonce, so even a correct app can fail to log in: a protocol issue, noted for v2.)
  lying       malformed, truncated and out_of_order at 5 %, out_of_range=10%, flood=2%: a pump that lies (a reservoir above
              its capacity, a battery at 250 %, storms of alarms nobody raised). A correct app
              does not survive it as if nothing happened: it must refuse, report and never act
              on a lie, never crash or hang. For robustness tests, not for a suite's pass.

P is 0.05 or 5%. Each frame is hit by at most one kind: one draw picks it, among the kinds that
can apply to that frame (out_of_order and flood need an answer, out_of_range a RESPONSE it knows
a lie for), so a kind hits about P of the frames it can apply to, and the rates add up to at most
100 %. ALARM_RAISED and ALARM_CLEARED events can be malformed or truncated (the pump re-sends
them), never reordered.

Host-side only: firmware_mock must not import this (it runs on MicroPython).
"""

import collections
import random

from pumpmock.protocol import messages
from pumpmock.protocol import cobs
from pumpmock.protocol.catalog import MESSAGES, PUMP
from pumpmock.protocol.codes import ALARM_LATCHING, ALARM_PRIORITY, DRUG_LIBRARY, Alarm, AlarmState
from pumpmock.protocol.crc import crc16
from pumpmock.protocol.errors import ProtocolError, RemoteProtocolError
from pumpmock.protocol.framing import EVENT, KIND_NAMES, NAK, RESPONSE, FrameDecoder, decode_frame, encode_frame

KINDS = ("malformed", "truncated", "out_of_range", "out_of_order", "flood")
PROFILES = {
    "link_noise": "malformed=5%,truncated=5%",
    "lying": "malformed=5%,truncated=5%,out_of_order=5%,out_of_range=10%,flood=2%",
}
DEFAULT_PROFILE = "link_noise"
DEFAULT_SPEC = PROFILES[DEFAULT_PROFILE]
DEFAULT_FLOOD_SIZE = 16
MAX_FLOOD_SIZE = 255
HOLD_MS = 400  # a held-back answer goes out after the next answer, or this late (past a 250 ms timeout)
HISTORY = 8  # earlier answers kept to duplicate
LOG_LIMIT = 10_000  # actions kept (the oldest are dropped; stats keep counting)
FAKE_EVENT_SEQ = 0xC000  # flood events use seqs from here up, far from the pump's own counter
FAKE_INSTANCE = 0xF000  # and alarm instances from here up
_U32 = 0xFFFFFFFF

_NAMES = {message.id: message.name for message in MESSAGES}
_CAPACITY_UL = PUMP["capacity_ul"]
_MAX_CONCENTRATION = max(limits.max_concentration_ug_per_ml for limits in DRUG_LIBRARY.values())
_MAX_HARD_DAILY = max(limits.hard_max_ug_per_day for limits in DRUG_LIBRARY.values())


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------
def _parse_rate(key, text):
    number = text[:-1].strip() if text.endswith("%") else text
    try:
        value = float(number)
    except ValueError:
        raise ValueError("hostile spec: %s=%r is not a rate (0.05 or 5%%)" % (key, text)) from None
    if text.endswith("%"):
        value /= 100
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise ValueError("hostile spec: %s=%r must be between 0 and 1 (0%% and 100%%)" % (key, text))
    return value


def _parse_int(key, text, low, high):
    try:
        value = int(text)
    except ValueError:
        raise ValueError("hostile spec: %s=%r is not a whole number" % (key, text)) from None
    if not low <= value <= high:
        raise ValueError("hostile spec: %s=%r must be %d .. %d" % (key, text, low, high))
    return value


class HostileSpec:
    """What a HostilePump does and how often: a rate per kind, the burst size and the seed."""

    def __init__(self, rates=None, flood_size=DEFAULT_FLOOD_SIZE, seed=0):
        rates = dict(rates or {})
        unknown = sorted(set(rates) - set(KINDS))
        if unknown:
            raise ValueError("hostile spec: unknown kind %r (kinds: %s)" % (unknown[0], ", ".join(KINDS)))
        self.rates = {kind: float(rates.get(kind, 0.0)) for kind in KINDS}
        for kind, rate in self.rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError("hostile spec: %s=%r must be between 0 and 1" % (kind, rate))
        total = sum(self.rates.values())
        if total > 1.0 + 1e-9:
            raise ValueError("hostile spec: the rates add up to %.0f%%; a frame is hit by one kind at most, "
                             "so they can add up to 100%% at most" % (total * 100))
        if not 1 <= flood_size <= MAX_FLOOD_SIZE:
            raise ValueError("hostile spec: flood_size=%r must be 1 .. %d" % (flood_size, MAX_FLOOD_SIZE))
        self.flood_size = flood_size
        self.seed = seed

    @classmethod
    def parse(cls, text):
        """Parse `malformed=10%,truncated=5%,seed=3`, `all=5%`, a profile (`link_noise,seed=3`),
        `1` (the default profile) or `0`."""
        explicit, every, flood_size, seed = {}, None, DEFAULT_FLOOD_SIZE, 0
        given = set()  # a key given twice is a typo, not "the last one wins"
        for item in (part.strip() for part in (text or "").split(",")):
            if not item or item == "0":
                continue
            if item == "1" or item in PROFILES:
                profile = PROFILES[DEFAULT_PROFILE if item == "1" else item]
                for key, value in (pair.split("=") for pair in profile.split(",")):
                    explicit.setdefault(key, _parse_rate(key, value))
                continue
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if sep and key in given:
                raise ValueError("hostile spec: %r is given twice" % key)
            given.add(key)
            if not sep:
                raise ValueError("hostile spec: %r is not key=value or a profile (keys: %s, all, flood_size, "
                                 "seed; profiles: %s)" % (item, ", ".join(KINDS), ", ".join(PROFILES)))
            if key in KINDS:
                explicit[key] = _parse_rate(key, value)
            elif key == "all":
                every = _parse_rate(key, value)
            elif key == "flood_size":
                flood_size = _parse_int(key, value, 1, MAX_FLOOD_SIZE)
            elif key == "seed":
                seed = _parse_int(key, value, 0, 2 ** 64 - 1)
            else:
                raise ValueError("hostile spec: unknown key %r (keys: %s, all, flood_size, seed)"
                                 % (key, ", ".join(KINDS)))
        rates = {kind: explicit.get(kind, every if every is not None else 0.0) for kind in KINDS}
        return cls(rates, flood_size, seed)

    @property
    def active(self):
        return any(self.rates.values())

    def __str__(self):
        parts = ["%s=%g%%" % (kind, rate * 100) for kind, rate in self.rates.items() if rate]
        if self.flood_size != DEFAULT_FLOOD_SIZE:
            parts.append("flood_size=%d" % self.flood_size)
        return ",".join(parts + ["seed=%d" % self.seed])

    def __repr__(self):
        return "HostileSpec(%r)" % str(self)


# ---------------------------------------------------------------------------------------------
# Lies a RESPONSE can tell: message name -> function(message, rng) -> [(field path, value, why)]
# ---------------------------------------------------------------------------------------------
def _status_lies(status, rng):
    capacity = status.capacity_ul or _CAPACITY_UL
    lies = [(("reservoir_ul",), min(capacity + rng.randint(1, 10 * capacity), _U32),
             "more drug in the reservoir than it can hold"),
            (("battery_pct",), rng.choice((101, 150, 250, 255)), "battery above 100 %"),
            (("delivered_24h_ug",), _MAX_HARD_DAILY * rng.randint(10, 1000),
             "more delivered in 24 h than any drug's hard daily maximum")]
    if status.drug:
        lies.append((("concentration_ug_per_ml",), 0, "a drug in the reservoir at concentration 0"))
    else:
        lies.append((("concentration_ug_per_ml",), _MAX_CONCENTRATION * rng.randint(2, 1000),
                     "a concentration above every drug's maximum"))
    return lies


def _prescription_lies(answer, rng):
    rx = answer.prescription
    return [(("prescription", "concentration_ug_per_ml"), 0, "a prescription at concentration 0"),
            (("prescription", "daily_dose_ug"), min(rx.max_daily_dose_ug + rng.randint(1, 10 ** 6), _U32),
             "a daily dose above the prescription's own maximum")]


def _findings_lies(answer, rng):
    if not answer.findings:
        return []
    return [(("findings", rng.randrange(len(answer.findings)), "severity"), rng.randint(3, 255),
             "a finding severity that is neither SOFT nor HARD")]


def _alarms_lies(answer, rng):
    if not answer.alarms:
        return []
    i = rng.randrange(len(answer.alarms))
    return [(("alarms", i, "announce_count"), 0, "an alarm announced zero times"),
            (("alarms", i, "priority"), rng.randint(4, 255), "an alarm priority that does not exist")]


_LIES = {
    "HELLO": lambda hello, rng: [(("capacity_ul",), 0, "a reservoir that holds nothing"),
                                 (("test_mode",), rng.randint(2, 255), "a 0/1 flag that is neither")],
    "AUTH_RESPONSE": lambda answer, rng: [(("role",), rng.randint(3, 255), "a role that does not exist")],
    "GET_STATUS": _status_lies,
    "TC_GET_STATUS": _status_lies,
    "GET_PRESCRIPTION": _prescription_lies,
    "TC_GET_PRESCRIPTION": _prescription_lies,
    "VALIDATE_PRESCRIPTION": _findings_lies,
    "PROGRAM_PRESCRIPTION": _findings_lies,
    "REFILL": lambda answer, rng: [(("reservoir_ul",), _CAPACITY_UL * rng.randint(2, 100),
                                    "more than the reservoir holds")],
    "CLINICIAN_BOLUS": lambda answer, rng: [(("volume_ul",), _CAPACITY_UL * rng.randint(2, 100),
                                             "a bolus bigger than the reservoir")],
    "PTM_BOLUS": lambda answer, rng: [
        (("activations_24h",), rng.randint(PUMP["ptm_activations_max"] + 1, 255),
         "more patient boluses in 24 h than the pump allows"),
        (("dose_ug",), _MAX_HARD_DAILY * rng.randint(2, 1000), "one patient bolus above every hard daily maximum")],
    "SUSPEND": lambda answer, rng: [(("therapy_state",), rng.randint(4, 255), "a therapy state that does not exist")],
    "RESUME": lambda answer, rng: [(("therapy_state",), rng.randint(4, 255), "a therapy state that does not exist")],
    "GET_ALARMS": _alarms_lies,
    "TC_GET_ALARMS": _alarms_lies,
    "ACK_ALARM": lambda answer, rng: [(("remaining",), rng.randint(PUMP["max_active_alarms"] + 1, 255),
                                       "more alarms left than the pump can list")],
    "READ_LOG": lambda answer, rng: [(("oldest_index",), min(answer.next_index + rng.randint(1, 1000), _U32),
                                      "the oldest log entry after the next one to be written")],
}


def field_at(message, path):
    """The value at a field path such as ("alarms", 0, "priority")."""
    for step in path:
        message = message[step] if isinstance(step, int) else getattr(message, step)
    return message


def _with_field(message, path, value):
    """A copy of `message` with the field at `path` set to `value` (messages are immutable)."""
    step, rest = path[0], path[1:]
    current = message[step] if isinstance(step, int) else getattr(message, step)
    new = _with_field(current, rest, value) if rest else value
    if isinstance(step, int):
        items = list(message)
        items[step] = new
        return tuple(items)
    return message._replace(**{step: new})


# ---------------------------------------------------------------------------------------------
# The wrapper
# ---------------------------------------------------------------------------------------------
class HostilePump:
    """A pump-shaped wrapper that turns some of the wrapped pump's frames hostile, reproducibly.

    Anything else asked of it (serial, test_mode, model ...) is the wrapped pump's.
    """

    def __init__(self, pump, spec=None, log_limit=LOG_LIMIT):
        self.pump = pump
        self.spec = spec if isinstance(spec, HostileSpec) else HostileSpec.parse(spec)
        self.rng = random.Random(self.spec.seed)
        self.stats = collections.Counter({key: 0 for key in ("frames", "answers", "events") + KINDS})
        self.stats["flood_events"] = 0
        self._log = collections.deque(maxlen=log_limit)
        self._cutter = FrameDecoder()  # cuts the pump's output into frames; holds one not yet ended
        self._decoder = FrameDecoder()  # decodes one whole frame at a time (holds nothing)
        self._history = collections.deque(maxlen=HISTORY)  # (msg_id, seq, wire) of earlier answers
        self._held = None  # [wire, release ms, action] of an answer held back
        self._fake_seq = 0
        self._fake_instance = 0
        self._frame_number = 0
        self._origin_ms = None

    def __getattr__(self, name):
        pump = self.__dict__.get("pump")
        if pump is None:
            raise AttributeError(name)
        return getattr(pump, name)

    # ---- pump-shaped -------------------------------------------------------------------------
    def receive(self, data, now_ms):
        return self._turn(self.pump.receive(data, now_ms), now_ms)

    def poll(self, now_ms):
        return self._turn(self.pump.poll(now_ms), now_ms)

    def next_deadline_ms(self):
        due = self.pump.next_deadline_ms()
        if self._held is not None and (due is None or self._held[1] < due):
            return self._held[1]
        return due

    # ---- what it did -------------------------------------------------------------------------
    @property
    def actions(self):
        """Every hostile act so far (the latest log_limit), oldest first, as dicts: kind, variant,
        n (frame number), t (ms), msg, frame_kind, seq, wire (bytes delivered) and the details."""
        return list(self._log)

    def report(self):
        """A few lines saying what was done, for a log or a test failure."""
        stats = self.stats
        lines = ["hostile pump (%s): %d frames (%d answers, %d events); %s" % (
            self.spec, stats["frames"], stats["answers"], stats["events"],
            ", ".join("%s %d" % (kind, stats[kind]) for kind in KINDS)
            + " (%d events)" % stats["flood_events"])]
        for action in self.actions[-20:]:
            details = {k: v for k, v in action.items()
                       if k not in ("kind", "n", "t", "wire", "msg", "seq", "frame_kind", "alarms")}
            lines.append("  #%d t=%dms %s %s seq %s: %s" % (
                action["n"], action["t"], action["kind"], action["msg"], action["seq"],
                ", ".join("%s=%s" % item for item in sorted(details.items()))))
        return "\n".join(lines)

    # ---- turning frames ----------------------------------------------------------------------
    def _turn(self, out, now_ms):
        if self._origin_ms is None:
            self._origin_ms = now_ms
        result = bytearray()
        if out:
            rest = self._cutter.skipping
            for piece in self._cutter.cut(out):
                if piece[-1] != 0 or rest:  # a run longer than any frame, passed on as it is
                    result += piece
                    rest = piece[-1] != 0
                else:
                    result += self._frame(piece, now_ms)
        if self._held is not None and self._held[1] <= now_ms:
            result += self._release(None)
        return bytes(result)

    def _frame(self, wire, now_ms):
        """One delimited frame of the pump's output -> the bytes to send instead."""
        if wire == b"\x00":
            return wire  # an empty frame (a lone delimiter): nothing to turn
        items = self._decoder.feed(wire)
        frame = items[0] if len(items) == 1 and not isinstance(items[0], ProtocolError) else None
        if frame is None:
            return wire  # not a frame this side can read: leave it alone
        self.stats["frames"] += 1
        self._frame_number += 1
        answer = frame.kind in (RESPONSE, NAK)
        self.stats["answers" if answer else "events" if frame.kind == EVENT else "other"] += 1
        lies = self._lies(frame) if frame.kind == RESPONSE and self.spec.rates["out_of_range"] else None
        eligible = ["malformed", "truncated"]
        if lies:
            eligible.append("out_of_range")
        if answer:
            eligible += ["out_of_order", "flood"]
        kind = self._draw(eligible)
        action = None
        if kind is None:
            sent = wire
        else:
            action = {"kind": kind, "n": self._frame_number, "t": now_ms, "frame_kind": KIND_NAMES[frame.kind],
                      "msg": _NAMES.get(frame.msg_id, hex(frame.msg_id)), "seq": frame.seq}
            if kind == "malformed":
                sent = self._malformed(wire, action)
            elif kind == "truncated":
                sent = self._truncated(wire, action)
            elif kind == "out_of_range":
                sent = self._out_of_range(frame, lies, action)
            elif kind == "out_of_order":
                sent = self._out_of_order(frame, wire, now_ms, action)
            else:
                sent = self._flood(wire, now_ms, action)
            self.stats[kind] += 1
            self._log.append(action)
        if answer:
            self._history.append((frame.msg_id, frame.seq, wire))
            if self._held is not None and (action is None or self._held[2] is not action):
                sent += self._release(frame.seq)
        return sent

    def _draw(self, eligible):
        """One draw picks at most one kind among those that can apply to this frame."""
        rates = self.spec.rates
        if not any(rates[kind] for kind in eligible):
            return None
        point = self.rng.random()
        for kind in eligible:
            point -= rates[kind]
            if point < 0:
                return kind
        return None

    def _malformed(self, wire, action):
        body = bytearray(cobs.decode_block(wire[:-1]))
        if self.rng.random() < 0.5:
            action["variant"] = "bad_crc"
            body[-1 - self.rng.randrange(2)] ^= self.rng.randint(1, 255)
        else:
            action["variant"] = "garbled"
            while True:
                for _ in range(self.rng.randint(1, 4)):
                    body[self.rng.randrange(len(body) - 2)] = self.rng.randrange(256)
                if crc16(bytes(body)) != 0:
                    break  # garbling that happens to keep the CRC right is not malformed: again
        sent = cobs.encode(bytes(body)) + b"\x00"
        action["wire"] = sent
        return sent

    def _truncated(self, wire, action):
        encoded = wire[:-1]
        start = self.rng.randrange(1, len(encoded))
        for keep in [*range(start, 0, -1), *range(start + 1, len(encoded))]:
            sent = encoded[:keep] + b"\x00"
            try:
                decode_frame(sent)
            except RemoteProtocolError:
                break  # rejected, as it must be (a cut that still decodes is not a truncation)
        action.update(kept=keep, of=len(encoded), wire=sent)
        return sent

    def _lies(self, frame):
        """(decoded answer, [lies it could tell]) or None; the values come from the seeded generator."""
        make = _LIES.get(_NAMES.get(frame.msg_id))
        if make is None:
            return None
        try:
            message = messages.decode_message(frame)
        except ProtocolError:
            return None
        lies = make(message, self.rng)
        return (message, lies) if lies else None

    def _out_of_range(self, frame, lies, action):
        message, choices = lies
        path, value, why = self.rng.choice(choices)
        lie = _with_field(message, path, value)
        sent = messages.encode_message(lie, frame.seq)
        action.update(field=".".join(str(step) for step in path), value=value,
                      was=int(field_at(message, path)), why=why, wire=sent)
        return sent

    def _out_of_order(self, frame, wire, now_ms, action):
        variants = ["wrong_seq"]
        older = [entry for entry in self._history if entry[1] != frame.seq]
        if older:
            variants.append("duplicate")
        if self._held is None:
            variants.append("swap")
        variant = self.rng.choice(variants)
        action.update(variant=variant, answering=frame.seq)
        if variant == "wrong_seq":
            seq = (frame.seq + self.rng.randint(1, 0xFFFF)) & 0xFFFF
            sent = encode_frame(frame.kind, frame.msg_id, seq, frame.payload)
            action.update(seq=seq, wire=sent)
            return sent
        if variant == "duplicate":
            same = [entry for entry in older if entry[0] == frame.msg_id]
            msg_id, seq, old = self.rng.choice(same or older)
            action.update(seq=seq, msg=_NAMES.get(msg_id, hex(msg_id)), wire=old)
            return old + wire  # the stale answer first, then the real one
        # swap: held back, delivered after the next answer (or HOLD_MS late); "answering" is set then
        action.update(answering=None, wire=wire)
        self._held = [wire, now_ms + HOLD_MS, action]
        return b""

    def _release(self, after_seq):
        wire, _due, action = self._held
        self._held = None
        action["answering"] = after_seq
        return wire

    def _flood(self, wire, now_ms, action):
        model = getattr(self.pump, "model", None)
        clock_s = getattr(model, "clock_ms", None)
        clock_s = clock_s // 1000 if isinstance(clock_s, int) else (now_ms - self._origin_ms) // 1000
        burst = bytearray()
        codes = []
        for _ in range(self.spec.flood_size):
            code = self.rng.choice(list(Alarm))
            event = messages.AlarmRaised(code, ALARM_PRIORITY[code], int(ALARM_LATCHING[code]), AlarmState.ACTIVE,
                                         FAKE_INSTANCE + self._fake_instance, clock_s & _U32, 1)
            burst += messages.encode_message(event, FAKE_EVENT_SEQ + self._fake_seq)
            self._fake_instance = (self._fake_instance + 1) % (0x10000 - FAKE_INSTANCE)
            self._fake_seq = (self._fake_seq + 1) % (0x10000 - FAKE_EVENT_SEQ)
            codes.append(code.name)
        self.stats["flood_events"] += len(codes)
        action.update(events=len(codes), alarms=codes, wire=bytes(burst))
        return bytes(burst) + wire  # the answer is still there, behind the storm
