"""Typed messages: round trips for every catalog layout, and agreement with the construct schemas."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpmock.protocol import (Ack, LocalProtocolError, Nak, RemoteProtocolError, decode_frame,
                      decode_message, encode_message)
from pumpmock.protocol import messages as m
from pumpmock.protocol.catalog import MAX_PAYLOAD, MESSAGES, STRUCTS
from pumpmock.protocol.codes import Drug, Error, TherapyMode
from pumpmock.protocol.framing import NAK
from pumpmock.protocol.jsonify import from_jsonable, to_jsonable
from pumpmock.protocol.schemas import COMPILED, LAYOUTS, PLAIN
from pumpmock.protocol.strategies import layout_strategy, message_strategy

ALL_CLASSES = sorted(m.CLASSES.items())


@pytest.mark.parametrize("key,cls", ALL_CLASSES, ids=[cls.__name__ for _k, cls in ALL_CLASSES])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_message_round_trips_through_the_wire(key, cls, data):
    message = data.draw(layout_strategy(cls))
    seq = data.draw(st.integers(0, 0xFFFF))
    frame = decode_frame(encode_message(message, seq))
    assert (frame.kind, frame.msg_id, frame.seq) == (key[0], key[1], seq)
    assert decode_message(frame) == message


@pytest.mark.parametrize("key,cls", ALL_CLASSES, ids=[cls.__name__ for _k, cls in ALL_CLASSES])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_struct_codec_and_construct_schemas_agree(key, cls, data):
    message = data.draw(layout_strategy(cls))
    payload = message.encode()
    schema_key = (("REQUEST", "RESPONSE", "EVENT")[key[0]], key[1])
    parsed = PLAIN[schema_key].parse(payload)
    assert PLAIN[schema_key].build(parsed) == payload
    assert COMPILED[schema_key].parse(payload) == parsed
    assert cls.decode(PLAIN[schema_key].build(to_jsonable_for_construct(message))) == message


def to_jsonable_for_construct(message):
    """construct wants bytes as bytes and nested values as dicts."""
    if hasattr(message, "_fields"):
        return {name: to_jsonable_for_construct(getattr(message, name)) for name in message._fields}
    if isinstance(message, tuple):
        return [to_jsonable_for_construct(item) for item in message]
    return message


@given(message_strategy())
def test_json_form_rebuilds_the_same_message(message):
    assert from_jsonable(type(message), to_jsonable(message)) == message


@given(st.binary(max_size=MAX_PAYLOAD), st.sampled_from([cls for _k, cls in ALL_CLASSES] + [Nak, Ack]))
def test_arbitrary_payloads_raise_only_remote_protocol_error(payload, cls):
    try:
        message = cls.decode(payload)
    except RemoteProtocolError:
        return
    assert message.encode() == payload  # whatever decodes, re-encodes to the same bytes


def test_every_layout_fits_in_one_frame():
    def max_size(fields):
        total = 0
        for field in fields:
            kind = field.kind
            if isinstance(kind, str):
                total += {"u8": 1, "u16": 2, "u32": 4, "u64": 8}[kind]
            elif kind[0] == "bytes":
                total += kind[1]
            elif kind[0] == "text":
                total += 1 + kind[1]
            elif kind[0] == "list":
                total += 1 + kind[2] * max_size(STRUCTS[kind[1]])
            else:
                total += max_size(STRUCTS[kind[1]])
        return total
    too_big = {key: max_size(fields) for key, fields in LAYOUTS.items() if max_size(fields) > MAX_PAYLOAD}
    assert too_big == {}


def test_message_ids_and_names_are_unique():
    assert len({msg.id for msg in MESSAGES}) == len(MESSAGES)
    assert len({msg.name for msg in MESSAGES}) == len(MESSAGES)


def test_strict_decoding_names_the_field_and_the_problem():
    payload = m.RefillRequest(drug=Drug.MORPHINE, concentration_ug_per_ml=1, volume_added_ul=1).encode()
    bad = bytes([99]) + payload[1:]
    with pytest.raises(RemoteProtocolError, match="'drug': 99 is not a drug code") as info:
        m.RefillRequest.decode(bad)
    assert info.value.reason == "code"
    assert m.RefillRequest.decode(bad, strict=False).drug == 99


def test_trailing_and_missing_bytes_are_length_errors():
    payload = m.ClinicianBolusRequest(kind=1, dose_ug=5, duration_s=60).encode()
    for broken in (payload + b"\x00", payload[:-1]):
        with pytest.raises(RemoteProtocolError) as info:
            m.ClinicianBolusRequest.decode(broken)
        assert info.value.reason == "length"


def test_nak_carries_the_request_id_from_the_frame_header():
    wire = encode_message(Nak(0x13, Error.HARD_LIMIT, 3, 15_000, 150_000), 9)
    frame = decode_frame(wire)
    assert (frame.kind, frame.msg_id) == (NAK, 0x13)
    assert decode_message(frame) == Nak(0x13, Error.HARD_LIMIT, 3, 15_000, 150_000)


def test_building_values_the_wire_cannot_carry_is_a_local_error():
    with pytest.raises(LocalProtocolError):
        m.TcSetReservoirRequest(reservoir_ul=2**32).encode()
    with pytest.raises(LocalProtocolError):
        m.HelloResponse(serial="x" * 17).encode()
    with pytest.raises(LocalProtocolError):
        m.HelloResponse(serial="µ").encode()


def test_defaults_make_building_messages_short():
    rx = m.Prescription(drug=Drug.ZICONOTIDE, concentration_ug_per_ml=100,
                        mode=TherapyMode.SIMPLE_CONTINUOUS, daily_dose_ug=12)
    assert rx.steps == () and rx.ptm_dose_ug == 0
    assert m.ProgramPrescriptionRequest(prescription=rx).overrides == ()
    assert isinstance(m.ProgramPrescriptionRequest().prescription, m.Prescription)


FAST_CLASSES = sorted((key, cls) for key, cls in m.CLASSES.items() if cls._layout.fast is not None)


def _outcome(decode, payload):
    try:
        return decode(payload)
    except RemoteProtocolError as error:
        return (str(error), error.reason)


@pytest.mark.parametrize("key,cls", FAST_CLASSES, ids=[cls.__name__ for _k, cls in FAST_CLASSES])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_fast_decoder_agrees_with_the_general_one_on_any_payload(key, cls, data):
    """Valid payloads (twice: the second through what the first left kept), and every byte
    of one changed, decode to the same message or are refused with the same words."""
    layout = cls._layout
    payload = data.draw(layout_strategy(cls)).encode()
    edits = data.draw(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), max_size=4))
    grown = data.draw(st.binary(max_size=3))
    candidates = [payload, payload, payload + grown, payload[:-1]]
    for position, value in edits:
        changed = bytearray(payload + grown)
        if changed:
            changed[position % len(changed)] = value
        candidates += [bytes(changed), bytes(changed)]
    fast = [_outcome(cls.decode, p) for p in candidates]
    layout.fast, kept = None, layout.fast
    try:
        general = [_outcome(cls.decode, p) for p in candidates]
    finally:
        layout.fast = kept
    assert fast == general
    for got in fast:
        if isinstance(got, cls):
            assert all(type(a) is type(b) for a, b in zip(got, general[fast.index(got)]))


def test_the_fast_decoder_covers_the_status_answer():
    assert m.GetStatusResponse._layout.fast is not None
