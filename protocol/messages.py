"""Typed message objects for every payload in the catalog, with a struct-based codec.

Each request, response and event is a NamedTuple class (GetStatusRequest, GetStatusResponse,
AlarmRaised, ...); NAK payloads are `Nak` and event acknowledgements `Ack`. Nested layouts are
classes too (Prescription, FlexStep, Finding, AlarmEntry, LogEntry).

The codec runs on struct, not construct: runs of fixed-size fields are one struct call. The
construct schemas in protocol.schemas are the declared format; a differential test holds the
two to the same bytes.

    payload = GetStatusResponse(...).encode()
    message = decode_message(frame)            # RemoteProtocolError on anything malformed
    wire    = encode_message(message, seq=7)   # frame bytes, ready for the line
"""

import struct
from collections import namedtuple
from operator import itemgetter

from . import codes as _codes
from .catalog import ERROR_LAYOUT, KIND_MAX, MAX_PAYLOAD, MESSAGES, STRUCTS, field_max
from .errors import LocalProtocolError, RemoteProtocolError
from .framing import ACK, EVENT, NAK, REQUEST, RESPONSE, Frame, encode_frame

_FORMAT = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q"}


def _camel(name):
    return "".join(part.title() for part in name.lower().split("_"))


# ---------------------------------------------------------------------------------------------
# Codec steps. A layout compiles to a list of steps; each decodes its part of the payload into
# `out` and returns the new offset, or encodes its values from an iterator.
# ---------------------------------------------------------------------------------------------
class _Scalars:
    """A run of consecutive fixed-size integer fields: one struct call."""

    def __init__(self, fields):
        self.fields = fields
        self.packer = struct.Struct("<" + "".join(_FORMAT[f.kind] for f in fields))
        self.size = self.packer.size
        # (position in run, field, enum map or None, min, max) for fields that need a check
        self.checks = []
        for i, field in enumerate(fields):
            enum = _codes.ENUMS[field.codes] if field.codes else None
            if enum is not None or field.min > 0 or field.max >= 0:
                lookup = {m.value: m for m in enum} if enum is not None else None
                self.checks.append((i, field, lookup, field.min, field_max(field)))
        # The same checks split for speed: codes looked up, and the ranges the field's width does
        # not already imply (an unpacked u8 is always 0..255). A value that fails both is
        # reported as a code, as when one loop did both.
        self._codes = [(i, lookup, field) for i, field, lookup, _low, _high in self.checks if lookup is not None]
        self._ranges = [(i, low, high, field) for i, field, _lookup, low, high in self.checks
                        if low > 0 or high < KIND_MAX[field.kind]]

    def decode(self, data, offset, out, strict):
        end = offset + self.size
        if end > len(data):
            raise RemoteProtocolError("payload ends inside field %r" % self.fields[0].name, "length", data)
        values = self.packer.unpack_from(data, offset)
        if strict and self.checks:
            for i, low, high, field in self._ranges:
                value = values[i]
                if not low <= value <= high:
                    self._refuse_first(values, data)
            if self._codes:
                values = list(values)
                for i, lookup, field in self._codes:
                    member = lookup.get(values[i])
                    if member is None:
                        self._refuse_first(values, data)
                    values[i] = member
        out.extend(values)
        return end

    def _refuse_first(self, values, data):
        """Raise for the first field, in field order, whose value is not a code or out of range."""
        for i, field, lookup, low, high in self.checks:
            value = values[i]
            if lookup is not None and lookup.get(value) is None:
                raise RemoteProtocolError("field %r: %d is not a %s code"
                                          % (field.name, value, field.codes), "code", data)
            if not low <= value <= high:
                raise RemoteProtocolError("field %r: %d outside %d..%d"
                                          % (field.name, value, low, high), "range", data)

    def encode(self, values, buf):
        try:
            buf += self.packer.pack(*values)
        except struct.error as error:
            names = ", ".join(f.name for f in self.fields)
            raise LocalProtocolError("cannot pack (%s) = %r: %s" % (names, values, error), "range") from None


class _Bytes:
    def __init__(self, field):
        self.field = field
        self.size = field.kind[1]

    def decode(self, data, offset, out, strict):
        end = offset + self.size
        if end > len(data):
            raise RemoteProtocolError("payload ends inside field %r" % self.field.name, "length", data)
        out.append(bytes(data[offset:end]))
        return end

    def encode(self, values, buf):
        value = bytes(values[0])
        if len(value) != self.size:
            raise LocalProtocolError("field %r needs exactly %d bytes, got %d"
                                     % (self.field.name, self.size, len(value)), "range")
        buf += value


class _Text:
    def __init__(self, field):
        self.field = field
        self.max = field.kind[1]

    def decode(self, data, offset, out, strict):
        if offset >= len(data):
            raise RemoteProtocolError("payload ends before text %r" % self.field.name, "length", data)
        end = offset + 1 + data[offset]
        if end > len(data):
            raise RemoteProtocolError("text %r runs past the payload" % self.field.name, "length", data)
        raw = bytes(data[offset + 1:end])
        if strict and len(raw) > self.max:
            raise RemoteProtocolError("text %r longer than %d" % (self.field.name, self.max), "range", data)
        try:
            out.append(raw.decode("ascii"))
        except UnicodeDecodeError:
            raise RemoteProtocolError("text %r is not ASCII" % self.field.name, "text", data) from None
        return end

    def encode(self, values, buf):
        try:
            raw = values[0].encode("ascii")
        except (AttributeError, UnicodeEncodeError):
            raise LocalProtocolError("text %r must be an ASCII str" % self.field.name, "text") from None
        if len(raw) > self.max:
            raise LocalProtocolError("text %r longer than %d" % (self.field.name, self.max), "range")
        buf.append(len(raw))
        buf += raw


class _Nested:
    """A nested struct (as a field, or as a list item)."""

    def __init__(self, layout):
        self.layout = layout

    def decode(self, data, offset, out, strict):
        item, offset = self.layout.decode_from(data, offset, strict)
        out.append(item)
        return offset

    def encode(self, values, buf):
        value = values[0]
        if not isinstance(value, self.layout.cls):
            raise LocalProtocolError("expected a %s, got %r" % (self.layout.cls.__name__, value), "type")
        self.layout.encode_into(value, buf)


class _List:
    def __init__(self, field):
        self.field = field
        _tag, struct_name, self.max = field.kind
        item_fields = STRUCTS[struct_name]
        if len(item_fields) == 1:  # a bare value per item
            self.item = _Scalars(item_fields)
            self.bare = True
            self._packers = {}
        else:
            self.item = _Nested(LAYOUTS_BY_STRUCT[struct_name])
            self.bare = False

    def decode(self, data, offset, out, strict):
        if offset >= len(data):
            raise RemoteProtocolError("payload ends before list %r" % self.field.name, "length", data)
        count = data[offset]
        offset += 1
        if strict and count > self.max:
            raise RemoteProtocolError("list %r has %d items, at most %d"
                                      % (self.field.name, count, self.max), "range", data)
        if self.bare:  # one struct call for the whole run of single values
            return self._decode_bare(data, offset, count, out, strict)
        items = []
        decode = self.item.decode
        for _ in range(count):
            offset = decode(data, offset, items, strict)
        out.append(tuple(items))
        return offset

    def _decode_bare(self, data, offset, count, out, strict):
        item = self.item
        end = offset + count * item.size
        if end > len(data):
            raise RemoteProtocolError("payload ends inside list %r" % self.field.name, "length", data)
        packer = self._packers.get(count)
        if packer is None:  # one per count seen (at most 256): no format string per call
            packer = self._packers[count] = struct.Struct("<%d%s" % (count, item.packer.format[1:]))
        values = packer.unpack_from(data, offset)
        if strict and item.checks:
            _i, field, lookup, low, high = item.checks[0]
            checked = []
            for value in values:
                member = lookup.get(value) if lookup is not None else value
                if member is None:
                    raise RemoteProtocolError("list %r: %d is not a %s code" % (self.field.name, value, field.codes),
                                              "code", data)
                if not low <= value <= high:
                    raise RemoteProtocolError("list %r: %d outside %d..%d" % (self.field.name, value, low, high),
                                              "range", data)
                checked.append(member)
            values = checked
        out.append(tuple(values))
        return end

    def encode(self, values, buf):
        items = values[0]
        if len(items) > 255:
            raise LocalProtocolError("list %r has %d items; the count is one byte"
                                     % (self.field.name, len(items)), "range")
        buf.append(len(items))
        for item in items:
            self.item.encode((item,), buf)


# ---------------------------------------------------------------------------------------------
# Layouts: a NamedTuple class plus its codec steps.
# ---------------------------------------------------------------------------------------------
def _default(field):
    kind = field.kind
    if isinstance(kind, str):
        return 0
    if kind[0] == "bytes":
        return bytes(kind[1])
    if kind[0] == "text":
        return ""
    if kind[0] == "list":
        return ()
    return None  # nested struct: filled in by the layout below


class Layout:
    """A catalog layout bound to its message class."""

    def __init__(self, class_name, fields, doc=""):
        self.fields = fields
        self.steps = []
        run = []
        for field in fields:
            if isinstance(field.kind, str):
                run.append(field)
                continue
            if run:
                self.steps.append((len(run), _Scalars(run)))
                run = []
            tag = field.kind[0]
            step = {"bytes": _Bytes, "text": _Text, "list": _List}.get(tag)
            self.steps.append((1, step(field) if step else _Nested(LAYOUTS_BY_STRUCT[field.kind[1]])))
        if run:
            self.steps.append((len(run), _Scalars(run)))
        self.single = self.steps[0][1] if len(self.steps) == 1 else None
        self.fast = None  # set below for the layouts _fast_decoder takes
        defaults = [_default(field) for field in fields]
        base = namedtuple(class_name, [field.name for field in fields], defaults=defaults)
        self.cls = type(class_name, (_MessageBase, base), {"__slots__": (), "__doc__": doc or None,
                                                            "_layout": self})
        for i, field in enumerate(fields):  # nested struct defaults are their all-default instance
            if not isinstance(field.kind, str) and field.kind[0] == "struct":
                nested = LAYOUTS_BY_STRUCT[field.kind[1]].cls
                self.cls.__new__.__defaults__ = tuple(
                    nested() if j == i else d for j, d in enumerate(self.cls.__new__.__defaults__))

    def decode_from(self, data, offset, strict):
        out = []
        for _count, step in self.steps:
            offset = step.decode(data, offset, out, strict)
        return tuple.__new__(self.cls, out), offset

    def encode_into(self, message, buf):
        i = 0
        for count, step in self.steps:
            step.encode(message[i:i + count], buf)
            i += count


class _MessageBase:
    __slots__ = ()
    _layout = None
    MESSAGE = None  # the catalog Message, for requests, responses and events
    KIND = None  # frame kind it travels in

    def encode(self):
        """The payload bytes."""
        buf = bytearray()
        self._layout.encode_into(self, buf)
        if len(buf) > MAX_PAYLOAD:
            raise LocalProtocolError("%s payload of %d bytes exceeds %d"
                                     % (type(self).__name__, len(buf), MAX_PAYLOAD), "oversized")
        return bytes(buf)

    @classmethod
    def decode(cls, payload, strict=True):
        """Parse a payload. strict=False keeps unknown codes and out-of-range values as ints."""
        layout = cls._layout
        if strict and layout.fast is not None and type(payload) is bytes:
            message = layout.fast(payload)
            if message is not None:
                return message  # else the payload is refused below, with the reason
        if layout.single is not None and type(layout.single) is _Scalars:
            step = layout.single  # fast path: a payload of fixed-size fields only
            if len(payload) != step.size:
                raise RemoteProtocolError("%s payload is %d bytes, expected %d"
                                          % (cls.__name__, len(payload), step.size), "length", payload)
            out = []
            step.decode(payload, 0, out, strict)
            return tuple.__new__(cls, out)
        message, end = layout.decode_from(payload, 0, strict)
        if end != len(payload):
            raise RemoteProtocolError("%s payload has %d trailing bytes"
                                      % (cls.__name__, len(payload) - end), "length", payload)
        return message


_MEMO_MAX = 256


def _fits_fast(layout):
    steps = [step for _count, step in layout.steps]
    if not steps or type(steps[0]) is not _Scalars or len(steps[0].fields) < 2 or len(steps) > 2:
        return False
    return len(steps) == 1 or (type(steps[1]) is _List and steps[1].bare)


def _fast_decoder(layout):
    """Strict decoding of a layout of scalars, optionally ending in a list of single values
    (GET_STATUS and most answers), without a step per field: payload -> message, or None.

    The checked fields of a run (codes and ranges) change rarely from one payload to the next:
    their values as a tuple find the enum members they decoded to last time, checked then,
    and one itemgetter puts them in field order among the unchecked values. A list's bytes find
    its decoded items the same way. Anything not seen before, or malformed, goes the general
    way once; None when that way must refuse the payload (the caller asks it to say why)."""
    steps = [step for _count, step in layout.steps]
    cls = layout.cls
    run = steps[0]
    items_step = steps[1] if len(steps) == 2 else None
    size = run.size
    unpack = run.packer.unpack_from
    pack = run.packer.pack
    checked = sorted({i for i, _lookup, _field in run._codes} | {i for i, _low, _high, _field in run._ranges})
    # itemgetter of one index returns the value, not a tuple: a checked field twice keeps it a tuple
    pick = itemgetter(*(checked if len(checked) != 1 else checked * 2)) if checked else None
    width = len(run.fields)
    arrange = itemgetter(*[width + checked.index(i) if i in checked else i for i in range(width)])
    known_members = {}  # checked values -> their members
    known_items = {}  # a list's bytes -> its items
    new = tuple.__new__

    def check(values, key):
        out = []
        try:
            run.decode(pack(*values), 0, out, True)
        except RemoteProtocolError:
            return None
        if len(known_members) >= _MEMO_MAX:
            known_members.clear()
        members = known_members[key] = tuple(out[i] for i in checked)
        return members

    def list_items(payload, raw):
        out = []
        try:
            end = items_step.decode(payload, size, out, True)
        except RemoteProtocolError:
            return None
        if end != len(payload):
            return None
        if len(known_items) >= _MEMO_MAX:
            known_items.clear()
        items = known_items[raw] = out[0]
        return items

    def decode(payload):
        if items_step is None:
            if len(payload) != size:
                return None
        elif len(payload) <= size:
            return None
        values = unpack(payload, 0)
        if pick is not None:
            key = pick(values)
            members = known_members.get(key)
            if members is None:
                members = check(values, key)
                if members is None:
                    return None
            values = arrange(values + members)
        if items_step is None:
            return new(cls, values)
        raw = payload[size:]
        items = known_items.get(raw)
        if items is None:
            items = list_items(payload, raw)
            if items is None:
                return None
        return new(cls, values + (items,))
    return decode


LAYOUTS_BY_STRUCT = {}
for _name in ("flex_step", "finding", "alarm_entry", "log_entry", "prescription"):
    LAYOUTS_BY_STRUCT[_name] = Layout(_camel(_name), STRUCTS[_name])
FlexStep = LAYOUTS_BY_STRUCT["flex_step"].cls
Finding = LAYOUTS_BY_STRUCT["finding"].cls
AlarmEntry = LAYOUTS_BY_STRUCT["alarm_entry"].cls
LogEntry = LAYOUTS_BY_STRUCT["log_entry"].cls
Prescription = LAYOUTS_BY_STRUCT["prescription"].cls


def _message_class(name, fields, message, kind):
    layout = Layout(name, fields, message.doc if message else "")
    if _fits_fast(layout):
        layout.fast = _fast_decoder(layout)
    cls = layout.cls
    cls.MESSAGE = message
    cls.KIND = kind
    return cls


# (frame kind, msg_id) -> class; NAK and ACK classes are keyed with msg_id None.
CLASSES = {}
for _message in MESSAGES:
    _base = _camel(_message.name)
    if _message.event:
        CLASSES[(EVENT, _message.id)] = _message_class(_base, _message.request, _message, EVENT)
    else:
        CLASSES[(REQUEST, _message.id)] = _message_class(_base + "Request", _message.request, _message, REQUEST)
        CLASSES[(RESPONSE, _message.id)] = _message_class(_base + "Response", _message.response, _message, RESPONSE)

_NakPayload = _message_class("NakPayload", ERROR_LAYOUT, None, NAK)
_FAST = {key: cls._layout.fast for key, cls in CLASSES.items() if cls._layout.fast is not None}
globals().update({cls.__name__: cls for cls in CLASSES.values()})


class Nak(namedtuple("Nak", ["msg_id", "code", "subject", "limit_value", "actual_value"],
                     defaults=[0, 0, 0])):
    """The pump refused request `msg_id`: an Error code, and what limit applied."""

    __slots__ = ()
    KIND = NAK

    def encode(self):
        return _NakPayload(self.code, self.subject, self.limit_value, self.actual_value).encode()

    @classmethod
    def decode(cls, payload, msg_id=0, strict=True):
        body = _NakPayload.decode(payload, strict)
        return cls(msg_id, *body)


class Ack(namedtuple("Ack", ["msg_id"])):
    """The host received event `msg_id` (the frame's seq says which)."""

    __slots__ = ()
    KIND = ACK

    def encode(self):
        return b""

    @classmethod
    def decode(cls, payload, msg_id=0, strict=True):
        if payload:
            raise RemoteProtocolError("ACK frames carry no payload", "length", payload)
        return cls(msg_id)


def message_class(kind, msg_id):
    """The class for a (frame kind, msg_id), or None if the catalog has none."""
    return CLASSES.get((kind, msg_id))


def request_class(name):
    """GET_STATUS -> GetStatusRequest, by catalog name."""
    return globals()[_camel(name) + "Request"]


def response_class(name):
    return globals()[_camel(name) + "Response"]


def decode_message(frame, strict=True):
    """The typed message a Frame carries. Raises RemoteProtocolError."""
    kind = frame.kind
    if kind == NAK:
        return Nak.decode(frame.payload, frame.msg_id, strict)
    if kind == ACK:
        return Ack.decode(frame.payload, frame.msg_id, strict)
    if strict:
        fast = _FAST.get((kind, frame.msg_id))
        if fast is not None:
            message = fast(frame.payload) if type(frame.payload) is bytes else None
            if message is not None:
                return message
    cls = CLASSES.get((kind, frame.msg_id))
    if cls is None:
        raise RemoteProtocolError("no %s message with id 0x%02x"
                                  % (("REQUEST", "RESPONSE", "EVENT")[kind], frame.msg_id),
                                  "unknown_message", frame.payload)
    return cls.decode(frame.payload, strict)


def message_frame(message, seq):
    """The Frame that carries a typed message."""
    msg_id = message.msg_id if message.KIND in (NAK, ACK) else message.MESSAGE.id
    return Frame(message.KIND, msg_id, seq, message.encode())


def encode_message(message, seq):
    """Wire bytes (COBS + delimiter) for a typed message."""
    frame = message_frame(message, seq)
    return encode_frame(frame.kind, frame.msg_id, seq, frame.payload)
