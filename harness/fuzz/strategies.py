"""Grammar-aware hypothesis strategies for fuzzing the protocol, all derived from the catalog.

    from pumpmock.harness.fuzz import strategies as fs

    fs.requests()              valid request messages (any catalog request, valid field values)
    fs.out_of_range_requests() request payloads with one field outside its range or code set
    fs.near_valid_frames()     wire bytes one step from valid: a bad CRC, a bad length, a wrong
                               version, kind or msg_id, a truncation
    fs.mutated_vectors()       byte-level mutations of the golden vectors
    fs.wire_frames()           valid requests as wire bytes, with their seq

Nothing is written per message: a new catalog entry is fuzzed without touching this file.
"""

import functools
import struct

from hypothesis import strategies as st

from pumpmock.protocol import cobs
from pumpmock.protocol.catalog import MESSAGES, MAX_PAYLOAD, field_max
from pumpmock.protocol.codes import ENUMS
from pumpmock.protocol.crc import crc16
from pumpmock.protocol.framing import REQUEST, encode_frame
from pumpmock.protocol.messages import CLASSES
from pumpmock.protocol.strategies import layout_strategy
from pumpmock.protocol.vectors import load

REQUEST_CLASSES = [cls for (kind, _id), cls in sorted(CLASSES.items()) if kind == REQUEST]
_PACK = {"u8": "<B", "u16": "<H", "u32": "<I", "u64": "<Q"}


def requests(names=None):
    """Valid request messages; `names` limits them to these catalog names."""
    return _requests(None if names is None else tuple(sorted(names)))


# Strategies are built once and reused: hypothesis validates every new strategy object, and a
# composite that built its parts on every draw spent most of its time there.
@functools.lru_cache(maxsize=None)
def _requests(names):
    classes = [c for c in REQUEST_CLASSES if names is None or c.MESSAGE.name in names]
    return st.one_of([layout_strategy(cls) for cls in classes])


def seqs():
    return st.integers(0, 0xFFFF)


def wire_frames(names=None):
    """(seq, message, wire bytes) for valid requests."""
    return _wire_frames(None if names is None else tuple(sorted(names)))


@functools.lru_cache(maxsize=None)
def _wire_frames(names):
    return st.tuples(seqs(), _requests(names)).map(lambda pair: (pair[0], pair[1], _wire(pair[1], pair[0])))


def _wire(message, seq):
    return encode_frame(REQUEST, message.MESSAGE.id, seq, message.encode())


def _invalid_values(field):
    """Values of a scalar field the protocol does not accept (empty list when every value is valid)."""
    kind_max = (1 << (8 * struct.calcsize(_PACK[field.kind]))) - 1
    bad = []
    if field.codes:
        valid = {m.value for m in ENUMS[field.codes] if field.min <= m <= field_max(field)}
        bad = [v for v in (0, max(valid) + 1, kind_max) if v not in valid]
    else:
        if field.min > 0:
            bad.append(field.min - 1)
        if field_max(field) < kind_max:
            bad += [field_max(field) + 1, kind_max]
    return bad


def _scalar_positions(cls):
    """(top-level field position, byte offset, field) of every fixed-position scalar with invalid values."""
    offset = 0
    out = []
    for position, field in enumerate(cls._layout.fields, start=1):
        if not isinstance(field.kind, str):
            break  # after a variable-size field the offsets depend on content
        if _invalid_values(field):
            out.append((position, offset, field))
        offset += struct.calcsize(_PACK[field.kind])
    return out


_OUT_OF_RANGE_CANDIDATES = [cls for cls in REQUEST_CLASSES if _scalar_positions(cls)]
# Per class: its valid messages, and per breakable field the field and its invalid values.
_OUT_OF_RANGE_PLANS = st.sampled_from([
    (cls, layout_strategy(cls), st.sampled_from([(position, offset, field, st.sampled_from(_invalid_values(field)))
                                                 for position, offset, field in _scalar_positions(cls)]))
    for cls in _OUT_OF_RANGE_CANDIDATES])


@st.composite
def out_of_range_requests(draw):
    """(msg_id, payload bytes, 1-based field position) with exactly one field out of range."""
    cls, messages, fields = draw(_OUT_OF_RANGE_PLANS)
    message = draw(messages)
    position, offset, field, invalid = draw(fields)
    value = draw(invalid)
    payload = bytearray(message.encode())
    struct.pack_into(_PACK[field.kind], payload, offset, value)
    return cls.MESSAGE.id, bytes(payload), position


def _reframe(body):
    return cobs.encode(body) + b"\x00"


_MUTATIONS = st.sampled_from(["crc", "version", "kind", "msg_id", "truncate", "extend", "bitflip"])
_BAD_VERSIONS = st.integers(0, 255).filter(lambda v: v != 1)
_NOT_REQUEST = st.integers(0, 255).filter(lambda k: k != REQUEST)
_UNKNOWN_IDS = st.sampled_from([i for i in range(256) if i not in {m.id for m in MESSAGES}])


@st.composite
def near_valid_frames(draw):
    """(description, wire bytes) one mutation away from a valid request frame."""
    seq, message, wire = draw(wire_frames())
    body = cobs.decode(wire[:-1])
    header, payload = body[:5], body[5:-2]
    mutation = draw(_MUTATIONS)
    if mutation == "crc":
        bad = body[:-2] + bytes([body[-2] ^ 0xFF, body[-1]])
        return "bad CRC", _reframe(bad)
    if mutation == "version":
        version = draw(_BAD_VERSIONS)
        new = bytes([version]) + body[1:-2]
    elif mutation == "kind":
        new = body[:1] + bytes([draw(_NOT_REQUEST)]) + body[2:-2]
    elif mutation == "msg_id":
        new = body[:2] + bytes([draw(_UNKNOWN_IDS)]) + body[3:-2]
    elif mutation == "truncate":
        if not payload:
            return "bad CRC", _reframe(body[:-2] + bytes([body[-2] ^ 0x01, body[-1]]))
        cut = draw(st.integers(0, len(payload) - 1))
        new = header + payload[:cut]
    elif mutation == "extend":
        extra = draw(st.binary(min_size=1, max_size=max(1, min(8, MAX_PAYLOAD - len(payload)))))
        new = header + payload + extra
    else:
        position = draw(st.integers(0, len(body) - 3))
        bit = draw(st.integers(0, 7))
        mutated = bytearray(body[:-2])
        mutated[position] ^= 1 << bit
        new = bytes(mutated)
    return mutation, _reframe(new + struct.pack(">H", crc16(new)))


@functools.lru_cache(maxsize=None)
def _vector_wires():
    wires = []
    for name in ("messages", "errors", "malformed"):
        wires += [bytes.fromhex(entry["wire"]) for entry in load(name)]
    return tuple(wires)


@functools.lru_cache(maxsize=None)
def _vectors():
    return st.sampled_from(_vector_wires())


_OPS = st.sampled_from(["flip", "insert", "delete", "duplicate", "zero"])


@st.composite
def mutated_vectors(draw, max_mutations=4):
    """Golden-vector bytes with a few byte-level mutations (flip, insert, delete, duplicate, splice)."""
    data = bytearray(draw(_vectors()))
    for _ in range(draw(st.integers(1, max_mutations))):
        op = draw(_OPS)
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data.insert(position, draw(st.integers(0, 255)))
        elif op == "delete" and data:
            del data[position]
        elif op == "duplicate" and data:
            end = draw(st.integers(position, len(data)))
            data[position:position] = data[position:end]
        elif op == "zero" and data:
            data[position] = 0
    return bytes(data)
