"""Golden test vectors: exact bytes with their meaning, which every codec (host and firmware) must pass.

Files in protocol/vectors/ (JSON, {"vectors": [...]}):
  messages.json  every message in both directions, ACKs for events   (frame entries)
  errors.json    a NAK for every error code                          (frame entries)
  malformed.json broken input and what a receiver must make of it    (stream entries)

A frame entry: name, direction, kind, msg_id, seq, payload (hex), wire (hex), fields (the payload
as plain JSON, see protocol.jsonify), text (readable meaning).
A stream entry: name, wire (hex), outcome (in order: {"frame": {kind, msg_id, seq, payload}} or
{"error": reason}), and for frames a receiver must answer, pump_nak (error name, or null when the
pump must stay silent).

`python -m pumpmock.protocol.vectors` rewrites the files from protocol.examples; they are committed and
then only ever checked (tests/test_vectors.py), so a codec change that alters bytes fails.
"""

import json
import pathlib
import sys

from .catalog import MESSAGES_BY_NAME
from .examples import EXAMPLES, NAK_EXAMPLES
from .framing import KIND_NAMES, FrameDecoder, encode_frame
from .jsonify import describe, to_jsonable
from .messages import Ack, encode_message, message_frame

DIRECTORY = pathlib.Path(__file__).resolve().parent / "vectors"
FILES = ("messages", "errors", "malformed")


def load(name):
    """The vector entries of one file."""
    return json.loads((DIRECTORY / ("%s.json" % name)).read_text())["vectors"]


def _frame_entry(name, direction, message, seq):
    frame = message_frame(message, seq)
    return {"name": name, "direction": direction, "kind": KIND_NAMES[frame.kind], "msg_id": frame.msg_id,
            "seq": seq, "payload": frame.payload.hex(), "wire": encode_message(message, seq).hex(),
            "fields": to_jsonable(message), "text": describe(message)}


def message_vectors():
    out = []
    for seq, (name, pair) in enumerate(EXAMPLES.items(), start=0x0100):
        if MESSAGES_BY_NAME[name].event:
            out.append(_frame_entry(name + " event", "pump_to_host", pair[0], seq))
            out.append(_frame_entry(name + " ack", "host_to_pump", Ack(MESSAGES_BY_NAME[name].id), seq))
        else:
            out.append(_frame_entry(name + " request", "host_to_pump", pair[0], seq))
            out.append(_frame_entry(name + " response", "pump_to_host", pair[1], seq))
    return out


def error_vectors():
    return [_frame_entry("NAK " + code.name, "pump_to_host", nak, 0x0200 + code)
            for code, nak in NAK_EXAMPLES.items()]


def _outcome(wire):
    items = FrameDecoder().feed(wire)
    return [{"error": item.reason} if isinstance(item, Exception) else
            {"frame": {"kind": KIND_NAMES[item.kind], "msg_id": item.msg_id, "seq": item.seq,
                       "payload": item.payload.hex(), "version": item.version}}
            for item in items]


def _stream(name, wire, pump_nak="-", doc=""):
    entry = {"name": name, "doc": doc, "wire": wire.hex(), "outcome": _outcome(wire)}
    if pump_nak != "-":
        entry["pump_nak"] = pump_nak
    return entry


def malformed_vectors():
    status = encode_frame(0, 0x10, 0x0301)  # GET_STATUS request
    hello = encode_message(EXAMPLES["HELLO"][0], 0x0302)
    flipped = bytearray(status)
    flipped[-2] ^= 0x80  # the last CRC byte: a data byte, and not 0x80, so no zero appears
    return [
        _stream("bad CRC", bytes(flipped), None, "one bit flipped: dropped silently, counted as a bad frame"),
        _stream("truncated", status[:-3] + b"\x00", None, "the last two CRC bytes lost"),
        _stream("oversized", b"\x01" * 300 + b"\x00", None, "longer than MAX_ENCODED: skipped to the delimiter"),
        _stream("shorter than a header", b"\x03\x01\x02\x00", None, "two body bytes"),
        _stream("empty frames", b"\x00\x00\x00", None, "consecutive delimiters are not frames"),
        _stream("noise, delimiter, frame", b"\x55\xaa\x13" + b"\x00" + hello, "-",
                "noise ended by a delimiter costs one bad frame; the next frame is intact"),
        _stream("noise glued to a frame", b"\x55\xaa\x13" + hello, None,
                "no delimiter between noise and frame: both are lost (send 0x00 first after any doubt)"),
        _stream("two frames in one chunk", status + hello, "-"),
        _stream("partial frame then a full one", hello[:7] + b"\x00" + hello, "-"),
        _stream("unknown frame kind", encode_frame(7, 0x10, 0x0303), None, "kind 7: dropped"),
        _stream("unknown message id", encode_frame(0, 0x7E, 0x0304), "UNKNOWN_MESSAGE"),
        _stream("payload too short", encode_frame(0, 0x20, 0x0305, b"\x01\x20\x4e"), "BAD_LENGTH",
                "REFILL needs 9 payload bytes"),
        _stream("payload too long", encode_frame(0, 0x10, 0x0306, b"\x00"), "BAD_LENGTH",
                "GET_STATUS takes no payload"),
        _stream("unknown drug code", encode_frame(0, 0x20, 0x0307, bytes.fromhex("63204e0000204e0000")),
                "OUT_OF_RANGE", "REFILL with drug 99: subject = field 1"),
        _stream("unsupported version", encode_frame(0, 0x10, 0x0308, version=2), "BAD_VERSION"),
        _stream("response kind from the host", encode_frame(1, 0x10, 0x0309), "UNKNOWN_MESSAGE",
                "hosts send REQUEST and ACK only"),
    ]


def render():
    """{file name: JSON text} for every vector file."""
    sets = {"messages": message_vectors(), "errors": error_vectors(), "malformed": malformed_vectors()}
    return {name: json.dumps({"vectors": entries}, indent=1, ensure_ascii=False) + "\n"
            for name, entries in sets.items()}


def main():
    DIRECTORY.mkdir(exist_ok=True)
    for name, text in render().items():
        (DIRECTORY / ("%s.json" % name)).write_text(text)
        print("wrote protocol/vectors/%s.json" % name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
