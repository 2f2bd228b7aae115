"""Consistent Overhead Byte Stuffing: frames carry no 0x00, so 0x00 can delimit them.

Host-side implementation, written for CPython speed (slices, not per-byte loops). The firmware
has its own per-byte version; the golden vectors and a differential test keep them equal.
"""

from .errors import RemoteProtocolError


def encode(data):
    """Encode bytes so the result contains no zero byte (delimiter not included).

    A block of 254 non-zero bytes that ends the data is not followed by an extra 0x01 code.
    """
    out = bytearray()
    start = 0
    n = len(data)
    while True:
        zero = data.find(0, start, start + 254)
        if zero < 0:
            end = min(start + 254, n)
            out.append(end - start + 1)
            out += data[start:end]
            if end == n:
                return bytes(out)
            start = end  # a full block: the next one continues with no implied zero
        else:
            out.append(zero - start + 1)
            out += data[start:zero]
            start = zero + 1
            if start == n:
                out.append(1)
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


def decode_block(data):
    """decode() for a block already cut at delimiters (so known to hold no zero byte)."""
    buf = bytearray(data)
    n = len(buf)
    i = 0
    while i < n:
        code = buf[i]
        if code == 0xFF:
            return _decode_general(data)
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
