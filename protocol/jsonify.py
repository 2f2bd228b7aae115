"""Messages to and from plain JSON values (vectors, transcripts): ints, hex strings, lists, dicts."""

from enum import IntEnum

from .messages import LAYOUTS_BY_STRUCT, Ack, Nak


def to_jsonable(value):
    """A message, nested struct, tuple, enum or bytes value as plain JSON data."""
    if isinstance(value, IntEnum):
        return int(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if hasattr(value, "_fields"):
        return {name: to_jsonable(getattr(value, name)) for name in value._fields}
    if isinstance(value, (tuple, list)):
        return [to_jsonable(item) for item in value]
    return value


def describe(value):
    """Readable text for a message: code names instead of numbers (for documents and logs)."""
    if isinstance(value, IntEnum):
        return value.name
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex() or "''"
    if hasattr(value, "_fields"):
        inner = ", ".join("%s=%s" % (name, describe(getattr(value, name))) for name in value._fields)
        return "%s(%s)" % (type(value).__name__, inner)
    if isinstance(value, (tuple, list)):
        return "[%s]" % ", ".join(describe(item) for item in value)
    if isinstance(value, str):
        return repr(value)
    return str(value)


def from_jsonable(cls, data):
    """Rebuild a message of class `cls` from to_jsonable output (no range checks: fuzz-friendly)."""
    if cls in (Nak, Ack):
        return cls(**data)
    values = []
    for field in cls._layout.fields:
        values.append(_field_from_json(field, data[field.name]))
    return cls(*values)


def _field_from_json(field, value):
    kind = field.kind
    if isinstance(kind, str):
        return int(value)
    tag = kind[0]
    if tag == "bytes":
        return bytes.fromhex(value)
    if tag == "text":
        return value
    if tag == "struct":
        return from_jsonable(LAYOUTS_BY_STRUCT[kind[1]].cls, value)
    layout = LAYOUTS_BY_STRUCT.get(kind[1])
    if layout is None:  # bare single-value items
        return tuple(int(item) for item in value)
    return tuple(from_jsonable(layout.cls, item) for item in value)
