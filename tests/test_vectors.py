"""Golden vectors: the committed bytes decode to their meaning and re-encode to the same bytes."""

import pytest

from pumpmock.protocol import FrameDecoder, decode_frame, decode_message, encode_message
from pumpmock.protocol import messages as m
from pumpmock.protocol.catalog import MESSAGES
from pumpmock.protocol.codes import Error
from pumpmock.protocol.examples import check_complete
from pumpmock.protocol.framing import KIND_NAMES
from pumpmock.protocol.jsonify import from_jsonable, to_jsonable
from pumpmock.protocol.vectors import load

FRAME_VECTORS = load("messages") + load("errors")
MALFORMED = load("malformed")


def class_for(entry):
    kind = KIND_NAMES.index(entry["kind"])
    if entry["kind"] == "NAK":
        return m.Nak
    if entry["kind"] == "ACK":
        return m.Ack
    return m.message_class(kind, entry["msg_id"])


@pytest.mark.parametrize("entry", FRAME_VECTORS, ids=[e["name"] for e in FRAME_VECTORS])
def test_frame_vector_decodes_to_its_meaning(entry):
    frame = decode_frame(bytes.fromhex(entry["wire"]))
    assert (KIND_NAMES[frame.kind], frame.msg_id, frame.seq) == (entry["kind"], entry["msg_id"], entry["seq"])
    assert frame.payload.hex() == entry["payload"]
    assert to_jsonable(decode_message(frame)) == entry["fields"]


@pytest.mark.parametrize("entry", FRAME_VECTORS, ids=[e["name"] for e in FRAME_VECTORS])
def test_frame_vector_re_encodes_to_its_bytes(entry):
    message = from_jsonable(class_for(entry), entry["fields"])
    assert encode_message(message, entry["seq"]).hex() == entry["wire"]


@pytest.mark.parametrize("entry", MALFORMED, ids=[e["name"] for e in MALFORMED])
def test_malformed_vector_outcome(entry):
    outcome = []
    for item in FrameDecoder().feed(bytes.fromhex(entry["wire"])):
        if isinstance(item, Exception):
            outcome.append({"error": item.reason})
        else:
            outcome.append({"frame": {"kind": KIND_NAMES[item.kind], "msg_id": item.msg_id, "seq": item.seq,
                                      "payload": item.payload.hex(), "version": item.version}})
    assert outcome == entry["outcome"]


def test_vectors_cover_every_message_both_ways_and_every_error_code():
    assert check_complete() == []
    names = {e["name"] for e in FRAME_VECTORS}
    for message in MESSAGES:
        wanted = ("event", "ack") if message.event else ("request", "response")
        for suffix in wanted:
            assert "%s %s" % (message.name, suffix) in names
    assert {e["name"] for e in load("errors")} == {"NAK " + code.name for code in Error}


def test_malformed_vectors_cover_the_documented_failure_reasons():
    reasons = {o["error"] for e in MALFORMED for o in e["outcome"] if "error" in o}
    assert reasons >= {"crc", "cobs", "oversized", "short", "kind"}
    naks = {e.get("pump_nak") for e in MALFORMED}
    assert naks >= {"UNKNOWN_MESSAGE", "BAD_LENGTH", "OUT_OF_RANGE", "BAD_VERSION", None}
