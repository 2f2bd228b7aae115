"""pumpmock.firmware_mock.codec against protocol.messages: same bytes both ways for every layout; request checks."""

import pytest
from hypothesis import given, settings, strategies as st

from pumpmock.protocol import messages as m
from pumpmock.protocol.framing import EVENT, REQUEST, RESPONSE
from pumpmock.protocol.strategies import layout_strategy, message_strategy
from pumpmock.protocol.vectors import load

from pumpmock.firmware_mock import codec, spec
from pumpmock.firmware_mock.errors import Refusal

from test_firmware_support import plain


def firmware_layout(message):
    msg_id = message.MESSAGE.id
    return {REQUEST: spec.REQUEST, RESPONSE: spec.RESPONSE, EVENT: spec.EVENT}[message.KIND][msg_id]


@given(message_strategy(kinds=(REQUEST, RESPONSE, EVENT)))
@settings(max_examples=400, deadline=None)
def test_both_codecs_write_and_read_the_same_bytes(message):
    layout = firmware_layout(message)
    payload = message.encode()
    decoded = codec.decode(layout, payload)
    assert decoded == plain(message)
    assert codec.encode(layout, decoded) == payload
    assert type(message).decode(codec.encode(layout, plain(message))) == message
    if message.KIND == REQUEST:
        assert codec.decode_request(layout, payload) == decoded  # valid requests pass the strict checks


@pytest.mark.parametrize("entry", [e for e in load("messages") if e["kind"] in ("REQUEST", "RESPONSE", "EVENT")],
                         ids=lambda e: e["name"])
def test_golden_vectors_decode_and_re_encode(entry):
    table = {"REQUEST": spec.REQUEST, "RESPONSE": spec.RESPONSE, "EVENT": spec.EVENT}[entry["kind"]]
    layout = table[entry["msg_id"]]
    payload = bytes.fromhex(entry["payload"])
    assert codec.encode(layout, codec.decode(layout, payload)) == payload


def test_nak_layout_matches_the_host():
    nak = m.Nak(0x20, 8, 20, 20_000, 20_001)
    assert codec.encode(spec.ERROR_LAYOUT, {"code": 8, "subject": 20, "limit_value": 20_000,
                                            "actual_value": 20_001}) == nak.encode()


def refusal(layout, payload):
    with pytest.raises(Refusal) as caught:
        codec.decode_request(layout, payload)
    return caught.value.code, caught.value.subject, caught.value.limit_value, caught.value.actual_value


def test_bad_length_reports_expected_and_received():
    refill = spec.REQUEST[spec.ID_REFILL]
    assert refusal(refill, b"\x01\x20\x4e") == (spec.E_BAD_LENGTH, 0, 9, 3)
    assert refusal(spec.REQUEST[spec.ID_GET_STATUS], b"\x00") == (spec.E_BAD_LENGTH, 0, 0, 1)


def test_bad_length_of_a_list_counts_what_the_count_byte_promises():
    program = spec.REQUEST[spec.ID_PROGRAM_PRESCRIPTION]
    payload = m.ProgramPrescriptionRequest((2, 4), m.Prescription(drug=1, concentration_ug_per_ml=1, mode=1)).encode()
    assert refusal(program, payload[:-1]) == (spec.E_BAD_LENGTH, 0, len(payload), len(payload) - 1)
    assert refusal(program, b"\x05") == (spec.E_BAD_LENGTH, 0, 1 + 5 + 24, 1)


def test_out_of_range_names_the_top_level_field_position():
    refill = spec.REQUEST[spec.ID_REFILL]
    assert refusal(refill, bytes.fromhex("63204e0000204e0000")) == (spec.E_OUT_OF_RANGE, 1, 0, 99)
    assert refusal(refill, bytes.fromhex("01000000002000000000"[:18])) == (spec.E_OUT_OF_RANGE, 2, 1, 0)
    read_log = spec.REQUEST[spec.ID_READ_LOG]
    assert refusal(read_log, b"\x00\x00\x00\x00\x0d") == (spec.E_OUT_OF_RANGE, 2, 12, 13)
    program = spec.REQUEST[spec.ID_PROGRAM_PRESCRIPTION]
    rx = m.Prescription(drug=1, concentration_ug_per_ml=1, mode=2,
                        steps=(m.FlexStep(0, 1), m.FlexStep(1440, 1)))
    assert refusal(program, m.ProgramPrescriptionRequest((), rx).encode()) == (spec.E_OUT_OF_RANGE, 2, 1439, 1440)
    assert refusal(program, b"\x01\x00" + rx.encode()) == (spec.E_OUT_OF_RANGE, 1, 0, 0)


@given(layout_strategy(m.ProgramPrescriptionRequest), st.integers(25, 35))
@settings(max_examples=30)
def test_a_list_longer_than_its_maximum_is_out_of_range(request, count):
    rx = request.prescription._replace(steps=tuple(m.FlexStep(i, 1) for i in range(count)))
    payload = request._replace(overrides=(), prescription=rx).encode()
    assert refusal(spec.REQUEST[spec.ID_PROGRAM_PRESCRIPTION], payload) == (spec.E_OUT_OF_RANGE, 2, 24, count)


def test_the_status_packer_refuses_a_layout_whose_fields_differ():
    layout = spec.RESPONSE[spec.ID_GET_STATUS]
    names = tuple(field[0] for field in layout)
    assert codec.scalars_and_codes(layout, names).size == len(m.GetStatusResponse().encode())
    swapped = (names[1], names[0]) + names[2:]
    with pytest.raises(ValueError):
        codec.scalars_and_codes(layout, swapped)
    with pytest.raises(ValueError):
        codec.scalars_and_codes(spec.RESPONSE[spec.ID_HELLO], tuple(field[0] for field in spec.RESPONSE[spec.ID_HELLO]))
