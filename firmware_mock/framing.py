"""Frames on the pump's serial line: CRC-16/CCITT-FALSE, COBS, frame encoding and a resynchronising reader.

    body = version u8 | kind u8 | msg_id u8 | seq u16 LE | payload | crc16 BE (over everything before it)
    wire = COBS(body) 0x00

Pure Python so that it runs on MicroPython (no binascii.crc_hqx there). Written apart from the
host's protocol.cobs and protocol.crc; tests/test_firmware_framing.py holds them byte-identical.
"""

from . import spec
from .packing import packer

HEADER = packer("<BBBH")
_CRC = packer(">H")
_MIN_BODY = spec.HEADER_SIZE + spec.CRC_SIZE
_HEADER_SIZE, _CRC_SIZE, _MAX_ENCODED = spec.HEADER_SIZE, spec.CRC_SIZE, spec.MAX_ENCODED
_LAST_KIND = spec.K_NAK


def _crc_table():
    table = []
    for top in range(256):
        crc = top << 8
        for _bit in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


CRC_TABLE = _crc_table()
# Two bytes a step: the CRC is linear, so shifting the 16-bit register (high byte h, low byte l)
# through two data bytes is CRC_HIGH[h ^ first] ^ CRC_TABLE[l ^ second], where CRC_HIGH[x] is
# what x alone in the high byte becomes after two zero bytes. A third fewer steps on MicroPython.
CRC_HIGH = tuple(((CRC_TABLE[x] << 8) & 0xFFFF) ^ CRC_TABLE[CRC_TABLE[x] >> 8] for x in range(256))


def crc16_table(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection); crc16(b"123456789") == 0x29B1."""
    table = CRC_TABLE
    high = CRC_HIGH
    size = len(data)
    for i in range(0, size - 1, 2):
        crc = high[(crc >> 8) ^ data[i]] ^ table[(crc & 0xFF) ^ data[i + 1]]
    if size & 1:
        crc = ((crc << 8) & 0xFF00) ^ table[(crc >> 8) ^ data[size - 1]]
    return crc


try:  # the same CRC in C where the platform has it (CPython); MicroPython runs the table
    from binascii import crc_hqx as _crc_of  # (data, crc): the hot paths call it directly

    def crc16(data, crc=0xFFFF):
        return _crc_of(data, crc)
except ImportError:
    _crc_of = crc16 = crc16_table


def cobs_encode(data):
    """COBS without the delimiter. A run of 254 non-zero bytes that ends the data gets no extra code."""
    data = bytes(data)
    if len(data) < 254:
        return _stuff_short(data, b"")
    return _cobs_encode_blocks(data)


_ZEROS = bytes([0] + [1] * 255)  # translate table: a body's zero mask (0 where it has a zero)
_CODES = {}  # zero mask -> the codes as an int to OR into the body (CPython: see _stuff_short)
_CODES_MAX = 64


def _stuff_short(data, tail):
    """COBS of bytes shorter than 254, followed by `tail` (b"" or the delimiter).

    The codes depend only on where the zeros are, and a pump's answers keep their zeros where
    they were (a status differs from the last in a few non-zero bytes): with bytes.translate
    (CPython) the zero mask finds the codes of the last body that had it, and one OR of two
    integers puts them in, as many bytes as there are. MicroPython takes the loop below."""
    mask = data.translate(_ZEROS)
    codes = _CODES.get(mask)
    if codes is None:
        if len(_CODES) >= _CODES_MAX:
            _CODES.clear()
        codes = _CODES[mask] = int.from_bytes(_stuff_runs(data, b""), "big") ^ int.from_bytes(data, "big")
    return (int.from_bytes(data, "big") | codes).to_bytes(len(data) + 1, "big") + tail


def _stuff_runs(data, tail):
    """_stuff_short without the memo: one bytes.find per zero.

    No run between zeros can fill a block, so the output is a code byte in front and every zero
    replaced by the distance to the next zero (or to the end): each zero found writes the code
    that stands before it. No list of runs is made (MicroPython allocates every piece)."""
    out = bytearray(b"\x00")
    out += data
    out += tail
    find = data.find
    last = 0  # where the code of the run being measured goes
    zero = find(b"\x00")
    while zero >= 0:
        out[last] = zero + 1 - last
        last = zero + 1
        zero = find(b"\x00", last)
    out[last] = len(data) + 1 - last
    return bytes(out)


if not hasattr(b"", "translate"):  # MicroPython
    _stuff_short = _stuff_runs


def _cobs_encode_blocks(data):
    out = bytearray()
    runs = bytes(data).split(b"\x00")
    last = len(runs) - 1
    for number, run in enumerate(runs):
        while len(run) >= 254:
            out.append(0xFF)  # a full block: no zero follows it implicitly
            out += run[:254]
            run = run[254:]
            if not run and number == last:
                return bytes(out)
        out.append(len(run) + 1)
        out += run
    return bytes(out)


def cobs_decode(block):
    """Undo COBS on one block (no delimiter inside). None when the block is malformed.

    Every code byte after the first stands where the output has a zero (while no code is 0xFF,
    a full block with no zero after it), so the codes are overwritten with zeros in place and
    the first dropped: one step per code, no copying of the runs between them."""
    buf = bytearray(block)
    size = len(buf)
    i = 0
    while i < size:
        code = buf[i]
        if code == 0 or code == 0xFF:
            return _cobs_decode_blocks(block)
        buf[i] = 0
        i += code
    if i != size:
        return None
    return bytes(buf)[1:]


def _cobs_decode_blocks(block):
    out = bytearray()
    size = len(block)
    i = 0
    while i < size:
        code = block[i]
        end = i + code
        if code == 0 or end > size:
            return None
        out += block[i + 1:end]
        i = end
        if code != 0xFF and i < size:
            out.append(0)
    return bytes(out)


def encode_frame(kind, msg_id, seq, payload=b"", version=spec.PROTOCOL_VERSION):
    """Wire bytes of one frame, delimiter included."""
    body = HEADER.pack(version, kind, msg_id, seq) + payload
    body += _CRC.pack(_crc_of(body, 0xFFFF))
    if len(body) < 254:
        return _stuff_short(body, b"\x00")
    return _cobs_encode_blocks(body) + b"\x00"


class FrameReader:
    """Bytes in, checked frames out: (version, kind, msg_id, seq, payload) tuples.

    Resynchronises at every 0x00, so garbage costs at most the frame it lands in. Holds at most
    spec.MAX_ENCODED bytes whatever it is fed. Frames with a bad CRC, bad COBS, a wrong size or
    an unknown kind are dropped and counted in frames_bad: the pump never answers them.
    """

    def __init__(self):
        self._pending = b""
        self._skipping = False  # inside an oversized run: drop bytes until the next delimiter
        self.frames_bad = 0

    def reset(self):
        self._pending = b""
        self._skipping = False

    def feed(self, data):
        frames = []
        data = bytes(data)
        if not self._pending and not self._skipping and data.find(b"\x00") == len(data) - 1:
            if len(data) > 1:  # the usual case: exactly one whole frame
                self._block(data[:-1], frames)
            return frames
        buf = self._pending + data if self._pending else data
        start = 0
        while True:
            end = buf.find(b"\x00", start)
            if end < 0:
                break
            if self._skipping:
                self._skipping = False
            elif end > start:
                self._block(buf[start:end], frames)
            start = end + 1
        rest = buf[start:]
        if len(rest) > spec.MAX_ENCODED:
            if not self._skipping:
                self.frames_bad += 1
            self._skipping = True
            rest = b""
        self._pending = rest
        return frames

    def _block(self, block, frames):
        body = cobs_decode(block) if len(block) <= _MAX_ENCODED else None
        if body is None or len(body) < _MIN_BODY or _crc_of(body, 0xFFFF) != 0 or body[1] > _LAST_KIND:
            self.frames_bad += 1
            return
        frames.append(HEADER.unpack_from(body) + (body[_HEADER_SIZE:-_CRC_SIZE],))  # version, kind, msg_id, seq, payload
