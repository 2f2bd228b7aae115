"""construct schemas for every payload, derived from the catalog (plain and compiled).

A struct with a single field (alarm_code, limit_code) is carried as its bare value inside lists.
Every payload schema ends with Terminated: trailing bytes are a length error, not ignored.
"""

from construct import (Bytes, Int8ul, Int16ul, Int32ul, Int64ul, PascalString, PrefixedArray, Struct,
                       Terminated)

from .catalog import ERROR_LAYOUT, MESSAGES, STRUCTS

SCALARS = {"u8": Int8ul, "u16": Int16ul, "u32": Int32ul, "u64": Int64ul}

HEADER = Struct("version" / Int8ul, "kind" / Int8ul, "msg_id" / Int8ul, "seq" / Int16ul)


def field_schema(kind):
    """The construct for one field kind of the catalog."""
    if isinstance(kind, str):
        return SCALARS[kind]
    tag = kind[0]
    if tag == "bytes":
        return Bytes(kind[1])
    if tag == "text":
        return PascalString(Int8ul, "ascii")
    if tag == "list":
        return PrefixedArray(Int8ul, item_schema(kind[1]))
    if tag == "struct":
        return struct_schema(STRUCTS[kind[1]])
    raise ValueError("unknown field kind %r" % (kind,))


def item_schema(struct_name):
    fields = STRUCTS[struct_name]
    return field_schema(fields[0].kind) if len(fields) == 1 else struct_schema(fields)


def struct_schema(fields):
    return Struct(*(field.name / field_schema(field.kind) for field in fields))


def payload_schema(fields):
    return Struct(*(field.name / field_schema(field.kind) for field in fields), Terminated)


def _layouts():
    layouts = {("NAK", None): ERROR_LAYOUT}
    for message in MESSAGES:
        if message.event:
            layouts[("EVENT", message.id)] = message.request
        else:
            layouts[("REQUEST", message.id)] = message.request
            layouts[("RESPONSE", message.id)] = message.response
    return layouts


class _CompiledSchemas(dict):
    """Compiles a schema on first use: compiling all of them costs about two seconds at import."""

    def __missing__(self, key):
        compiled = self[key] = PLAIN[key].compile()
        return compiled


LAYOUTS = _layouts()
# Keyed by (frame kind name, msg_id); NAK payloads are the same for every message (msg_id None).
PLAIN = {key: payload_schema(fields) for key, fields in LAYOUTS.items()}
COMPILED = _CompiledSchemas()
