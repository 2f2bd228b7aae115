"""The fuzz strategies produce what they promise: valid, one-field-invalid, near-valid, mutated."""

from hypothesis import given, settings

from pumpmock.protocol import FrameDecoder, ProtocolError, RemoteProtocolError, decode_frame, decode_message
from pumpmock.protocol.messages import CLASSES
from pumpmock.protocol.framing import REQUEST
from pumpmock.harness.fuzz import strategies as fs


@given(fs.wire_frames())
def test_valid_requests_decode_strictly(item):
    seq, message, wire = item
    frame = decode_frame(wire)
    assert frame.seq == seq and decode_message(frame) == message


@settings(max_examples=150)
@given(fs.out_of_range_requests())
def test_out_of_range_requests_break_exactly_the_named_field(item):
    msg_id, payload, position = item
    cls = CLASSES[(REQUEST, msg_id)]
    try:
        cls.decode(payload)
    except RemoteProtocolError as error:
        field = cls._layout.fields[position - 1].name
        assert error.reason in ("range", "code") and repr(field) in str(error)
    else:
        raise AssertionError("strict decoding accepted an out-of-range payload")
    cls.decode(payload, strict=False)  # structurally still a well-formed payload


@settings(max_examples=150)
@given(fs.near_valid_frames())
def test_near_valid_frames_are_not_valid_requests(item):
    mutation, wire = item
    try:
        frame = decode_frame(wire)
        if frame.kind != REQUEST or frame.version != 1:
            return
        decode_message(frame)
    except ProtocolError:
        return
    # a bit flip or an extension can land on another valid request: that is not near-valid
    assert mutation in ("bitflip", "extend", "truncate")


@given(fs.mutated_vectors())
def test_mutated_vectors_never_break_the_decoder(data):
    for item in FrameDecoder().feed(data):
        assert isinstance(item, (RemoteProtocolError,)) or hasattr(item, "payload")
