"""Payload codec driven by the layouts in spec: dicts in, bytes out, and bytes in, dicts out.

A layout is a tuple of (name, kind, arg, min, max, code set) fields (see spec's docstring).
Decoded values: integers for scalars, bytes for fixed bytes, str for text, a dict for a nested
struct, a list for a list (of plain integers when its items have a single field).

Requests are decoded strictly (decode_request): the length first, then every range and code
set in field order, so a NAK always names the first broken field. Layouts compile once into
plans whose runs of fixed-size fields are one struct call.
"""

from . import spec
from .errors import Refusal
from .packing import packer

_SIZES = {"B": 1, "H": 2, "I": 4, "Q": 8}
_RUN, _BYTES, _TEXT, _LIST, _STRUCT = 0, 1, 2, 3, 4


def _checks(fields):
    """(index in run, min, max, valid codes or None) for each field that has a constraint."""
    out = []
    for i, field in enumerate(fields):
        _name, kind, _arg, low, high, code_set = field
        codes = spec.CODE_SETS[code_set] if code_set else None
        if codes is not None or low > 0 or high < (1 << (8 * _SIZES[kind])) - 1:
            out.append((i, low, high, codes))
    return out


def compile_layout(layout):
    """A plan: a list of steps, one per scalar run or per non-scalar field, with field positions."""
    plan = []
    run = []
    position = 0
    for field in layout:
        position += 1
        name, kind, arg = field[0], field[1], field[2]
        if kind in _SIZES:
            run.append((position, field))
            continue
        if run:
            plan.append(_run_step(run))
            run = []
        if kind == "b":
            plan.append((_BYTES, name, arg, position))
        elif kind == "t":
            plan.append((_TEXT, name, arg, position))
        elif kind == "L":
            items, max_count, bare = arg
            item = _run_step([(position, items[0])]) if bare else compile_layout(items)
            plan.append((_LIST, name, (item, bare), position, max_count))
        else:
            plan.append((_STRUCT, name, compile_layout(arg), position))
    if run:
        plan.append(_run_step(run))
    return plan


def _run_step(run):
    fields = [field for _position, field in run]
    fmt = "<" + "".join(field[1] for field in fields)
    names = tuple(field[0] for field in fields)
    positions = tuple(position for position, _field in run)
    return (_RUN, packer(fmt), names, positions, _checks(fields))


_PLANS = {}


def plan_for(layout):
    """The compiled plan of a spec layout, cached by identity (spec layouts live forever)."""
    key = id(layout)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = (compile_layout(layout), layout)
    return plan[0]


# ---- encoding ------------------------------------------------------------------------------
def encode(layout, values):
    """Payload bytes of a dict (nested dicts and lists as decode returns them)."""
    return encoder(layout)(values)


def encoder(layout):
    """encode(layout, ...) as a function of the values alone, compiled once per layout."""
    key = id(layout)
    function = _FAST.get(key)
    if function is None:
        function = _FAST[key] = _compile_encoder(layout)
    return function


def _empty(_values):
    return b""


def _compile_encoder(layout):
    if not layout:
        return _empty
    plan = plan_for(layout)
    fast = _fast_encoder(plan)
    if fast:
        return fast

    def encode_plan(values):
        out = bytearray()
        _encode_plan(plan, values, out)
        return bytes(out)
    return encode_plan


def scalars_and_codes(layout, names):
    """The packer of a layout of scalars ending in a list of u8 codes: pack(*scalars, count),
    the codes' bytes to follow. `names` are the fields in the order the caller passes them:
    a catalog change that reorders or renames them fails here, at import, not on the wire."""
    if tuple(field[0] for field in layout) != tuple(names):
        raise ValueError("layout fields %r, not %r" % (tuple(field[0] for field in layout), names))
    plan = plan_for(layout)
    if len(plan) != 2 or plan[0][0] != _RUN or plan[1][0] != _LIST or _format(plan[1][2][0][1]) != "<B":
        raise ValueError("not scalars then a list of u8 codes")
    return packer(_format(plan[0][1]) + "B")


def _format(compiled):
    fmt = compiled.format
    return fmt.decode() if isinstance(fmt, bytes) else fmt  # bytes before CPython 3.7


_FAST = {}  # id(layout) -> its encoder; spec layouts live forever (plan_for)


def _fast_encoder(plan):
    """An encoder for layouts of scalars, optionally ending in a list of u8 codes, or False.

    GET_STATUS is such a layout and is the most frequent answer: one struct call for every
    scalar and the list's count, the codes as bytes, no bytearray in between."""
    if not plan or plan[0][0] != _RUN or len(plan) > 2:
        return False
    names = plan[0][2]
    if len(plan) == 1:
        pack = plan[0][1].pack
        if len(names) == 1:
            name = names[0]
            return lambda values: pack(values[name])
        return lambda values: pack(*[values[name] for name in names])
    step = plan[1]
    if step[0] != _LIST or not step[2][1] or _format(step[2][0][1]) != "<B":
        return False
    pack = packer(_format(plan[0][1]) + "B").pack
    list_name = step[1]

    def encode_scalars_and_codes(values):
        items = values[list_name]
        fields = [values[name] for name in names]
        fields.append(len(items))
        return pack(*fields) + bytes(items)
    return encode_scalars_and_codes


def _encode_plan(plan, values, out):
    for step in plan:
        tag = step[0]
        if tag == _RUN:
            names = step[2]
            if len(names) == 1:
                out += step[1].pack(values[names[0]])
            else:
                out += step[1].pack(*[values[name] for name in names])
        elif tag == _BYTES:
            out += values[step[1]]
        elif tag == _TEXT:
            raw = values[step[1]].encode()
            out.append(len(raw))
            out += raw
        elif tag == _LIST:
            item, bare = step[2]
            items = values[step[1]]
            out.append(len(items))
            if bare:
                pack = item[1].pack
                for value in items:
                    out += pack(value)
            else:
                for value in items:
                    _encode_plan(item, value, out)
        else:
            _encode_plan(step[2], values[step[1]], out)


# ---- decoding ------------------------------------------------------------------------------
def decode(layout, payload):
    """Parse a payload without range checks (responses and events). Raises Refusal on a length mismatch."""
    return decode_request(layout, payload, False)


def decode_request(layout, payload, strict=True):
    """Parse a request payload; Refusal(BAD_LENGTH or OUT_OF_RANGE) when the pump must refuse it."""
    if not layout:  # most reads: nothing to parse
        if payload:
            raise Refusal(spec.E_BAD_LENGTH, 0, 0, len(payload))
        return {}
    plan = plan_for(layout)
    expected = _size(plan, payload, 0)
    if expected != len(payload):
        raise Refusal(spec.E_BAD_LENGTH, 0, expected, len(payload))
    values = {}
    _decode_plan(plan, payload, 0, values, strict, 0)
    return values


def _size(plan, data, offset):
    """Where the payload must end, reading counts and lengths from it (0 where it is too short)."""
    for step in plan:
        tag = step[0]
        if tag == _RUN:
            offset += step[1].size
        elif tag == _BYTES:
            offset += step[2]
        elif tag == _TEXT:
            offset += 1 + (data[offset] if offset < len(data) else 0)
        elif tag == _LIST:
            count = data[offset] if offset < len(data) else 0
            offset += 1
            item, bare = step[2]
            if bare:
                offset += count * item[1].size
            else:
                for _i in range(count):
                    offset = _size(item, data, offset)
        else:
            offset = _size(step[2], data, offset)
    return offset


def _out_of_range(position, value, low, high):
    limit = low if value < low else (high if value > high else 0)
    raise Refusal(spec.E_OUT_OF_RANGE, position, limit, value)


def _decode_plan(plan, data, offset, out, strict, top):
    """Decode into `out`; `top` is the enclosing top-level field position (0 at the top level)."""
    for step in plan:
        tag = step[0]
        if tag == _RUN:
            values = step[1].unpack_from(data, offset)
            offset += step[1].size
            if strict:
                for i, low, high, codes in step[4]:
                    value = values[i]
                    if value < low or value > high or (codes is not None and value not in codes):
                        _out_of_range(top or step[3][i], value, low, high)
            names = step[2]
            for i in range(len(names)):
                out[names[i]] = values[i]
        elif tag == _BYTES:
            end = offset + step[2]
            out[step[1]] = bytes(data[offset:end])
            offset = end
        elif tag == _TEXT:
            end = offset + 1 + data[offset]
            raw = bytes(data[offset + 1:end])
            if strict and len(raw) > step[2]:
                _out_of_range(top or step[3], len(raw), 0, step[2])
            out[step[1]] = raw.decode()
            offset = end
        elif tag == _LIST:
            position = top or step[3]
            count = data[offset]
            offset += 1
            if strict and count > step[4]:
                _out_of_range(position, count, 0, step[4])
            item, bare = step[2]
            items = []
            if bare:
                run = item
                size = run[1].size
                checks = run[4] if strict else ()
                for _i in range(count):
                    value = run[1].unpack_from(data, offset)[0]
                    offset += size
                    for _index, low, high, codes in checks:
                        if value < low or value > high or (codes is not None and value not in codes):
                            _out_of_range(position, value, low, high)
                    items.append(value)
            else:
                for _i in range(count):
                    entry = {}
                    offset = _decode_plan(item, data, offset, entry, strict, position)
                    items.append(entry)
            out[step[1]] = items
        else:
            nested = {}
            offset = _decode_plan(step[2], data, offset, nested, strict, top or step[3])
            out[step[1]] = nested
    return offset
