"""Consistent Overhead Byte Stuffing: frames carry no 0x00, so 0x00 can delimit them.

Host-side implementation, written for CPython speed: C-level split, replace and slicing do the
byte work, the Python loops take one step per run or per code byte, never per data byte. The
firmware has its own version; the golden vectors and a differential test keep them equal.
"""

from .errors import RemoteProtocolError

_BLOCK = 254  # the most non-zero bytes one code byte covers (code 0xFF: no zero follows)


def encode(data):
    """Encode bytes so the result contains no zero byte (delimiter not included).

    A block of 254 non-zero bytes that ends the data is not followed by an extra 0x01 code.
    """
    data = bytes(data)
    if len(data) < _BLOCK:
        return stuff_short(data)
    return _encode_blocks(data)


_ZERO_MASK = bytes([0] + [1] * 255)  # translate table: 0 where the data has a zero, 1 elsewhere
_CODES = {}  # zero mask -> the code bytes as an int, 0 between them (see stuff_short)
_CODES_MAX = 64


def stuff_short(data, tail=b""):
    """encode() of bytes shorter than 254 (no run can fill a block), followed by `tail`.

    The output is a code byte in front and each zero replaced by the distance to the next zero
    (or the end): the codes depend only on where the zeros are. Frames of one kind keep their
    zeros in place from one to the next, so the codes found for a zero mask are kept, and one
    OR of two integers writes them into the data, however many there are."""
    mask = data.translate(_ZERO_MASK)
    codes = _CODES.get(mask)
    if codes is None:
        if len(_CODES) >= _CODES_MAX:
            _CODES.clear()
        codes = _CODES[mask] = int.from_bytes(stuff_runs(data), "big") ^ int.from_bytes(data, "big")
    return (int.from_bytes(data, "big") | codes).to_bytes(len(data) + 1, "big") + tail


def stuff_runs(data, tail=b""):
    """stuff_short without the memo: a step per run between zeros.

    A zero that another zero follows gets 1, so every code is set to 1 first and only the codes
    in front of non-empty runs are written (a status frame is mostly zeros)."""
    out = bytearray(b"\x01")
    out += data.replace(b"\x00", b"\x01")
    out += tail
    position = 0
    for run in data.split(b"\x00"):
        if run:
            code = len(run) + 1
            out[position] = code
            position += code
        else:
            position += 1
    return bytes(out)


def _encode_blocks(data):
    out = bytearray()
    runs = data.split(b"\x00")
    last = len(runs) - 1
    for number, run in enumerate(runs):
        while len(run) >= _BLOCK:
            out.append(0xFF)  # a full block: no zero follows it implicitly
            out += run[:_BLOCK]
            run = run[_BLOCK:]
            if not run and number == last:
                return bytes(out)
        out.append(len(run) + 1)
        out += run
    return bytes(out)


def decode(data):
    """Decode one COBS block (no delimiter). Raises RemoteProtocolError on a malformed block.

    Fast path: every code byte after the first stands where the output has a zero, so the
    decoder overwrites code bytes with zeros in place and drops the first. That only holds
    when no block is a full 254-byte run (code 0xFF), which pumpmock frames never need
    (MAX_BODY < 254); such input takes the general path.
    """
    if 0 in data:
        raise RemoteProtocolError("COBS block contains a zero byte", "cobs", data)
    return decode_block(data)


_CODE_MASK = bytes([0xFF] + [0] * 255)  # translate table: 0xFF where a decoded block has a zero
_CHAINS = {}  # block length -> [(mask, codes, keep)], the code chains last seen at that length
_CHAINS_PER_LENGTH = 4
_CHAIN_LENGTHS_MAX = 64


def decode_block(data):
    """decode() for a block already cut at delimiters (so known to hold no zero byte).

    A pump's frames of one kind keep their zeros in place, so their code bytes form the same
    chain from one frame to the next. The chains last seen at this length are tried first, as
    integers: a block whose bytes at a chain's positions are that chain's codes walks exactly
    that chain, and clearing those bytes (and dropping the first) decodes it."""
    size = len(data)
    chains = _CHAINS.get(size)
    if chains:
        value = int.from_bytes(data, "big")
        for mask, codes, keep in chains:
            if value & mask == codes:
                return (value & keep).to_bytes(size - 1, "big")
    decoded = _walk(data)
    if decoded is not None:
        _remember(data, decoded)
        return decoded
    return _decode_general(data)


def _remember(data, decoded):
    size = len(data)
    # Codes stand where the decoded block, shifted by the first code, has its zeros.
    mask = int.from_bytes((b"\x00" + decoded).translate(_CODE_MASK), "big")
    chains = _CHAINS.get(size)
    if chains is None:
        if len(_CHAINS) >= _CHAIN_LENGTHS_MAX:
            _CHAINS.clear()
        chains = _CHAINS[size] = []
    chains.insert(0, (mask, int.from_bytes(data, "big") & mask, ~mask & ((1 << 8 * (size - 1)) - 1)))
    del chains[_CHAINS_PER_LENGTH:]


def _walk(data):
    """The decoded block, stepping from code to code; None where a full block (0xFF) needs the
    general path. Raises RemoteProtocolError when a code points past the end."""
    buf = bytearray(data)
    n = len(buf)
    i = 0
    while i < n:
        code = buf[i]
        if code == 0xFF:
            return None
        buf[i] = 0
        i += code
    if i != n:
        raise RemoteProtocolError("COBS code byte points past the end of the frame", "cobs", data)
    del buf[:1]
    return bytes(buf)


def _decode_general(data):
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        end = i + code
        if end > n:
            raise RemoteProtocolError("COBS code byte points past the end of the frame", "cobs", data)
        out += data[i + 1:end]
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)
