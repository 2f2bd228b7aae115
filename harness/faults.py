"""Link faults for a simulated serial line: seeded and reproducible, sans-I/O (bytes and time in, bytes out).

    model = FaultModel.parse("corrupt=1%,drop=1%,duplicate=0.5%,delay=5ms,jitter=2ms,unit=frame,seed=7")
    line = model.stream("to_pump")        # one independent stream per direction name
    line.feed(data, now_ms)               # bytes entering the line at virtual time now_ms
    out = line.take(now_ms)               # bytes that have come out of the line by now_ms
    line.next_due_ms()                    # when take() will next have bytes (None: nothing in flight)

Spec keys (comma-separated key=value; unknown keys and bad values are refused, naming the key):
  corrupt=P    probability a unit is corrupted: one bit of a byte flipped (0.01 or 1%)
  drop=P       probability a unit vanishes
  duplicate=P  probability a unit is sent twice
  delay=D      latency of every chunk (byte unit) or frame (frame unit): 5ms, 0.5s, 200us; bare = ms
  jitter=D     uniform ± spread added to the delay; order is always preserved
  cut=N        the line is cut after N bytes have entered it: the first N still arrive, later ones vanish
  baud=N       pace the output at N baud, 10 bits a byte (8N1)
  unit=byte|frame  what a probability applies to: each byte, or each frame (split at 0x00)
  seed=N       the seed; the same seed and the same feed() calls give the same output, always

Time: the ms API (feed, take, next_due_ms) is what simulated lines use; internally every time is an
integer of µs, and pacing is exact (in µs·baud units), so 115200 baud (86.8 µs a byte) does not
drift. Callers with a finer clock use the twins feed_us, take_us and next_due_us.
"""

import hashlib
import math
import random
from collections import deque
from dataclasses import dataclass

from pumpmock.protocol.catalog import MAX_ENCODED
from pumpmock.protocol.framing import FrameDecoder

UNITS = ("byte", "frame")
BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit
US_PER_S = 1_000_000
# In frame unit, a run of this many bytes without a delimiter is faulted as a unit of its own, so
# a line carrying no frames at all (a REPL's text, say) is neither held forever nor spared.
# (The units are FrameDecoder.cut's pieces: it cuts such runs at MAX_ENCODED.)
MAX_UNDELIMITED = MAX_ENCODED
STAT_KEYS = ("bytes_in", "bytes_out", "corrupted", "dropped", "duplicated", "frames_hit", "cut")


# ---------------------------------------------------------------------------------------------
# Spec values
# ---------------------------------------------------------------------------------------------
def _parse_probability(text):
    number = text[:-1].strip() if text.endswith("%") else text
    value = float(number)  # ValueError names the text
    if text.endswith("%"):
        value /= 100
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise ValueError("a probability must be between 0 and 1 (or 0% and 100%)")
    return value


_DURATION_SUFFIXES = (("us", 1), ("µs", 1), ("ms", 1000), ("s", US_PER_S))


def _parse_duration_us(text):
    scale = 1000  # a bare number is milliseconds
    for suffix, factor in _DURATION_SUFFIXES:
        if text.endswith(suffix):
            text, scale = text[:-len(suffix)].strip(), factor
            break
    value = float(text)
    if not 0 <= value < math.inf:
        raise ValueError("a duration must be zero or more, e.g. 5ms, 0.5s or 200us")
    return round(value * scale)


def _format_duration(us):
    return "%dms" % (us // 1000) if us % 1000 == 0 else "%dus" % us


def _us_to_ms(us):
    """µs as a number of ms: an int when whole, so 5ms stays 5 and compares equal after a round trip."""
    return us // 1000 if us % 1000 == 0 else us / 1000


def _parse_count(text):
    value = int(text)
    if value < 0:
        raise ValueError("must be zero or more")
    return value


def _parse_baud(text):
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive number of baud")
    return value


def _parse_unit(text):
    if text not in UNITS:
        raise ValueError("must be byte or frame")
    return text


# spec key -> (FaultModel argument, parser)
_SPEC_KEYS = {
    "corrupt": ("corrupt", _parse_probability),
    "drop": ("drop", _parse_probability),
    "duplicate": ("duplicate", _parse_probability),
    "delay": ("delay_ms", lambda text: _us_to_ms(_parse_duration_us(text))),
    "jitter": ("jitter_ms", lambda text: _us_to_ms(_parse_duration_us(text))),
    "cut": ("cut_after_bytes", _parse_count),
    "baud": ("baud", _parse_baud),
    "unit": ("unit", _parse_unit),
    "seed": ("seed", int),
}


@dataclass(frozen=True)
class FaultModel:
    """What can go wrong on a line, and the seed that picks when. Immutable; streams carry the state."""

    corrupt: float = 0.0
    drop: float = 0.0
    duplicate: float = 0.0
    delay_ms: float = 0
    jitter_ms: float = 0
    cut_after_bytes: int = None
    baud: int = None
    unit: str = "byte"
    seed: int = 0

    def __post_init__(self):
        for key in ("corrupt", "drop", "duplicate"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError("%s must be a probability between 0 and 1, not %r" % (key, value))
            object.__setattr__(self, key, float(value))
        for key in ("delay_ms", "jitter_ms"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ValueError("%s must be a number of milliseconds, zero or more, not %r" % (key, value))
            # Time is kept in whole µs: normalise so equal lines compare equal.
            object.__setattr__(self, key, _us_to_ms(round(value * 1000)))
        if self.cut_after_bytes is not None and (isinstance(self.cut_after_bytes, bool) or not isinstance(
                self.cut_after_bytes, int) or self.cut_after_bytes < 0):
            raise ValueError("cut_after_bytes must be None or a byte count, not %r" % (self.cut_after_bytes,))
        if self.baud is not None and (isinstance(self.baud, bool) or not isinstance(self.baud, int)
                                      or self.baud <= 0):
            raise ValueError("baud must be None or a positive integer, not %r" % (self.baud,))
        if self.unit not in UNITS:
            raise ValueError("unit must be 'byte' or 'frame', not %r" % (self.unit,))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError("seed must be an integer, not %r" % (self.seed,))

    @classmethod
    def parse(cls, spec):
        """A model from a spec string ('' = a clean line). A FaultModel passes through unchanged."""
        if isinstance(spec, cls):
            return spec
        if not isinstance(spec, str):
            raise TypeError("a fault spec is a string like 'corrupt=1%%,seed=7', not %r" % (spec,))
        arguments = {}
        seen = set()
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            key, equals, text = (part.strip() for part in item.partition("="))
            key = key.lower()
            if key not in _SPEC_KEYS:
                raise ValueError("fault spec %r: unknown key %r (known: %s)"
                                 % (spec, key, ", ".join(_SPEC_KEYS)))
            if not equals or not text:
                raise ValueError("fault spec %r: %r needs a value (%s=...)" % (spec, key, key))
            if key in seen:
                raise ValueError("fault spec %r: %r is given twice" % (spec, key))
            seen.add(key)
            argument, parser = _SPEC_KEYS[key]
            try:
                arguments[argument] = parser(text)
            except ValueError as error:
                raise ValueError("fault spec %r: bad value for %r: %r (%s)" % (spec, key, text, error)) from None
        return cls(**arguments)

    def __str__(self):
        parts = ["%s=%r" % (key, getattr(self, key)) for key in ("corrupt", "drop", "duplicate")
                 if getattr(self, key)]
        if self.delay_ms:
            parts.append("delay=" + _format_duration(round(self.delay_ms * 1000)))
        if self.jitter_ms:
            parts.append("jitter=" + _format_duration(round(self.jitter_ms * 1000)))
        if self.cut_after_bytes is not None:
            parts.append("cut=%d" % self.cut_after_bytes)
        if self.baud is not None:
            parts.append("baud=%d" % self.baud)
        if self.unit != "byte":
            parts.append("unit=" + self.unit)
        parts.append("seed=%d" % self.seed)  # always: a failure report must say how to reproduce it
        return ",".join(parts)

    @property
    def transparent(self):
        """True when the line changes nothing: no faults, no latency, no pacing, no cut."""
        return not (self.corrupt or self.drop or self.duplicate or self.delay_ms or self.jitter_ms
                    or self.baud or self.cut_after_bytes is not None)

    def stream(self, name):
        """A fresh stream for one direction; the same (seed, name) always makes the same faults."""
        return FaultStream(self, name)


# ---------------------------------------------------------------------------------------------
# One direction of a line
# ---------------------------------------------------------------------------------------------
class FaultStream:
    """One direction of a faulty line: bytes in at a time, faulted bytes out when due."""

    def __init__(self, model, name):
        self.model = model
        self.name = name
        # Two generators: fault decisions are drawn per unit, timing per chunk, so which units are
        # hit depends only on the bytes, never on how a caller happened to chunk them.
        digest = hashlib.sha256(("%d/%s" % (model.seed, name)).encode()).digest()
        self._fault_rng = random.Random(int.from_bytes(digest[:16], "big"))
        self._time_rng = random.Random(int.from_bytes(digest[16:], "big"))
        self._faulty = bool(model.corrupt or model.drop or model.duplicate)
        self._delay_us = round(model.delay_ms * 1000)
        self._jitter_us = round(model.jitter_ms * 1000)
        self._queue = deque()  # (due_us, bytes), due_us never decreasing
        self._queued_bytes = 0
        self._last_due_us = None
        self._line_free = 0  # baud pacing: when the line is free again, in µs·baud units (exact)
        self._cutter = FrameDecoder()  # frame unit: cuts the units, holds one waiting for its delimiter
        self._frame_hit = False  # byte unit: the frame now passing has already been counted as hit
        self._accepted = 0  # bytes let onto the line (cut counts these)
        self.cut = model.cut_after_bytes == 0
        self.stats = dict.fromkeys(STAT_KEYS, 0)

    def __repr__(self):
        return "<FaultStream %s %s pending=%d>" % (self.name, self.model, self.pending)

    # ---- the API in ms (what simulated lines use) -----------------------------------------------
    def feed(self, data, now_ms):
        """`data` enters the line at now_ms."""
        self.feed_us(data, _ms_to_us(now_ms))

    def take(self, now_ms):
        """Every byte that has come out of the line by now_ms, in order."""
        return self.take_us(_ms_to_us(now_ms))

    def next_due_ms(self):
        """The first whole ms at which take() has bytes, or None when nothing is in flight."""
        due_us = self.next_due_us()
        return None if due_us is None else -(-due_us // 1000)

    # ---- the same in µs --------------------------------------------------------------------------
    def feed_us(self, data, now_us):
        data = bytes(data)
        if not data:
            return
        self.stats["bytes_in"] += len(data)
        limit = self.model.cut_after_bytes
        cutting = False
        if limit is not None:
            room = limit - self._accepted
            if room <= 0:
                self.stats["cut"] += len(data)
                return
            if len(data) >= room:
                self.stats["cut"] += len(data) - room
                data = data[:room]
                cutting = True
            self._accepted += len(data)
        if self.model.unit == "byte":
            self._schedule(self._fault_bytes(data) if self._faulty else data, now_us)
        else:
            for unit in self._cutter.cut(data):
                self._schedule(self._fault_frame(unit), now_us)
        if cutting:
            self.cut = True
            if self._cutter.buffered:  # the head of a frame was on the line before the cut: it still arrives
                self._schedule(self._fault_frame(self._cutter.flush()), now_us)

    def take_us(self, now_us):
        queue = self._queue
        if not queue or queue[0][0] > now_us:
            return b""
        out = bytearray()
        while queue and queue[0][0] <= now_us:
            out += queue.popleft()[1]
        self._queued_bytes -= len(out)
        self.stats["bytes_out"] += len(out)
        return bytes(out)

    def next_due_us(self):
        return self._queue[0][0] if self._queue else None

    @property
    def pending(self):
        """Bytes in the line not yet taken (including a frame still waiting for its delimiter)."""
        return self._queued_bytes + self._cutter.buffered

    # ---- faults ----------------------------------------------------------------------------------
    def _fault_bytes(self, data):
        model = self.model
        corrupt, drop, duplicate = model.corrupt, model.drop, model.duplicate
        draw, randrange = self._fault_rng.random, self._fault_rng.randrange
        stats = self.stats
        out = bytearray()
        for original in data:
            byte = original
            hit = False
            if drop and draw() < drop:
                stats["dropped"] += 1
                hit = True
            else:
                if corrupt and draw() < corrupt:
                    byte ^= 1 << randrange(8)  # one flipped bit: never the same value
                    stats["corrupted"] += 1
                    hit = True
                out.append(byte)
                if duplicate and draw() < duplicate:
                    out.append(byte)
                    stats["duplicated"] += 1
                    hit = True
            if hit and not self._frame_hit:
                stats["frames_hit"] += 1
                self._frame_hit = True
            if original == 0:  # the frame this byte ended is past: the next one starts clean
                self._frame_hit = False
        return bytes(out)

    def _fault_frame(self, unit):
        if not self._faulty or unit == b"\x00":  # a lone delimiter carries no frame: left alone
            return unit
        model = self.model
        draw = self._fault_rng.random
        stats = self.stats
        if model.drop and draw() < model.drop:
            stats["dropped"] += 1
            stats["frames_hit"] += 1
            return b""
        hit = False
        if model.corrupt and draw() < model.corrupt:
            body = len(unit) - 1 if unit[-1] == 0 else len(unit)  # never the delimiter
            position = self._fault_rng.randrange(body)
            damaged = bytearray(unit)
            damaged[position] ^= 1 << self._fault_rng.randrange(8)
            unit = bytes(damaged)
            stats["corrupted"] += 1
            hit = True
        if model.duplicate and draw() < model.duplicate:
            unit += unit
            stats["duplicated"] += 1
            hit = True
        if hit:
            stats["frames_hit"] += 1
        return unit

    # ---- time ------------------------------------------------------------------------------------
    def _schedule(self, data, now_us):
        if not data:
            return
        due_us = now_us + self._delay_us
        if self._jitter_us:
            due_us += self._time_rng.randint(-self._jitter_us, self._jitter_us)
        # Never out before it went in, never ahead of bytes fed earlier.
        due_us = max(due_us, now_us)
        if self._last_due_us is not None and due_us < self._last_due_us:
            due_us = self._last_due_us
        self._last_due_us = due_us
        self._queued_bytes += len(data)
        baud = self.model.baud
        if baud is None:
            self._queue.append((due_us, data))
            return
        # Pacing: a byte is out when its 10th bit is, and the line carries one byte at a time.
        # Times in µs·baud units keep 86.8 µs a byte exact over any number of bytes.
        byte_time = BITS_PER_BYTE * US_PER_S
        line_free = max(self._line_free, due_us * baud)
        append = self._queue.append
        for i in range(len(data)):
            line_free += byte_time
            append((-(-line_free // baud), data[i:i + 1]))
        self._line_free = line_free


def _ms_to_us(now_ms):
    return now_ms * 1000 if isinstance(now_ms, int) else round(now_ms * 1000)
