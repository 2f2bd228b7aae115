"""Frames on the wire: header + payload + CRC, COBS-encoded, ended by 0x00; and a streaming decoder.

    body  = version u8 | kind u8 | msg_id u8 | seq u16 LE | payload | crc16 BE
    wire  = COBS(body) 0x00

The decoder resynchronises at every 0x00: whatever garbage precedes a delimiter costs at most
that one (rejected) frame. It holds at most MAX_ENCODED bytes, whatever it is fed.
"""

import struct
from binascii import crc_hqx
from typing import NamedTuple

from . import cobs
from .catalog import CRC_SIZE, HEADER_SIZE, MAX_ENCODED, MAX_PAYLOAD, PROTOCOL_VERSION
from .crc import INIT as _CRC_INIT
from .errors import LocalProtocolError, RemoteProtocolError

REQUEST, RESPONSE, EVENT, ACK, NAK = range(5)
KIND_NAMES = ("REQUEST", "RESPONSE", "EVENT", "ACK", "NAK")

_HEADER = struct.Struct("<BBBH")
_CRC = struct.Struct(">H")
_MIN_BODY = HEADER_SIZE + CRC_SIZE


class Frame(NamedTuple):
    kind: int
    msg_id: int
    seq: int
    payload: bytes = b""
    version: int = PROTOCOL_VERSION

    def __repr__(self):
        return "Frame(%s, msg_id=0x%02x, seq=%d, payload=%s)" % (
            KIND_NAMES[self.kind] if self.kind < len(KIND_NAMES) else self.kind,
            self.msg_id, self.seq, self.payload.hex() or "-")


def encode_frame(kind, msg_id, seq, payload=b"", version=PROTOCOL_VERSION):
    """Frame a payload for the wire (COBS + trailing delimiter)."""
    if len(payload) > MAX_PAYLOAD:
        raise LocalProtocolError("payload of %d bytes exceeds the maximum of %d"
                                 % (len(payload), MAX_PAYLOAD), "oversized")
    if not (0 <= kind <= 0xFF and 0 <= msg_id <= 0xFF and 0 <= seq <= 0xFFFF and 0 <= version <= 0xFF):
        raise LocalProtocolError("header field out of range: kind=%r msg_id=%r seq=%r version=%r"
                                 % (kind, msg_id, seq, version), "range")
    body = _HEADER.pack(version, kind, msg_id, seq) + payload
    body += _CRC.pack(crc_hqx(body, _CRC_INIT))  # crc16, without the call in between
    if len(body) < 254:
        return cobs.stuff_short(body, b"\x00")
    return cobs.encode(body) + b"\x00"


def parse_body(body):
    """Check and split one un-stuffed frame body. Raises RemoteProtocolError."""
    if len(body) < _MIN_BODY:
        raise RemoteProtocolError("frame of %d bytes is shorter than header + CRC (%d)"
                                  % (len(body), _MIN_BODY), "short", body)
    # With the CRC appended big-endian, the CRC over body + CRC is 0 exactly when it matches.
    if crc_hqx(body, _CRC_INIT) != 0:
        raise RemoteProtocolError("CRC mismatch", "crc", body)
    version, kind, msg_id, seq = _HEADER.unpack_from(body)
    if kind > NAK:
        raise RemoteProtocolError("unknown frame kind 0x%02x" % kind, "kind", body)
    # tuple.__new__: the NamedTuple's own __new__ is Python code, a third of this function's time
    return _new_frame(Frame, (kind, msg_id, seq, body[HEADER_SIZE:-CRC_SIZE], version))


_new_frame = tuple.__new__
_decode_block = cobs.decode_block


def decode_frame(wire):
    """Decode exactly one frame (delimiters optional). Raises RemoteProtocolError."""
    block = bytes(wire).strip(b"\x00")
    if not block:
        raise RemoteProtocolError("no frame in the input", "short", wire)
    if 0 in block:
        raise RemoteProtocolError("more than one frame in the input", "cobs", wire)
    if len(block) > MAX_ENCODED:
        raise RemoteProtocolError("frame of %d encoded bytes exceeds %d" % (len(block), MAX_ENCODED),
                                  "oversized", block[:MAX_ENCODED])
    return parse_body(cobs.decode(block))


class FrameDecoder:
    """Feed it chunks of bytes, get back frames and rejections in line order.

    `feed` never raises: a malformed frame comes back as a RemoteProtocolError *instance* in the
    list, so a caller can log it, count it or raise it, and the stream goes on.

    `cut` is the same splitter for a caller that wants the bytes themselves (a transcript, a
    faulty line, a hostile pump): the pieces the line is cut into, undecoded, none lost.
    """

    def __init__(self):
        self._buffer = bytearray()
        self._skipping = False  # inside an oversized run: drop bytes until the next delimiter
        self.frames_ok = 0
        self.frames_bad = 0

    def feed(self, data):
        return self._split(data, True)

    def cut(self, data):
        """The pieces `data` completes, in line order: each a block with its 0x00 (b"\\x00" alone
        for a spare delimiter), or MAX_ENCODED bytes of a run without one, longer than any frame.
        The pieces after such a run, up to and with its delimiter, are its rest."""
        return self._split(data, False)

    def flush(self):
        """The bytes held waiting for a delimiter, given up (at the end of a stream, or a line cut)."""
        held = bytes(self._buffer)
        self._buffer.clear()
        self._skipping = False
        return held

    def copy(self):
        """A decoder in this one's state (what it holds, whether it is inside a run), going on alone."""
        other = FrameDecoder()
        other._buffer += self._buffer
        other._skipping = self._skipping
        other.frames_ok = self.frames_ok
        other.frames_bad = self.frames_bad
        return other

    @property
    def skipping(self):
        """Inside a run longer than any frame: the bytes up to the next delimiter are its rest."""
        return self._skipping

    def _split(self, data, decode):
        # One set of rules for both: a block ends at 0x00; a run reaching MAX_ENCODED + 1 bytes
        # without one is cut there (reported once when decoding), its rest up to the delimiter skipped.
        buf = self._buffer
        if not buf and not self._skipping:
            # Nothing held: when no block is longer than a frame (the usual input; certain for input
            # no longer than one) bytes.split cuts it, in C; otherwise the loop below.
            parts = data.split(b"\x00")
            if len(data) <= MAX_ENCODED or max(map(len, parts)) <= MAX_ENCODED:
                tail = parts.pop()
                if tail:
                    buf += tail
                if decode:
                    block = self._block
                    return [block(part) for part in parts if part]
                return [part + b"\x00" for part in parts]
        out = []
        if buf:
            buf += data
            data = bytes(buf)
            buf.clear()
        start = 0
        size = len(data)
        find = data.find
        block = self._block
        limit = MAX_ENCODED + 1
        skipping = self._skipping
        while True:
            end = find(0, start, start + limit)
            if end < 0:
                if size - start < limit:
                    break
                end = start + MAX_ENCODED
                if not decode:
                    out.append(data[start:end])
                elif not skipping:
                    self.frames_bad += 1
                    out.append(RemoteProtocolError("frame exceeds %d encoded bytes; skipped to the "
                                                   "next delimiter" % MAX_ENCODED, "oversized",
                                                   data[start:end]))
                skipping = True
                start = end
                continue
            if not decode:
                out.append(data[start:end + 1])
                skipping = False
            elif skipping:
                skipping = False
            elif end > start:
                out.append(block(data[start:end]))
            start = end + 1
        self._skipping = skipping
        if start < size:
            buf += data[start:]
        return out

    def _block(self, block):  # never longer than MAX_ENCODED: _split cuts longer runs
        try:
            frame = parse_body(_decode_block(block))
        except RemoteProtocolError as error:
            self.frames_bad += 1
            return error
        self.frames_ok += 1
        return frame

    @property
    def buffered(self):
        """Bytes held waiting for a delimiter (never more than MAX_ENCODED)."""
        return len(self._buffer)
