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


# COBS written the textbook way, a byte at a time: the fast encoders (host and firmware) must
# equal it. pumpmock's one variation: a full 254-byte block that ends the data gets no 0x01 after it.
def simple_cobs_encode(data):
    out = bytearray([0])
    code_at, code, full = 0, 1, False
    for byte in data:
        if byte == 0:
            out[code_at] = code
            code_at, code, full = len(out), 1, False
            out.append(0)
            continue
        out.append(byte)
        code += 1
        if code == 0xFF:
            out[code_at] = code
            code_at, code, full = len(out), 1, True
            out.append(0)
    if full and code == 1:
        del out[code_at:]
    else:
        out[code_at] = code
    return bytes(out)


def simple_cobs_decode(block):
    out = bytearray()
    i = 0
    while i < len(block):
        code = block[i]
        if code == 0 or i + code > len(block):
            return None
        out += block[i + 1:i + code]
        i += code
        if code != 0xFF and i < len(block):
            out.append(0)
    return bytes(out)


def test_the_simple_cobs_gives_the_textbook_encodings():
    assert simple_cobs_encode(b"") == b"\x01"
    assert simple_cobs_encode(b"\x00") == b"\x01\x01"
    assert simple_cobs_encode(b"\x00\x00") == b"\x01\x01\x01"
    assert simple_cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert simple_cobs_encode(b"\x01" * 254) == b"\xff" + b"\x01" * 254
    assert simple_cobs_encode(b"\x01" * 255) == b"\xff" + b"\x01" * 254 + b"\x02\x01"
    assert simple_cobs_decode(b"\x03\x11\x22\x02\x33") == b"\x11\x22\x00\x33"
    assert simple_cobs_decode(b"\x05\x11") is None


# Zero-heavy input (status frames are mostly zeros), long non-zero runs around the 254 boundary,
# and plain random bytes.
cobs_inputs = st.one_of(
    st.binary(max_size=600),
    st.lists(st.sampled_from([0, 0, 0, 1, 2, 0xFE, 0xFF]), max_size=300).map(bytes),
    st.lists(st.one_of(st.just(b"\x00"), st.just(b"\x00\x00\x00"),
                       st.integers(200, 520).map(lambda size: b"\x07" * size)), max_size=4).map(b"".join))


@given(cobs_inputs)
def test_fast_cobs_equals_the_byte_at_a_time_algorithm(data):
    from pumpmock.firmware_mock import framing as firmware
    expected = simple_cobs_encode(data)
    assert cobs.encode(data) == expected
    assert cobs.encode(bytearray(data)) == expected
    assert firmware.cobs_encode(data) == expected
    assert firmware.cobs_encode(bytearray(data)) == expected
    assert cobs.decode(expected) == data
    assert firmware.cobs_decode(expected) == data
    assert firmware.cobs_decode(bytearray(expected)) == data


@given(st.binary(min_size=1, max_size=300).map(lambda block: block.replace(b"\x00", b"\x03")))
def test_fast_cobs_decode_refuses_exactly_what_the_simple_decoder_refuses(block):
    from pumpmock.firmware_mock import framing as firmware
    expected = simple_cobs_decode(block)
    assert firmware.cobs_decode(block) == expected
    if expected is None:
        with pytest.raises(RemoteProtocolError):
            cobs.decode(block)
    else:
        assert cobs.decode(block) == expected


@given(frames)
def test_frames_with_the_delimiter_written_in_place_equal_cobs_plus_delimiter(frame):
    from pumpmock.firmware_mock import framing as firmware
    body = bytes(frame.payload)
    data = wire(frame)
    assert data == simple_cobs_encode(cobs.decode(data[:-1])) + b"\x00"
    assert firmware.encode_frame(frame.kind, frame.msg_id, frame.seq, body) == data


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


def test_cut_keeps_every_byte_in_pieces_a_frame_long_at_most():
    # a spare delimiter, a frame, a run longer than any frame, a frame cut across feeds, a tail
    good = wire(Frame(RESPONSE, 0x10, 2, b"ok"))
    stream = b"\x00" + good + b"\x01" * (MAX_ENCODED + 5) + b"\x00" + good + b"\x07\x07"
    decoder = FrameDecoder()
    pieces = decoder.cut(stream[:40]) + decoder.cut(stream[40:])
    assert pieces == [b"\x00", good, b"\x01" * MAX_ENCODED, b"\x01" * 5 + b"\x00", good]
    assert decoder.buffered == 2 and not decoder.skipping
    assert decoder.flush() == b"\x07\x07" and decoder.buffered == 0


@given(st.binary(max_size=2000).map(lambda b: b.replace(b"\x02", b"\x00")), st.integers(1, 300))
def test_cut_and_feed_split_the_same_stream_the_same_way(stream, step):
    """Feeding the pieces `cut` gives back (in any chunks) yields what feeding the stream does."""
    cutter, whole, pieces_fed = FrameDecoder(), FrameDecoder(), FrameDecoder()
    pieces, items, again = [], [], []
    for start in range(0, len(stream), step):
        chunk = stream[start:start + step]
        pieces += cutter.cut(chunk)
        items += whole.feed(chunk)
    for piece in pieces:
        assert 0 < len(piece) <= MAX_ENCODED + 1 and (piece[-1] == 0 or len(piece) == MAX_ENCODED)
        again += pieces_fed.feed(piece)
    assert b"".join(pieces) + cutter.flush() == stream
    assert [repr(i) for i in again] == [repr(i) for i in items]


def test_an_oversized_run_is_reported_once_however_it_is_fed():
    run = b"\x01" * (3 * MAX_ENCODED) + b"\x00"
    for step in (1, 7, MAX_ENCODED, len(run)):
        decoder = FrameDecoder()
        items = [item for start in range(0, len(run), step) for item in decoder.feed(run[start:start + step])]
        assert [i.reason for i in items] == ["oversized"] and decoder.frames_bad == 1


def test_a_copy_goes_on_alone_from_the_state_it_was_taken_in():
    good = wire(Frame(RESPONSE, 0x10, 2, b"ok"))
    decoder = FrameDecoder()
    decoder.cut(b"\x01" * (MAX_ENCODED + 1))  # inside a run longer than any frame
    decoder.feed(b"\x00" + good[:3])  # the run ended; half a frame held
    copy = decoder.copy()
    assert copy.feed(good[3:]) == [Frame(RESPONSE, 0x10, 2, b"ok")]
    assert decoder.buffered == 3 and copy.buffered == 0  # the original still holds its half
    assert decoder.cut(good[3:]) == [good]
    run = FrameDecoder()
    run.cut(b"\x01" * (MAX_ENCODED + 1))
    assert run.copy().skipping and run.copy().cut(b"\x00" + good) == [b"\x01\x00", good]


_stream_parts = st.one_of(
    frames.map(wire), st.just(b"\x00"), st.binary(max_size=40),
    st.integers(MAX_ENCODED - 1, MAX_ENCODED + 300).map(lambda size: b"\x01" * size))


def _items(items):
    return [(error.reason, error.raw) if isinstance(error, RemoteProtocolError) else error for error in items]


@given(st.lists(_stream_parts, max_size=12), st.lists(st.integers(1, 600), max_size=8))
def test_any_chunking_gives_the_same_items_as_one_feed(parts, cuts):
    """One feed of a stream takes bytes.split's way when nothing is held; chunks mostly the loop's."""
    data = b"".join(parts)
    points = [0] + sorted(set(c for c in cuts if c < len(data))) + [len(data)]
    chunks = [data[a:b] for a, b in zip(points, points[1:])]
    for method in ("feed", "cut"):
        whole, chunked, bytewise = FrameDecoder(), FrameDecoder(), FrameDecoder()
        expected = _items(getattr(whole, method)(data))
        assert _items([i for c in chunks for i in getattr(chunked, method)(c)]) == expected
        assert _items([i for b in range(len(data)) for i in getattr(bytewise, method)(data[b:b + 1])]) == expected
        assert whole.flush() == chunked.flush() == bytewise.flush()
        assert (whole.frames_ok, whole.frames_bad) == (chunked.frames_ok, chunked.frames_bad) \
            == (bytewise.frames_ok, bytewise.frames_bad)
