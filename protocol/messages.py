"""Typed message objects for every payload in the catalog, with a struct-based codec.

Each request, response and event is a NamedTuple class (GetStatusRequest, GetStatusResponse,
AlarmRaised, ...); NAK payloads are `Nak` and event acknowledgements `Ack`. Nested layouts are
classes too (Prescription, FlexStep, Finding, AlarmEntry, LogEntry). The classes are plain class
statements that protocol.classes_gen writes from the catalog (see its markers below), so IDEs and
type checkers know them; the code around them binds each to its layout's codec.

The codec runs on struct, not construct: runs of fixed-size fields are one struct call. The
construct schemas in protocol.schemas are the declared format; a differential test holds the
two to the same bytes.

    payload = GetStatusResponse(...).encode()
    message = decode_message(frame)            # RemoteProtocolError on anything malformed
    wire    = encode_message(message, seq=7)   # frame bytes, ready for the line
"""

import struct
import warnings
from collections import namedtuple
from operator import itemgetter

from . import codes as _codes
from .catalog import ERROR_LAYOUT, KIND_MAX, MAX_PAYLOAD, MESSAGES, MESSAGES_BY_ID, MESSAGES_BY_NAME, STRUCTS, field_max
from .errors import LocalProtocolError, RemoteProtocolError
from .framing import ACK, EVENT, NAK, REQUEST, RESPONSE, Frame, encode_frame

_FORMAT = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q"}


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
# Layouts: a message class (a class statement below) bound to its codec steps.
# ---------------------------------------------------------------------------------------------
class Layout:
    """A catalog layout bound to its message class."""

    def __init__(self, cls, fields):
        if cls._fields != tuple(field.name for field in fields):
            # A warning, not an error: the generator that fixes it imports this module.
            warnings.warn("%s has fields %r, the catalog %r: run python -m pumpmock.protocol.classes_gen"
                          % (cls.__name__, cls._fields, tuple(field.name for field in fields)), stacklevel=2)
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
        self.cls = cls
        cls._layout = self

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
        layout = self._layout
        if not layout.steps:  # most requests: nothing to write
            return b""
        buf = bytearray()
        layout.encode_into(self, buf)
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


# ---------------------------------------------------------------------------------------------
# The classes, one statement each (IDEs and type checkers see them), and the codec bound to them.
# ---------------------------------------------------------------------------------------------
# ---- generated by python -m pumpmock.protocol.classes_gen from the catalog: do not edit ----
class FlexStep(_MessageBase, namedtuple("FlexStep", ["start_min", "dose_rate_ug_per_day"], defaults=[0, 0])):
    __slots__ = ()


class Prescription(_MessageBase, namedtuple(
        "Prescription",
        ["drug", "concentration_ug_per_ml", "mode", "daily_dose_ug", "steps", "ptm_dose_ug",
         "ptm_lockout_min", "ptm_max_per_24h", "max_daily_dose_ug", "refill_interval_days"],
        defaults=[0, 0, 0, 0, (), 0, 0, 0, 0, 0])):
    __slots__ = ()


class Finding(_MessageBase, namedtuple(
        "Finding",
        ["limit", "severity", "limit_value", "actual_value"],
        defaults=[0, 0, 0, 0])):
    __slots__ = ()


class AlarmEntry(_MessageBase, namedtuple(
        "AlarmEntry",
        ["code", "priority", "latching", "state", "instance", "raised_s", "announce_count"],
        defaults=[0, 0, 0, 0, 0, 0, 0])):
    __slots__ = ()


class LogEntry(_MessageBase, namedtuple(
        "LogEntry",
        ["index", "clock_s", "kind", "code", "value", "value2"],
        defaults=[0, 0, 0, 0, 0, 0])):
    __slots__ = ()


class HelloRequest(_MessageBase, namedtuple(
        "HelloRequest",
        ["host_session_id", "protocol_version"],
        defaults=[0, 0])):
    ("Identify the pump and start a session. Resets the role to NONE. A new host_session_id also clears the "
     "exactly-once cache; a host reconnecting after a link drop sends the same id to keep its "
     "retransmissions safe.")
    __slots__ = ()


class HelloResponse(_MessageBase, namedtuple(
        "HelloResponse",
        ["magic", "banner", "protocol_version", "firmware_version", "serial", "test_mode",
         "capacity_ul"],
        defaults=[bytes(4), "", 0, 0, "", 0, 0])):
    ("Identify the pump and start a session. Resets the role to NONE. A new host_session_id also clears the "
     "exactly-once cache; a host reconnecting after a link drop sends the same id to keep its "
     "retransmissions safe.")
    __slots__ = ()


class AuthChallengeRequest(_MessageBase, namedtuple("AuthChallengeRequest", ["role"], defaults=[0])):
    """Ask for a single-use nonce to authenticate as a role."""
    __slots__ = ()


class AuthChallengeResponse(_MessageBase, namedtuple(
        "AuthChallengeResponse",
        ["nonce"],
        defaults=[bytes(16)])):
    """Ask for a single-use nonce to authenticate as a role."""
    __slots__ = ()


class AuthResponseRequest(_MessageBase, namedtuple(
        "AuthResponseRequest",
        ["role", "mac"],
        defaults=[0, bytes(32)])):
    ("Prove the role: mac = HMAC-SHA256(role key, nonce + serial + role byte). A wrong, replayed or expired "
     "mac is UNAUTHORIZED; auth_max_failures failures lock authentication out for auth_lockout_s. A "
     "retransmission (same seq) gets the cached answer, so a lost answer does not burn the nonce.")
    __slots__ = ()


class AuthResponseResponse(_MessageBase, namedtuple("AuthResponseResponse", ["role"], defaults=[0])):
    ("Prove the role: mac = HMAC-SHA256(role key, nonce + serial + role byte). A wrong, replayed or expired "
     "mac is UNAUTHORIZED; auth_max_failures failures lock authentication out for auth_lockout_s. A "
     "retransmission (same seq) gets the cached answer, so a lost answer does not burn the nonce.")
    __slots__ = ()


class LogoutRequest(_MessageBase, namedtuple("LogoutRequest", [], defaults=[])):
    """Drop the session role to NONE."""
    __slots__ = ()


class LogoutResponse(_MessageBase, namedtuple("LogoutResponse", [], defaults=[])):
    """Drop the session role to NONE."""
    __slots__ = ()


class GetStatusRequest(_MessageBase, namedtuple("GetStatusRequest", [], defaults=[])):
    """Read the pump's status."""
    __slots__ = ()


class GetStatusResponse(_MessageBase, namedtuple(
        "GetStatusResponse",
        ["clock_s", "therapy_state", "mode", "drug", "concentration_ug_per_ml", "reservoir_ul",
         "capacity_ul", "basal_rate_ug_per_day", "basal_rate_ul_per_day", "bolus_remaining_ug",
         "delivered_24h_ug", "battery_state", "battery_pct", "days_to_low_reservoir", "days_to_empty",
         "role", "active_alarms"],
        defaults=[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ()])):
    """Read the pump's status."""
    __slots__ = ()


class GetPrescriptionRequest(_MessageBase, namedtuple("GetPrescriptionRequest", [], defaults=[])):
    """Read the programmed prescription."""
    __slots__ = ()


class GetPrescriptionResponse(_MessageBase, namedtuple(
        "GetPrescriptionResponse",
        ["version", "prescription"],
        defaults=[0, Prescription()])):
    """Read the programmed prescription."""
    __slots__ = ()


class ValidatePrescriptionRequest(_MessageBase, namedtuple(
        "ValidatePrescriptionRequest",
        ["prescription"],
        defaults=[Prescription()])):
    ("Check a prescription against the drug library, the pump and the reservoir without applying it; "
     "returns every finding.")
    __slots__ = ()


class ValidatePrescriptionResponse(_MessageBase, namedtuple(
        "ValidatePrescriptionResponse",
        ["findings"],
        defaults=[()])):
    ("Check a prescription against the drug library, the pump and the reservoir without applying it; "
     "returns every finding.")
    __slots__ = ()


class ProgramPrescriptionRequest(_MessageBase, namedtuple(
        "ProgramPrescriptionRequest",
        ["overrides", "prescription"],
        defaults=[(), Prescription()])):
    ("Program a prescription. Any hard finding refuses it (HARD_LIMIT); soft findings refuse it "
     "(SOFT_LIMIT_NEEDS_OVERRIDE) unless `overrides` names exactly the soft findings' limits (else "
     "OVERRIDE_MISMATCH).")
    __slots__ = ()


class ProgramPrescriptionResponse(_MessageBase, namedtuple(
        "ProgramPrescriptionResponse",
        ["version", "findings"],
        defaults=[0, ()])):
    ("Program a prescription. Any hard finding refuses it (HARD_LIMIT); soft findings refuse it "
     "(SOFT_LIMIT_NEEDS_OVERRIDE) unless `overrides` names exactly the soft findings' limits (else "
     "OVERRIDE_MISMATCH).")
    __slots__ = ()


class RefillRequest(_MessageBase, namedtuple(
        "RefillRequest",
        ["drug", "concentration_ug_per_ml", "volume_added_ul"],
        defaults=[0, 0, 0])):
    ("Record a refill: the old drug is emptied (its volume withdrawn), then volume_added_ul of the given "
     "drug and concentration is in the reservoir.")
    __slots__ = ()


class RefillResponse(_MessageBase, namedtuple(
        "RefillResponse",
        ["reservoir_ul", "days_to_empty"],
        defaults=[0, 0])):
    ("Record a refill: the old drug is emptied (its volume withdrawn), then volume_added_ul of the given "
     "drug and concentration is in the reservoir.")
    __slots__ = ()


class ClinicianBolusRequest(_MessageBase, namedtuple(
        "ClinicianBolusRequest",
        ["kind", "dose_ug", "duration_s"],
        defaults=[0, 0, 0])):
    """Deliver a one-off dose evenly over duration_s."""
    __slots__ = ()


class ClinicianBolusResponse(_MessageBase, namedtuple(
        "ClinicianBolusResponse",
        ["volume_ul", "ends_s"],
        defaults=[0, 0])):
    """Deliver a one-off dose evenly over duration_s."""
    __slots__ = ()


class PtmBolusRequest(_MessageBase, namedtuple("PtmBolusRequest", [], defaults=[])):
    """Patient-activated bolus of the prescription's PTM dose."""
    __slots__ = ()


class PtmBolusResponse(_MessageBase, namedtuple(
        "PtmBolusResponse",
        ["dose_ug", "activations_24h", "next_allowed_s"],
        defaults=[0, 0, 0])):
    """Patient-activated bolus of the prescription's PTM dose."""
    __slots__ = ()


class SuspendRequest(_MessageBase, namedtuple("SuspendRequest", [], defaults=[])):
    """Suspend therapy (basal and any running bolus)."""
    __slots__ = ()


class SuspendResponse(_MessageBase, namedtuple("SuspendResponse", ["therapy_state"], defaults=[0])):
    """Suspend therapy (basal and any running bolus)."""
    __slots__ = ()


class ResumeRequest(_MessageBase, namedtuple("ResumeRequest", [], defaults=[])):
    """Resume suspended therapy."""
    __slots__ = ()


class ResumeResponse(_MessageBase, namedtuple("ResumeResponse", ["therapy_state"], defaults=[0])):
    """Resume suspended therapy."""
    __slots__ = ()


class GetAlarmsRequest(_MessageBase, namedtuple("GetAlarmsRequest", [], defaults=[])):
    """List active and latched alarms."""
    __slots__ = ()


class GetAlarmsResponse(_MessageBase, namedtuple("GetAlarmsResponse", ["alarms"], defaults=[()])):
    """List active and latched alarms."""
    __slots__ = ()


class AckAlarmRequest(_MessageBase, namedtuple("AckAlarmRequest", ["code", "instance"], defaults=[0, 0])):
    ("Acknowledge an alarm instance: stops re-announcement; a latched alarm whose cause has ended is "
     "removed.")
    __slots__ = ()


class AckAlarmResponse(_MessageBase, namedtuple("AckAlarmResponse", ["remaining"], defaults=[0])):
    ("Acknowledge an alarm instance: stops re-announcement; a latched alarm whose cause has ended is "
     "removed.")
    __slots__ = ()


class ReadLogRequest(_MessageBase, namedtuple(
        "ReadLogRequest",
        ["start_index", "max_entries"],
        defaults=[0, 0])):
    ("Read up to max_entries log entries from start_index on. The log is a ring buffer; entries older than "
     "oldest_index are gone.")
    __slots__ = ()


class ReadLogResponse(_MessageBase, namedtuple(
        "ReadLogResponse",
        ["oldest_index", "next_index", "entries"],
        defaults=[0, 0, ()])):
    ("Read up to max_entries log entries from start_index on. The log is a ring buffer; entries older than "
     "oldest_index are gone.")
    __slots__ = ()


class TcResetRequest(_MessageBase, namedtuple("TcResetRequest", ["seed"], defaults=[0])):
    ("Factory state (test mode kept): empty log, no prescription, full battery, reservoir empty, clock at "
     "0, caches cleared.")
    __slots__ = ()


class TcResetResponse(_MessageBase, namedtuple("TcResetResponse", [], defaults=[])):
    ("Factory state (test mode kept): empty log, no prescription, full battery, reservoir empty, clock at "
     "0, caches cleared.")
    __slots__ = ()


class TcInjectFaultRequest(_MessageBase, namedtuple("TcInjectFaultRequest", ["fault"], defaults=[0])):
    """Inject a fault."""
    __slots__ = ()


class TcInjectFaultResponse(_MessageBase, namedtuple("TcInjectFaultResponse", ["alarm"], defaults=[0])):
    """Inject a fault."""
    __slots__ = ()


class TcClearFaultRequest(_MessageBase, namedtuple("TcClearFaultRequest", ["fault"], defaults=[0])):
    """Remove a fault's cause (a latching alarm still needs ACK)."""
    __slots__ = ()


class TcClearFaultResponse(_MessageBase, namedtuple("TcClearFaultResponse", [], defaults=[])):
    """Remove a fault's cause (a latching alarm still needs ACK)."""
    __slots__ = ()


class TcSetReservoirRequest(_MessageBase, namedtuple(
        "TcSetReservoirRequest",
        ["reservoir_ul"],
        defaults=[0])):
    """Set the reservoir volume (drug and concentration kept)."""
    __slots__ = ()


class TcSetReservoirResponse(_MessageBase, namedtuple("TcSetReservoirResponse", [], defaults=[])):
    """Set the reservoir volume (drug and concentration kept)."""
    __slots__ = ()


class TcSetBatteryRequest(_MessageBase, namedtuple("TcSetBatteryRequest", ["battery_pct"], defaults=[0])):
    """Set the battery level."""
    __slots__ = ()


class TcSetBatteryResponse(_MessageBase, namedtuple("TcSetBatteryResponse", [], defaults=[])):
    """Set the battery level."""
    __slots__ = ()


class TcWarpClockRequest(_MessageBase, namedtuple("TcWarpClockRequest", ["advance_s"], defaults=[0])):
    """Advance the pump clock, delivering and alarming as if the time had passed."""
    __slots__ = ()


class TcWarpClockResponse(_MessageBase, namedtuple("TcWarpClockResponse", ["clock_s"], defaults=[0])):
    """Advance the pump clock, delivering and alarming as if the time had passed."""
    __slots__ = ()


class TcPowerLossRequest(_MessageBase, namedtuple("TcPowerLossRequest", ["cut_after_bytes"], defaults=[0])):
    ("Simulate a power loss. cut_after_bytes = 0 reboots now from non-volatile storage (the response is "
     "sent after the reboot); N > 0 arms a cut at the N-th byte of the next storage writes.")
    __slots__ = ()


class TcPowerLossResponse(_MessageBase, namedtuple("TcPowerLossResponse", ["reboots"], defaults=[0])):
    ("Simulate a power loss. cut_after_bytes = 0 reboots now from non-volatile storage (the response is "
     "sent after the reboot); N > 0 arms a cut at the N-th byte of the next storage writes.")
    __slots__ = ()


class TcReadCountersRequest(_MessageBase, namedtuple("TcReadCountersRequest", [], defaults=[])):
    """Read internal counters."""
    __slots__ = ()


class TcReadCountersResponse(_MessageBase, namedtuple(
        "TcReadCountersResponse",
        ["requests_executed", "dedup_hits", "frames_bad", "naks_sent", "boluses_delivered",
         "delivered_ug", "delivered_ul", "filled_ul", "removed_ul", "reboots"],
        defaults=[0, 0, 0, 0, 0, 0, 0, 0, 0, 0])):
    """Read internal counters."""
    __slots__ = ()


class TcGetStatusRequest(_MessageBase, namedtuple("TcGetStatusRequest", [], defaults=[])):
    ("GET_STATUS without a session role: lets a test watch the pump while an app holds the session, without "
     "touching the app's role.")
    __slots__ = ()


class TcGetStatusResponse(_MessageBase, namedtuple(
        "TcGetStatusResponse",
        ["clock_s", "therapy_state", "mode", "drug", "concentration_ug_per_ml", "reservoir_ul",
         "capacity_ul", "basal_rate_ug_per_day", "basal_rate_ul_per_day", "bolus_remaining_ug",
         "delivered_24h_ug", "battery_state", "battery_pct", "days_to_low_reservoir", "days_to_empty",
         "role", "active_alarms"],
        defaults=[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ()])):
    ("GET_STATUS without a session role: lets a test watch the pump while an app holds the session, without "
     "touching the app's role.")
    __slots__ = ()


class TcGetPrescriptionRequest(_MessageBase, namedtuple("TcGetPrescriptionRequest", [], defaults=[])):
    """GET_PRESCRIPTION without a session role (see TC_GET_STATUS)."""
    __slots__ = ()


class TcGetPrescriptionResponse(_MessageBase, namedtuple(
        "TcGetPrescriptionResponse",
        ["version", "prescription"],
        defaults=[0, Prescription()])):
    """GET_PRESCRIPTION without a session role (see TC_GET_STATUS)."""
    __slots__ = ()


class TcGetAlarmsRequest(_MessageBase, namedtuple("TcGetAlarmsRequest", [], defaults=[])):
    """GET_ALARMS without a session role (see TC_GET_STATUS)."""
    __slots__ = ()


class TcGetAlarmsResponse(_MessageBase, namedtuple("TcGetAlarmsResponse", ["alarms"], defaults=[()])):
    """GET_ALARMS without a session role (see TC_GET_STATUS)."""
    __slots__ = ()


class TcGetClockRequest(_MessageBase, namedtuple("TcGetClockRequest", [], defaults=[])):
    ("The pump clock to the millisecond, read when this request is handled: a host on a real clock learns "
     "the exact moment the pump handled what it sent with it.")
    __slots__ = ()


class TcGetClockResponse(_MessageBase, namedtuple("TcGetClockResponse", ["clock_ms"], defaults=[0])):
    ("The pump clock to the millisecond, read when this request is handled: a host on a real clock learns "
     "the exact moment the pump handled what it sent with it.")
    __slots__ = ()


class TcHeapInfoRequest(_MessageBase, namedtuple("TcHeapInfoRequest", [], defaults=[])):
    ("The firmware's heap, for a bench on a small board: free and used bytes after a garbage collection "
     "now, the extremes seen at the firmware's watch points (after each input, each save and each load) "
     "since the previous TC_HEAP_INFO, and the largest single buffer its storage layer asked for in that "
     "time. The first TC_HEAP_INFO since boot starts the watch. A heap figure of 0 means the port cannot "
     "tell (CPython has no gc.mem_free).")
    __slots__ = ()


class TcHeapInfoResponse(_MessageBase, namedtuple(
        "TcHeapInfoResponse",
        ["free_bytes", "low_free_bytes", "used_bytes", "peak_used_bytes", "largest_buffer_bytes"],
        defaults=[0, 0, 0, 0, 0])):
    ("The firmware's heap, for a bench on a small board: free and used bytes after a garbage collection "
     "now, the extremes seen at the firmware's watch points (after each input, each save and each load) "
     "since the previous TC_HEAP_INFO, and the largest single buffer its storage layer asked for in that "
     "time. The first TC_HEAP_INFO since boot starts the watch. A heap figure of 0 means the port cannot "
     "tell (CPython has no gc.mem_free).")
    __slots__ = ()


class AlarmRaised(_MessageBase, namedtuple(
        "AlarmRaised",
        ["code", "priority", "latching", "state", "instance", "raised_s", "announce_count"],
        defaults=[0, 0, 0, 0, 0, 0, 0])):
    ("An alarm was raised or re-announced (announce_count > 1 means the same instance again, not a new "
     "alarm).")
    __slots__ = ()


class AlarmCleared(_MessageBase, namedtuple(
        "AlarmCleared",
        ["code", "instance", "cleared_s"],
        defaults=[0, 0, 0])):
    """An alarm instance left the active list."""
    __slots__ = ()


# struct name -> class, for the structs that are classes
STRUCT_CLASSES = {
    'flex_step': FlexStep,
    'prescription': Prescription,
    'finding': Finding,
    'alarm_entry': AlarmEntry,
    'log_entry': LogEntry,
}
# (frame kind, msg_id) -> class; NAK and ACK payloads are Nak and Ack
CLASSES = {
    (REQUEST, 0x01): HelloRequest,
    (RESPONSE, 0x01): HelloResponse,
    (REQUEST, 0x02): AuthChallengeRequest,
    (RESPONSE, 0x02): AuthChallengeResponse,
    (REQUEST, 0x03): AuthResponseRequest,
    (RESPONSE, 0x03): AuthResponseResponse,
    (REQUEST, 0x04): LogoutRequest,
    (RESPONSE, 0x04): LogoutResponse,
    (REQUEST, 0x10): GetStatusRequest,
    (RESPONSE, 0x10): GetStatusResponse,
    (REQUEST, 0x11): GetPrescriptionRequest,
    (RESPONSE, 0x11): GetPrescriptionResponse,
    (REQUEST, 0x12): ValidatePrescriptionRequest,
    (RESPONSE, 0x12): ValidatePrescriptionResponse,
    (REQUEST, 0x13): ProgramPrescriptionRequest,
    (RESPONSE, 0x13): ProgramPrescriptionResponse,
    (REQUEST, 0x20): RefillRequest,
    (RESPONSE, 0x20): RefillResponse,
    (REQUEST, 0x21): ClinicianBolusRequest,
    (RESPONSE, 0x21): ClinicianBolusResponse,
    (REQUEST, 0x22): PtmBolusRequest,
    (RESPONSE, 0x22): PtmBolusResponse,
    (REQUEST, 0x23): SuspendRequest,
    (RESPONSE, 0x23): SuspendResponse,
    (REQUEST, 0x24): ResumeRequest,
    (RESPONSE, 0x24): ResumeResponse,
    (REQUEST, 0x30): GetAlarmsRequest,
    (RESPONSE, 0x30): GetAlarmsResponse,
    (REQUEST, 0x31): AckAlarmRequest,
    (RESPONSE, 0x31): AckAlarmResponse,
    (REQUEST, 0x40): ReadLogRequest,
    (RESPONSE, 0x40): ReadLogResponse,
    (REQUEST, 0x60): TcResetRequest,
    (RESPONSE, 0x60): TcResetResponse,
    (REQUEST, 0x61): TcInjectFaultRequest,
    (RESPONSE, 0x61): TcInjectFaultResponse,
    (REQUEST, 0x62): TcClearFaultRequest,
    (RESPONSE, 0x62): TcClearFaultResponse,
    (REQUEST, 0x63): TcSetReservoirRequest,
    (RESPONSE, 0x63): TcSetReservoirResponse,
    (REQUEST, 0x64): TcSetBatteryRequest,
    (RESPONSE, 0x64): TcSetBatteryResponse,
    (REQUEST, 0x65): TcWarpClockRequest,
    (RESPONSE, 0x65): TcWarpClockResponse,
    (REQUEST, 0x66): TcPowerLossRequest,
    (RESPONSE, 0x66): TcPowerLossResponse,
    (REQUEST, 0x67): TcReadCountersRequest,
    (RESPONSE, 0x67): TcReadCountersResponse,
    (REQUEST, 0x68): TcGetStatusRequest,
    (RESPONSE, 0x68): TcGetStatusResponse,
    (REQUEST, 0x69): TcGetPrescriptionRequest,
    (RESPONSE, 0x69): TcGetPrescriptionResponse,
    (REQUEST, 0x6a): TcGetAlarmsRequest,
    (RESPONSE, 0x6a): TcGetAlarmsResponse,
    (REQUEST, 0x6b): TcGetClockRequest,
    (RESPONSE, 0x6b): TcGetClockResponse,
    (REQUEST, 0x6c): TcHeapInfoRequest,
    (RESPONSE, 0x6c): TcHeapInfoResponse,
    (EVENT, 0x80): AlarmRaised,
    (EVENT, 0x81): AlarmCleared,
}
# ---- end of generated code ----


LAYOUTS_BY_STRUCT = {}  # struct name -> Layout (catalog order: a struct's items come before it)
for _name, _cls in STRUCT_CLASSES.items():
    LAYOUTS_BY_STRUCT[_name] = Layout(_cls, STRUCTS[_name])


def _bind(cls, fields, message, kind):
    layout = Layout(cls, fields)
    if _fits_fast(layout):
        layout.fast = _fast_decoder(layout)
    cls.MESSAGE = message
    cls.KIND = kind


for (_kind, _id), _cls in CLASSES.items():
    _message = MESSAGES_BY_ID[_id]
    _bind(_cls, _message.response if _kind == RESPONSE else _message.request, _message, _kind)

_NakPayload = type("NakPayload", (_MessageBase, namedtuple("NakPayload", [f.name for f in ERROR_LAYOUT],
                                                           defaults=[0] * len(ERROR_LAYOUT))), {"__slots__": ()})
_bind(_NakPayload, ERROR_LAYOUT, None, NAK)
_FAST = {key: cls._layout.fast for key, cls in CLASSES.items() if cls._layout.fast is not None}


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
    return CLASSES[(REQUEST, MESSAGES_BY_NAME[name].id)]


def response_class(name):
    return CLASSES[(RESPONSE, MESSAGES_BY_NAME[name].id)]


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
    """Wire bytes (COBS + delimiter) for a typed message (message_frame's, without the Frame)."""
    kind = message.KIND
    return encode_frame(kind, message.msg_id if kind in (NAK, ACK) else message.MESSAGE.id, seq, message.encode())
