"""What crossed the line, decoded: the `wire` fixture and the oracles read this.

An entry is a dict (the transcript line format) with attribute access:
    t, dir ("host>pump" | "pump>host"), wire (hex), kind ("REQUEST", "RESPONSE", "EVENT", "ACK",
    "NAK", or None for a rejected block), msg_id, seq, name (catalog message name), fields (the
    payload as plain JSON), text (readable), error (None, or why the bytes could not be decoded)
"""

from pumpmock.protocol import cobs
from pumpmock.protocol.catalog import MESSAGES_BY_ID
from pumpmock.protocol.errors import ProtocolError
from pumpmock.protocol.framing import KIND_NAMES, parse_body
from pumpmock.protocol.jsonify import describe, to_jsonable
from pumpmock.protocol.messages import decode_message

HOST_TO_PUMP = "host>pump"
PUMP_TO_HOST = "pump>host"


class Entry(dict):
    """One frame (or rejected block) on the wire; keys readable as attributes."""

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self):
        return "<%s t=%.3f %s>" % (self["dir"], self["t"], self["text"])


def decode_block(direction, block, t):
    """An Entry for one COBS block (no delimiter) seen going `direction` at time `t`."""
    entry = Entry(t=round(t, 6), dir=direction, wire=(bytes(block) + b"\x00").hex(), kind=None, msg_id=None,
                  seq=None, name=None, fields=None, text="", error=None)
    try:
        frame = parse_body(cobs.decode(bytes(block)))
    except ProtocolError as error:
        entry.update(error=error.reason, text="rejected (%s): %s" % (error.reason, error))
        return entry
    message = MESSAGES_BY_ID.get(frame.msg_id)
    entry.update(kind=KIND_NAMES[frame.kind], msg_id=frame.msg_id, seq=frame.seq,
                 name=message.name if message else None)
    try:
        try:
            decoded = decode_message(frame)
        except ProtocolError as strict_error:  # out-of-range values: keep their numbers, note why
            decoded = decode_message(frame, strict=False)
            entry["error"] = strict_error.reason
    except ProtocolError as error:
        entry.update(error=error.reason, text="%s %s seq=%d undecodable (%s)" % (
            entry["kind"], entry["name"] or "0x%02x" % frame.msg_id, frame.seq, error))
        return entry
    entry.update(fields=to_jsonable(decoded), text="%s %s seq=%d %s" % (
        entry["kind"], entry["name"] or "0x%02x" % frame.msg_id, frame.seq, describe(decoded)))
    return entry


class Wire:
    """Every frame seen so far between a programmer and the pump, oldest first."""

    def __init__(self):
        self.entries = []

    def add(self, entry):
        self.entries.append(entry)

    def __iter__(self):
        return iter(list(self.entries))

    def __len__(self):
        return len(self.entries)

    def __getitem__(self, index):
        return self.entries[index]

    def select(self, direction=None, kind=None, name=None):
        return [e for e in list(self.entries)
                if (direction is None or e["dir"] == direction) and (kind is None or e["kind"] == kind)
                and (name is None or e["name"] == name)]

    def requests(self, name=None):
        """Requests the programmer sent (retransmissions included, in order)."""
        return self.select(HOST_TO_PUMP, "REQUEST", name)

    def responses(self, name=None):
        return self.select(PUMP_TO_HOST, "RESPONSE", name)

    def naks(self, name=None):
        return self.select(PUMP_TO_HOST, "NAK", name)

    def events(self, name=None):
        return self.select(PUMP_TO_HOST, "EVENT", name)

    def answer_to(self, request):
        """The first RESPONSE or NAK to a request entry, or None."""
        for entry in self.select(PUMP_TO_HOST):
            if entry["kind"] in ("RESPONSE", "NAK") and entry["seq"] == request["seq"] \
                    and entry["msg_id"] == request["msg_id"] and entry["t"] >= request["t"]:
                return entry
        return None

    def tail(self, count=30):
        """The last `count` entries as readable lines."""
        return ["t=%9.3f  %s  %s" % (e["t"], e["dir"], e["text"]) for e in list(self.entries)[-count:]]

