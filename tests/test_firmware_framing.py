"""pumpmock.firmware_mock.framing against the host's protocol framing: CRC, COBS, frames, the resynchronising reader."""

import binascii

from hypothesis import given, settings, strategies as st

from pumpmock.protocol import cobs as host_cobs
from pumpmock.protocol.catalog import MAX_ENCODED
from pumpmock.protocol.framing import FrameDecoder, encode_frame as host_encode_frame
from pumpmock.protocol.vectors import load

from pumpmock.firmware_mock import framing

# Byte strings rich in zeros and in long non-zero runs (COBS's two edge cases).
zero_heavy = st.lists(st.sampled_from([0, 1, 0xFF, 7]), max_size=40).map(bytes)
long_runs = st.lists(st.one_of(st.just(b"\x00"), st.binary(min_size=250, max_size=260).map(
    lambda b: b.replace(b"\x00", b"\x01"))), max_size=3).map(b"".join)
payloads = st.one_of(st.binary(max_size=600), zero_heavy, long_runs)


def test_crc_check_value():
    assert framing.crc16_table(b"123456789") == framing.crc16(b"123456789") == 0x29B1


@given(st.binary(max_size=300))
def test_the_pure_python_crc_equals_crc_hqx(data):
    """MicroPython has no crc_hqx and runs the table version: it must give the same CRC."""
    assert framing.crc16_table(data) == binascii.crc_hqx(data, 0xFFFF)


@given(payloads)
def test_cobs_encode_is_byte_identical_to_the_host(data):
    encoded = framing.cobs_encode(data)
    assert encoded == host_cobs.encode(data)
    assert 0 not in encoded
    assert framing.cobs_decode(encoded) == data


@given(st.lists(st.booleans(), max_size=253), st.lists(st.binary(min_size=253, max_size=253), min_size=2, max_size=4))
@settings(max_examples=200)
def test_cobs_codes_kept_per_zero_mask_are_the_codes_of_every_body_with_that_mask(zeros, fillings):
    """Bodies with their zeros in the same places and anything else between them (status
    answers one after another) take the kept codes: each is what the plain loop writes."""
    for filling in fillings:
        data = bytes(0 if zero else (byte or 1) for zero, byte in zip(zeros, filling))
        for stuff, plain in ((framing._stuff_short, framing._stuff_runs),
                             (host_cobs.stuff_short, host_cobs.stuff_runs)):
            assert stuff(data, b"\x00") == plain(data, b"\x00"), data.hex()


@given(st.lists(st.booleans(), max_size=200), st.lists(st.binary(min_size=200, max_size=200), min_size=2, max_size=4),
       st.lists(st.tuples(st.integers(0, 200), st.integers(1, 255)), max_size=3))
@settings(max_examples=200)
def test_host_cobs_decode_through_a_kept_chain_equals_a_walk(zeros, fillings, edits):
    """The host keeps the code chains it walked: blocks on the same chain (frames of one kind),
    and blocks of that length with a byte changed anywhere, a code included, decode as the
    firmware's decoder (which keeps nothing) decodes them, or are refused where it refuses."""
    for filling in fillings:
        data = bytes(0 if zero else (byte or 1) for zero, byte in zip(zeros, filling))
        block = host_cobs.encode(data)
        assert host_cobs.decode_block(block) == data
        for position, value in edits:
            changed = bytearray(block)
            changed[position % len(changed)] = value
            try:
                got = host_cobs.decode_block(bytes(changed))
            except Exception:
                got = None
            assert got == framing.cobs_decode(bytes(changed)), changed.hex()


def test_cobs_code_memo_stays_bounded():
    for n in range(200):
        data = bytes((n >> bit) & 1 for bit in range(8))
        assert framing.cobs_encode(data) == host_cobs.encode(data) == framing._stuff_runs(data, b"")
    assert len(framing._CODES) <= framing._CODES_MAX and len(host_cobs._CODES) <= host_cobs._CODES_MAX
    for size in range(1, 240):
        for n in range(6):
            block = bytes([size] + [1 + n] * (size - 1))
            assert host_cobs.decode_block(block) == framing.cobs_decode(block)
    assert len(host_cobs._CHAINS) <= host_cobs._CHAIN_LENGTHS_MAX
    assert all(len(chains) <= host_cobs._CHAINS_PER_LENGTH for chains in host_cobs._CHAINS.values())


def test_cobs_full_block_at_the_end_gets_no_extra_code():
    data = b"\x01" * 254
    assert framing.cobs_encode(data) == b"\xff" + data
    assert framing.cobs_encode(data + b"\x00") == b"\xff" + data + b"\x01\x01"


@given(st.binary(min_size=1, max_size=300).map(lambda b: b.replace(b"\x00", b"\x02")))
def test_cobs_decode_agrees_with_the_host_on_any_block(block):
    try:
        expected = host_cobs.decode(block)
    except Exception:
        expected = None
    assert framing.cobs_decode(block) == expected


@given(st.integers(0, 7), st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=240), st.integers(0, 255))
def test_frames_are_byte_identical_to_the_host(kind, msg_id, seq, payload, version):
    assert framing.encode_frame(kind, msg_id, seq, payload, version) == \
        host_encode_frame(kind, msg_id, seq, payload, version)


def _host_outcome(decoder, data):
    return [None if isinstance(item, Exception) else
            (item.version, item.kind, item.msg_id, item.seq, item.payload) for item in decoder.feed(data)]


@given(st.lists(st.one_of(
    st.builds(host_encode_frame, st.integers(0, 7), st.integers(0, 255), st.integers(0, 0xFFFF),
              st.binary(max_size=60)),
    st.binary(max_size=30), st.just(b"\x00"), st.binary(min_size=250, max_size=400)), max_size=8),
    st.lists(st.integers(1, 50), min_size=1, max_size=5))
@settings(max_examples=300)
def test_reader_matches_the_host_decoder_on_any_stream_in_any_chunks(parts, cuts):
    stream = b"".join(parts)
    host, reader = FrameDecoder(), framing.FrameReader()
    expected, got = [], []
    position, i = 0, 0
    while position < len(stream):
        chunk = stream[position:position + cuts[i % len(cuts)]]
        position += len(chunk)
        i += 1
        expected += [item for item in _host_outcome(host, chunk) if item is not None]
        got += reader.feed(chunk)
        assert len(reader._pending) <= MAX_ENCODED
    assert got == expected
    assert reader.frames_bad == host.frames_bad


def test_malformed_vectors():
    for entry in load("malformed"):
        reader = framing.FrameReader()
        frames = reader.feed(bytes.fromhex(entry["wire"]))
        wanted = [o["frame"] for o in entry["outcome"] if "frame" in o]
        assert [f[4].hex() for f in frames] == [w["payload"] for w in wanted], entry["name"]
        assert reader.frames_bad == sum(1 for o in entry["outcome"] if "error" in o), entry["name"]
