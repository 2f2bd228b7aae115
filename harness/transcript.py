"""Transcripts: every frame on a pump line, both directions, time-stamped JSON lines; tail, replay, diff, decode.

    recorder = TranscriptRecorder("run.jsonl", meta={"url": url})
    port = harness.open_port(url, transcript=recorder)   # records every frame as it goes
    ...
    entries = read_transcript("run.jsonl")
    print("\\n".join(tail(entries, 20)))
    print("\\n".join(diff(entries, replay(entries, other_port))))

A transcript file is a header line, then one line per frame or rejected chunk, written and flushed
as it happens (a crash loses nothing):

    {"transcript": 1, "started": "2026-11-25T07:35:18.123456+00:00", "meta": {...}}
    {"t": 0.012345, "dir": "host>pump", "wire": "0c0001...00", "kind": "REQUEST", "msg_id": 1,
     "seq": 5, "name": "HELLO", "fields": {...}, "text": "REQUEST HELLO seq=5 HelloRequest(...)",
     "error": null}

t is seconds since the start (µs precision) at which the frame's delimiter was seen, on the
port's own clock when it has one (a virtual line). Payloads decode with strict=False, so
out-of-range values (fuzzing) keep their numbers.
Whatever does not decode is recorded all the same, with `error` naming why (the
RemoteProtocolError reason: crc, cobs, short, kind, length, unknown_message, ...; "oversized" for
a run longer than any frame, recorded in pieces; "incomplete" for bytes left without a delimiter
when the recorder closed) and the raw bytes in `wire`. An entry is the same dict as harness.wire's.

As `pumpmock decode`, it prints frames readably, one per line:

    pumpmock decode 00 0b 01 01 01 05 00 ...     hex; spaces and 0x00 delimiters optional
    pumpmock decode run.jsonl                    a transcript
    xxd -p dump.bin | pumpmock decode -          hex on stdin
"""

import argparse
import datetime
import difflib
import json
import os
import sys
import threading
import time

from pumpmock.protocol import REQUEST, FrameDecoder, ProtocolError, decode_frame, encode_frame
from pumpmock.protocol.auth import auth_mac, role_key
from pumpmock.protocol.catalog import MAX_ENCODED, MESSAGES, MESSAGES_BY_NAME, STRUCTS
from pumpmock.protocol.codes import Role

from .faulty_port import PortWrapper
from .wire import HOST_TO_PUMP, PUMP_TO_HOST, Entry, decode_block

DIRECTIONS = (HOST_TO_PUMP, PUMP_TO_HOST)
HELLO = MESSAGES_BY_NAME["HELLO"].id
AUTH_CHALLENGE = MESSAGES_BY_NAME["AUTH_CHALLENGE"].id
AUTH_RESPONSE = MESSAGES_BY_NAME["AUTH_RESPONSE"].id
TRANSCRIPT_VERSION = 1
# diff ignores these by default: when a frame was seen, and fields that differ between any two
# honest runs (nonces and MACs are random, a host picks its session id, every pump has its serial).
DEFAULT_IGNORE = ("t", "nonce", "mac", "host_session_id", "serial")


# ---------------------------------------------------------------------------------------------
# Cutting a byte stream into entries
# ---------------------------------------------------------------------------------------------
class FrameSplitter:
    """One direction's bytes cut into entries by protocol's FrameDecoder, keeping the raw bytes.

    An entry keeps the wire bytes even when they do not decode, so nothing that crossed the line
    is lost from a transcript: a run longer than any frame becomes "oversized" entries (each
    MAX_ENCODED bytes, then its rest with the delimiter), not one rejection and a skip.
    """

    def __init__(self, direction):
        self.direction = direction
        self._cutter = FrameDecoder()

    def feed(self, data, t):
        """Entries for every block `data` completes, stamped `t`."""
        entries = []
        rest = self._cutter.skipping  # the pieces up to the next delimiter end an oversized run
        for piece in self._cutter.cut(data):
            if piece[-1] != 0:
                entries.append(self._rejected(piece, t, "oversized"))
                rest = True
            elif rest:
                entries.append(self._rejected(piece, t, "oversized"))
                rest = False
            elif len(piece) > 1:  # a lone delimiter is a spare one, sent to resynchronise: not a frame
                entries.append(_decode(self.direction, piece[:-1], t))
        return entries

    def flush(self, t):
        """An entry for bytes still waiting for a delimiter (at the end of a transcript), if any."""
        if not self._cutter.buffered:
            return []
        reason = "oversized" if self._cutter.skipping else "incomplete"
        return [self._rejected(self._cutter.flush(), t, reason)]

    @property
    def buffered(self):
        return self._cutter.buffered

    def _rejected(self, raw, t, reason):
        why = {"oversized": "more bytes without a delimiter than any frame has (%d)" % MAX_ENCODED,
               "incomplete": "no delimiter before the end"}[reason]
        return Entry(t=round(t, 6), dir=self.direction, wire=raw.hex(), kind=None, msg_id=None, seq=None,
                     name=None, fields=None, text="rejected (%s): %d bytes, %s" % (reason, len(raw), why),
                     error=reason)


def _decode(direction, block, t):
    try:
        return decode_block(direction, block, t)
    except Exception as error:  # a decoder bug must not lose the frame: record it with the bug
        return Entry(t=round(t, 6), dir=direction, wire=(block + b"\x00").hex(), kind=None, msg_id=None,
                     seq=None, name=None, fields=None, text="undecodable (%s: %s)" % (type(error).__name__, error),
                     error="internal")


# ---------------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------------
class TranscriptRecorder:
    """Writes a transcript: one JSON line per frame, flushed as it is written. Thread-safe.

    path_or_file: a path (opened, and closed by close()) or an open text file (left open).
    on_entry: called with every Entry recorded (a harness.wire.Wire's add, say).
    """

    def __init__(self, path_or_file, meta=None, clock=time.monotonic, on_entry=None):
        if hasattr(path_or_file, "write"):
            self._file, self._owns_file = path_or_file, False
            self.path = getattr(path_or_file, "name", None)
        else:
            self.path = os.fspath(path_or_file)
            self._file, self._owns_file = open(self.path, "w", encoding="utf-8"), True
        self._clock = clock
        self._start = clock()
        self._lock = threading.Lock()
        self._splitters = {direction: FrameSplitter(direction) for direction in DIRECTIONS}
        self.on_entry = on_entry
        self.started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")
        self.meta = dict(meta or {})
        self.count = 0  # entries written
        self.closed = False
        self._write({"transcript": TRANSCRIPT_VERSION, "started": self.started, "meta": self.meta})

    def elapsed(self):
        """Seconds since the recorder started, by its clock."""
        return self._clock() - self._start

    def feed(self, direction, data, t=None):
        """Bytes seen going `direction`; records every frame they complete. Returns those entries."""
        with self._lock:
            entries = self._splitters[direction].feed(bytes(data), self.elapsed() if t is None else t)
            for entry in entries:
                self._record(entry)
        return entries

    def record(self, direction, block, t=None):
        """Record one COBS block seen going `direction` (no delimiter; a mux hands these over whole)."""
        entry = _decode(direction, bytes(block), self.elapsed() if t is None else t)
        with self._lock:
            self._record(entry)
        return entry

    def record_entry(self, entry):
        """Record an entry as it is (copying a transcript, say)."""
        with self._lock:
            self._record(Entry(entry))

    def close(self):
        """Record what was left without a delimiter, then close the file (if the recorder opened it)."""
        with self._lock:
            if self.closed:
                return
            for splitter in self._splitters.values():
                for entry in splitter.flush(self.elapsed()):
                    self._record(entry)
            self.closed = True
            if self._owns_file:
                self._file.close()
            else:
                self._file.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _record(self, entry):
        if self.closed:
            raise ValueError("the transcript %s is closed" % (self.path or ""))
        self._write(entry)
        self.count += 1
        if self.on_entry is not None:
            self.on_entry(entry)

    def _write(self, value):
        self._file.write(json.dumps(value) + "\n")
        self._file.flush()


class TappedPort(PortWrapper):
    """A port that records every frame written (host>pump) and read (pump>host); otherwise transparent.

    Time stamps are by `clock`, else the port's own clock() when it has one, else time.monotonic;
    t = 0 when the tap is made. close() closes the port, and the recorder too if owns_recorder.
    """

    def __init__(self, port, recorder, clock=None, owns_recorder=False):
        super().__init__(port)
        if clock is None:
            port_clock = getattr(port, "clock", None)
            clock = port_clock if callable(port_clock) else time.monotonic
        self._recorder = recorder
        self._clock = clock
        self._start = clock()
        self._owns_recorder = owns_recorder

    @property
    def recorder(self):
        return self._recorder

    def clock(self):
        return self._clock()

    def elapsed(self):
        """Seconds since the tap was made, by its clock: the time base of what it records."""
        return self._clock() - self._start

    def write(self, data):
        data = bytes(data)
        written = self._port.write(data)
        sent = data if written is None else data[:written]
        if sent:
            self._recorder.feed(HOST_TO_PUMP, sent, self._clock() - self._start)
        return written

    def read(self, size=1):
        data = self._port.read(size)
        if data:
            self._recorder.feed(PUMP_TO_HOST, data, self._clock() - self._start)
        return data

    def close(self):
        try:
            self._port.close()
        finally:
            if self._owns_recorder:
                self._recorder.close()

    def __repr__(self):
        return "<TappedPort %r into %s>" % (self._port, self._recorder.path)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
class Transcript(list):
    """A transcript's entries, oldest first; .header is its first line (or {}); .truncated says
    which line was cut short (a recording interrupted), or is None."""

    def __init__(self, entries=(), header=None, truncated=None):
        super().__init__(entries)
        self.header = header or {}
        self.truncated = truncated


def read_transcript(path_or_file):
    """The entries of a transcript file (a path or an open text file), as harness.wire Entry dicts.

    A last line cut short by a crash is skipped (and noted in .truncated); any other line that is
    not a JSON object with a direction, hex wire bytes and a time is a ValueError naming the line.
    Entries that carry only t, dir and wire get the rest by decoding the wire.
    """
    if hasattr(path_or_file, "read"):
        lines = path_or_file.read().splitlines()
        name = getattr(path_or_file, "name", "transcript")
    else:
        with open(path_or_file, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        name = os.fspath(path_or_file)
    transcript = Transcript()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            if number == len(lines):
                transcript.truncated = "%s:%d: the last line is cut short (the recording was interrupted)" % (
                    name, number)
                break  # the line being written when the process died
            raise ValueError("%s:%d: not a transcript line: %.60r" % (name, number, line)) from None
        if not isinstance(value, dict):
            raise ValueError("%s:%d: not a transcript line: a JSON %s, not an object" % (
                name, number, type(value).__name__.replace("dict", "object").replace("str", "string")))
        if "transcript" in value:
            transcript.header = value
        else:
            transcript.append(_checked_entry(value, "%s:%d" % (name, number)))
    return transcript


def _checked_entry(value, where):
    """An Entry from one parsed line, its t, dir and wire checked; missing decoded keys filled in."""
    if value.get("dir") not in DIRECTIONS:
        raise ValueError("%s: 'dir' must be %s, not %r" % (where, " or ".join(map(repr, DIRECTIONS)), value.get("dir")))
    wire = value.get("wire")
    try:
        raw = bytes.fromhex(wire) if isinstance(wire, str) else None
    except ValueError:
        raw = None
    if not raw:
        raise ValueError("%s: 'wire' must be the frame's bytes in hex, not %.40r" % (where, wire))
    t = value.get("t")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not t >= 0 or t == float("inf"):
        raise ValueError("%s: 't' must be seconds since the start (a number, zero or more), not %r" % (where, t))
    entry = Entry(value)
    if any(key not in entry for key in ENTRY_KEYS):
        decoded = _decode(value["dir"], raw[:-1] if raw.endswith(b"\x00") else raw, t)
        for key in ENTRY_KEYS:
            entry.setdefault(key, decoded[key])
    return entry


ENTRY_KEYS = ("kind", "msg_id", "seq", "name", "fields", "text", "error")


def replayable(entries, name="the transcript"):
    """Raise ValueError unless `entries` can be replayed as a whole: something the host sent, and
    nothing cut off (a replay of part of a session cannot show the whole is equivalent)."""
    if getattr(entries, "truncated", None):
        raise ValueError("%s; replaying part of a session cannot show it is equivalent" % entries.truncated)
    if not any(entry["dir"] == HOST_TO_PUMP for entry in entries):
        raise ValueError("%s has no host>pump frames: nothing to replay" % name)


def format_entry(entry):
    """One readable line: t, direction, what it is; the raw bytes too when it did not decode."""
    line = "t=%.3f %s %s" % (entry["t"], entry["dir"], entry["text"])
    if entry.get("error"):
        line += " [%s]" % _abbreviate(entry["wire"])
    return line


def tail(entries, n=20):
    """The last `n` entries (all when n is None) as readable lines, for failure reports."""
    entries = list(entries)
    return [format_entry(entry) for entry in (entries if n is None else entries[-n:] if n else [])]


def _abbreviate(hex_text, limit=96):
    return hex_text if len(hex_text) <= limit else "%s...(%d bytes)" % (hex_text[:limit], len(hex_text) // 2)


# ---------------------------------------------------------------------------------------------
# Replay
# ---------------------------------------------------------------------------------------------
def replay(entries, port, timeout_s=0.25, recorder=None, clock=None, paced=False):
    """Resend a transcript's host>pump frames to `port`; returns the new transcript (a Transcript).

    Frames recorded as one write go out as one write; after each it waits for as many pump>host
    frames as followed it in the original (each within timeout_s), so the answers land after
    the request they belong to, as they did. Frames that were rejected in the original (fuzzing)
    are resent byte for byte too. `recorder`, if given, records the new transcript as well.

    paced: each write also waits until as long after the start as it was in the original
    (reading what the pump says meanwhile), so what time changes (a bolus running, alarms
    re-announced, the clock in a status) happens again. On a virtual clock the waits cost nothing.
    """
    if clock is None:
        port_clock = getattr(port, "clock", None)
        clock = port_clock if callable(port_clock) else time.monotonic
    start = clock()
    result = Transcript(header={"transcript": TRANSCRIPT_VERSION, "meta": {"replay": True}})
    splitters = {direction: FrameSplitter(direction) for direction in DIRECTIONS}
    live = _LoginTracker()

    def seen(direction, data):
        new = splitters[direction].feed(data, clock() - start)
        for entry in new:
            result.append(entry)
            live.see(entry)
            if recorder is not None:
                recorder.record_entry(entry)
        return sum(1 for entry in new if entry["dir"] == PUMP_TO_HOST)

    def listen_until(deadline):
        """Record whatever the pump says until the clock reads `deadline`."""
        while clock() < deadline:
            port.timeout = max(0.0, deadline - clock())
            data = port.read(max(port.in_waiting, 1))
            if data:
                seen(PUMP_TO_HOST, data)

    # Each write, with how many pump>host frames came after it before the next one. Host frames
    # recorded at one time with no answer between them were one write: they go out as one, so a
    # pump that answers a whole write at once (a stateful fuzzer's setup, say) is asked the same.
    # Each also keeps the nonce the original pump had issued when it was written (see _resign).
    plan = []
    recorded = _LoginTracker()
    for entry in entries:
        if entry["dir"] == HOST_TO_PUMP:
            if plan and plan[-1][1] == 0 and plan[-1][2] == entry["t"]:
                plan[-1][0] += bytes.fromhex(entry["wire"])
            else:
                plan.append([bytes.fromhex(entry["wire"]), 0, entry["t"], recorded.state()])
        else:
            recorded.see(entry)
            if plan:
                plan[-1][1] += 1
    port.write(b"\x00")  # a spare delimiter, as a client sends first, so the far end resynchronises
    first_t = plan[0][2] if plan else 0.0
    for wire, answers, t, then in plan:
        if paced:
            listen_until(start + t - first_t)
        wire = _resign(wire, then, live.state())
        # Recorded before it goes: a pump in this process handles the bytes inside write(), and a
        # host descheduled on its way out of it would stamp them later than the pump's own clock.
        seen(HOST_TO_PUMP, wire)
        port.write(wire)
        received = 0
        deadline = clock() + timeout_s
        while True:
            port.timeout = max(0.0, deadline - clock()) if received < answers else 0
            data = port.read(max(port.in_waiting, 1))
            if data:
                received += seen(PUMP_TO_HOST, data)
                deadline = clock() + timeout_s  # each expected frame gets its own timeout_s
                continue
            if received >= answers or clock() >= deadline:
                break
    # Then whatever else the pump says within timeout_s: the original may have ended in silence
    # (a pump that crashed on the last write) where the pump replayed to answers.
    listen_until(clock() + timeout_s)
    for direction, splitter in splitters.items():
        for entry in splitter.flush(clock() - start):
            result.append(entry)
            if recorder is not None:
                recorder.record_entry(entry)
    return result


class _LoginTracker:
    """The pump's serial (from HELLO) and the last nonce it issued, as its answers go by."""

    def __init__(self):
        self.serial = None
        self.nonce = None

    def see(self, entry):
        if entry["dir"] != PUMP_TO_HOST or entry.get("kind") != "RESPONSE" or not entry.get("fields"):
            return
        if entry["msg_id"] == HELLO:
            self.serial = entry["fields"].get("serial", self.serial)
        elif entry["msg_id"] == AUTH_CHALLENGE and entry["fields"].get("nonce"):
            self.nonce = bytes.fromhex(entry["fields"]["nonce"])

    def state(self):
        return self.serial, self.nonce


def _resign(wire, then, now):
    """`wire` with each AUTH_RESPONSE that answered the original nonce correctly signed again for
    the nonce the pump issued this time. A pump issues a fresh nonce every run (unless seeded),
    so the recorded MAC is refused now: a login that succeeded then must succeed in the replay,
    and one that was forged (a MAC for no nonce, a wrong key) is resent as it was.
    Only the protocol's derivable role keys can be signed again; other keys' logins go as recorded."""
    serial, old_nonce = then
    live_serial, new_nonce = now
    if old_nonce is None or new_nonce is None or old_nonce == new_nonce or serial is None or serial != live_serial:
        return wire
    out = []
    cutter = FrameDecoder()
    rest = False  # inside a run longer than any frame: no frame to sign
    for piece in cutter.cut(wire):
        frame = None
        if piece[-1] == 0 and not rest:
            try:
                frame = decode_frame(piece)
            except ProtocolError:
                pass
        rest = piece[-1] != 0
        if frame is not None and frame.kind == REQUEST and frame.msg_id == AUTH_RESPONSE and len(frame.payload) == 33:
            role, mac = frame.payload[0], frame.payload[1:]
            if role in (Role.PATIENT, Role.CLINICIAN) and mac == auth_mac(role_key(serial, role), old_nonce, serial, role):
                fresh = auth_mac(role_key(serial, role), new_nonce, serial, role)
                out.append(encode_frame(REQUEST, AUTH_RESPONSE, frame.seq, bytes([role]) + fresh))
                continue
        out.append(piece)
    return b"".join(out) + cutter.flush()


# ---------------------------------------------------------------------------------------------
# Diff
# ---------------------------------------------------------------------------------------------
def _pump_clock_fields():
    """The catalog's fields that stamp the pump clock in whole seconds (unit s, "pump clock ...")."""
    fields = [field for layout in STRUCTS.values() for field in layout]
    for message in MESSAGES:
        fields += list(message.request) + list(message.response)
    return frozenset(field.name for field in fields if field.unit == "s" and field.doc.startswith("pump clock"))


# Fields the pump stamps from its own clock in whole seconds (clock_s, raised_s, cleared_s, ends_s,
# next_allowed_s): two runs of the same script on real clocks read it a few ms apart, which can fall
# on either side of a second boundary (5800 on the emulator, 5801 on a board). diff compares them
# within CLOCK_TOLERANCE_S and lists such pairs as within tolerance, apart from the differences.
CLOCK_FIELDS = _pump_clock_fields()
CLOCK_TOLERANCE_S = 1


class Comparison:
    """What compare() found: `differences` (each counts) and `within_tolerance` (clock stamps that
    differ by no more than the tolerance: shown, never counted)."""

    def __init__(self, differences, within_tolerance):
        self.differences = differences
        self.within_tolerance = within_tolerance


def compare(a, b, ignore=DEFAULT_IGNORE, tolerance_s=CLOCK_TOLERANCE_S):
    """Two transcripts frame by frame: a Comparison. tolerance_s: how far apart the pump-clock
    fields (CLOCK_FIELDS) may be and still agree; 0 compares them exactly like every other field.

    Frames are aligned on (dir, kind, msg_id, seq); put "seq" in `ignore` to align without it (two
    runs of a client that picks its own sequence numbers). Names in `ignore` are entry keys ("t",
    "seq", "error") or field names at any depth ("nonce") or dotted paths ("prescription.drug").
    Decoded frames compare by their fields; the raw wire bytes compare only for frames that did not
    decode (unless "wire" is ignored); "text" is derived, never compared.
    """
    ignore = frozenset(ignore)
    key_names = [name for name in ("dir", "kind", "msg_id", "seq") if name not in ignore]

    def key(entry):
        return tuple(entry.get(name) for name in key_names)

    a, b = list(a), list(b)
    differences, tolerated = [], []
    matcher = difflib.SequenceMatcher(None, [key(e) for e in a], [key(e) for e in b], autojunk=False)
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and a_end - a_start == b_end - b_start):
            for i, j in zip(range(a_start, a_end), range(b_start, b_end)):
                changes, close = _entry_changes(a[i], b[j], ignore, tolerance_s)
                where = "a#%d/b#%d %s: " % (i, j, _label(a[i]))
                if changes:
                    differences.append(where + "; ".join(changes))
                if close:
                    tolerated.append(where + "; ".join(close))
            continue
        for i in range(a_start, a_end):
            differences.append("only in a: a#%d %s" % (i, format_entry(a[i])))
        for j in range(b_start, b_end):
            differences.append("only in b: b#%d %s" % (j, format_entry(b[j])))
    return Comparison(differences, tolerated)


def diff(a, b, ignore=DEFAULT_IGNORE, tolerance_s=CLOCK_TOLERANCE_S):
    """Readable differences between two transcripts, frame by frame; empty when they are equivalent.

    compare(a, b, ignore, tolerance_s).differences: pump-clock stamps within the tolerance agree."""
    return compare(a, b, ignore, tolerance_s).differences


def _label(entry):
    if entry.get("kind") is None:
        return "%s rejected" % entry["dir"]
    name = entry.get("name") or "0x%02x" % entry["msg_id"]
    return "%s %s %s seq=%s" % (entry["dir"], entry["kind"], name, entry["seq"])


def _entry_changes(a, b, ignore, tolerance_s=0):
    """(changes, close): what differs, and the clock stamps that differ within tolerance_s."""
    changes, close = [], []
    for name in ("dir", "kind", "msg_id", "seq", "name", "error"):  # (the key differs in a replaced run)
        if name not in ignore and a.get(name) != b.get(name):
            changes.append("%s: %r != %r" % (name, a.get(name), b.get(name)))
    fields_a, fields_b = a.get("fields"), b.get("fields")
    if "fields" in ignore:
        pass
    elif fields_a is not None and fields_b is not None:
        _value_changes(fields_a, fields_b, "", ignore, changes, tolerance_s, close)
    elif (fields_a is None) != (fields_b is None):
        changes.append("fields: %s != %s" % ("decoded" if fields_a is not None else "not decoded",
                                              "decoded" if fields_b is not None else "not decoded"))
    elif "wire" not in ignore and a.get("wire") != b.get("wire"):
        changes.append("wire: %s != %s" % (_abbreviate(a.get("wire") or ""), _abbreviate(b.get("wire") or "")))
    return changes, close


def _value_changes(a, b, path, ignore, changes, tolerance_s=0, close=None, name=None):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [n for n in b if n not in a]:
            where = path + "." + key if path else key
            if key in ignore or where in ignore:
                continue
            if key not in a or key not in b:
                changes.append("%s: %s" % (where, "missing in a" if key not in a else "missing in b"))
            else:
                _value_changes(a[key], b[key], where, ignore, changes, tolerance_s, close, key)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _value_changes(x, y, "%s[%d]" % (path, i), ignore, changes, tolerance_s, close)
    elif a != b:
        line = "%s: %s != %s" % (path or "value", json.dumps(a), json.dumps(b))
        if (close is not None and name in CLOCK_FIELDS and _whole(a) and _whole(b)
                and abs(a - b) <= tolerance_s):
            close.append(line + " (within %g s)" % tolerance_s)
        else:
            changes.append(line)


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# pumpmock decode
# ---------------------------------------------------------------------------------------------
def parse_hex(text):
    """Bytes from hex text: whitespace, 0x prefixes, ':' and ',' separators allowed."""
    cleaned = []
    for token in text.replace(",", " ").replace(":", " ").split():
        cleaned.append(token[2:] if token.lower().startswith("0x") else token)
    joined = "".join(cleaned)
    try:
        return bytes.fromhex(joined)
    except ValueError:
        raise ValueError("not hex: %.60r (expected bytes like '0b 00 01 ...' or a transcript file)"
                         % text.strip()) from None


def decode_entries(text_or_hex):
    """Entries for hex text, bytes, or a transcript file's path (see decode_lines)."""
    if isinstance(text_or_hex, (bytes, bytearray)):
        data = bytes(text_or_hex)
    else:
        text = text_or_hex
        if text.strip() and os.path.isfile(text.strip()):
            with open(text.strip(), encoding="utf-8") as handle:
                text = handle.read()
        if text.lstrip().startswith("{"):
            return read_transcript(_Lines(text))
        data = parse_hex(text)
    splitter = FrameSplitter("")
    entries = splitter.feed(data, 0.0)
    if splitter.buffered:  # the last frame without its delimiter: delimiters are optional here
        entries += splitter.feed(b"\x00", 0.0)
    return Transcript(entries)


def decode_lines(text_or_hex):
    """Readable lines, one per frame, for hex text, bytes, or a transcript file's path.

    Hex may carry 0x00 delimiters or not: a trailing run without one is decoded as a frame too.
    A frame that does not decode shows why, and its bytes.
    """
    return _readable(decode_entries(text_or_hex))


def _readable(entries):
    lines = []
    for number, entry in enumerate(entries, 1):
        if entry["dir"]:  # from a transcript: time and direction known
            lines.append(format_entry(entry))
            continue
        line = "%d: %s" % (number, entry["text"])
        if entry["error"]:
            line += " [%s]" % _abbreviate(entry["wire"])
        lines.append(line)
    return lines


class _Lines:
    """Transcript text as a file-like object for read_transcript."""

    name = "<transcript>"

    def __init__(self, text):
        self._text = text

    def read(self):
        return self._text


def add_arguments(parser):
    parser.add_argument("input", nargs="+", metavar="HEX|FILE|-",
                        help="hex bytes (spaces and 0x00 delimiters optional), a transcript file "
                             "(JSON lines), a file of hex, or - to read hex or a transcript from stdin")


def main(args):
    """Print each frame readably; exit 1 if any did not decode, 2 if the input is unreadable."""
    words = args.input
    try:
        if words == ["-"]:
            text = sys.stdin.read()
        elif len(words) == 1 and os.path.isfile(words[0]):
            text = words[0]
        else:
            text = " ".join(words)
        entries = decode_entries(text)
    except (OSError, ValueError) as error:
        print("pumpmock decode: %s" % error, file=sys.stderr)
        return 2
    for line in _readable(entries):
        print(line)
    return 1 if any(entry["error"] for entry in entries) else 0


def build_parser():
    """A stand-alone parser (python -m pumpmock.harness.transcript), the same as `pumpmock decode`'s."""
    parser = argparse.ArgumentParser(prog="pumpmock decode", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))

