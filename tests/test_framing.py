"""Framing: CRC, COBS and the streaming decoder, through protocol's public functions."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumpmock.protocol import FrameDecoder, ProtocolError, RemoteProtocolError, decode_frame, encode_frame
from pumpmock.protocol import cobs
from pumpmock.protocol.catalog import MAX_ENCODED, MAX_PAYLOAD
from pumpmock.protocol.crc import CHECK_VALUE, crc16
from pumpmock.protocol.framing import EVENT, NAK, REQUEST, RESPONSE, Frame

frames = st.builds(Frame, kind=st.sampled_from([REQUEST, RESPONSE, EVENT, NAK]),
                   msg_id=st.integers(0, 255), seq=st.integers(0, 0xFFFF),
                   payload=st.binary(max_size=MAX_PAYLOAD), version=st.just(1))


def wire(frame):
    return encode_frame(frame.kind, frame.msg_id, frame.seq, frame.payload)


def test_crc_matches_the_catalogue_check_value():
    assert crc16(b"123456789") == CHECK_VALUE


@given(st.binary(max_size=1000))
def test_cobs_round_trips_and_removes_zeros(data):
    encoded = cobs.encode(data)
    assert 0 not in encoded
    assert cobs.decode(encoded) == data


@given(frames)
def test_frame_round_trip(frame):
    assert decode_frame(wire(frame)) == frame


@given(frames, st.lists(st.integers(1, 200), max_size=10))
def test_decoder_reassembles_any_chunking(frame, cuts):
    data = wire(frame)
    decoder = FrameDecoder()
    out = []
    start = 0
    for cut in sorted(set(c for c in cuts if c < len(data))):
        out += decoder.feed(data[start:cut])
        start = cut
    out += decoder.feed(data[start:])
    assert out == [frame]


@given(st.binary(max_size=600), frames)
def test_noise_then_a_valid_frame_recovers_the_frame(noise, frame):
    decoder = FrameDecoder()
    items = decoder.feed(noise + b"\x00" + wire(frame))
    assert items[-1] == frame
    assert all(isinstance(item, (Frame, ProtocolError)) for item in items)


@given(st.lists(st.binary(max_size=400), max_size=20))
def test_arbitrary_bytes_never_raise_and_memory_stays_bounded(chunks):
    decoder = FrameDecoder()
    for chunk in chunks:
        for item in decoder.feed(chunk):
            assert isinstance(item, (Frame, RemoteProtocolError))
        assert decoder.buffered <= MAX_ENCODED


@given(st.binary(max_size=300))
def test_decode_frame_raises_only_protocol_error(data):
    try:
        decode_frame(data)
    except ProtocolError:
        pass


def test_a_flipped_bit_is_reported_as_crc_error():
    data = bytearray(wire(Frame(RESPONSE, 0x10, 0x0101, b"\x05\x06\x07")))
    assert data.count(0) == 1  # one COBS block: byte 3 is header, not a code byte
    data[3] ^= 0x01
    [item] = FrameDecoder().feed(bytes(data))
    assert isinstance(item, RemoteProtocolError) and item.reason == "crc"


def test_oversized_garbage_is_skipped_once_then_decoding_resumes():
    decoder = FrameDecoder()
    good = wire(Frame(RESPONSE, 0x10, 2, b"ok"))
    items = decoder.feed(b"\x01" * 1000) + decoder.feed(b"\x01" * 1000 + b"\x00" + good)
    assert [getattr(i, "reason", None) for i in items] == ["oversized", None]
    assert items[-1].payload == b"ok"


def test_encoding_an_oversized_payload_is_a_local_error():
    with pytest.raises(ProtocolError) as info:
        encode_frame(REQUEST, 0x10, 1, bytes(MAX_PAYLOAD + 1))
    assert info.value.reason == "oversized"
