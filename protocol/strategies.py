"""Hypothesis strategies derived from the catalog: a valid instance of any message class.

Nothing here is written per message: a new catalog entry gets its strategy for free.
harness.fuzz builds its out-of-range and near-valid strategies on top of these.
"""

import string

from hypothesis import strategies as st

from . import codes
from .catalog import MAX_PAYLOAD, field_max
from .messages import CLASSES, LAYOUTS_BY_STRUCT, Nak, Ack
from .framing import ACK, NAK



def field_strategy(field):
    """Values of one field that the protocol accepts (codes from the code set, ranges honoured)."""
    kind = field.kind
    if isinstance(kind, str):
        if field.codes:
            members = [m for m in codes.ENUMS[field.codes] if field.min <= m <= field_max(field)]
            return st.sampled_from(members)
        return st.integers(field.min, field_max(field))
    tag = kind[0]
    if tag == "bytes":
        return st.binary(min_size=kind[1], max_size=kind[1])
    if tag == "text":
        return st.text(alphabet=string.ascii_letters + string.digits + " -_.", max_size=kind[1])
    if tag == "struct":
        return layout_strategy(LAYOUTS_BY_STRUCT[kind[1]].cls)
    layout = LAYOUTS_BY_STRUCT.get(kind[1])
    if layout is None:  # bare single-value items
        from .catalog import STRUCTS
        item = field_strategy(STRUCTS[kind[1]][0])
    else:
        item = layout_strategy(layout.cls)
    return st.lists(item, max_size=kind[2]).map(tuple)


def layout_strategy(cls):
    """Instances of a message or struct class whose payload fits a frame."""
    fields = {field.name: field_strategy(field) for field in cls._layout.fields}
    return st.fixed_dictionaries(fields).map(lambda values: cls(**values)).filter(
        lambda message: len(message.encode()) <= MAX_PAYLOAD)


def nak_strategy():
    return st.builds(Nak, msg_id=st.integers(0, 255), code=st.sampled_from(list(codes.Error)),
                     subject=st.integers(0, 255), limit_value=st.integers(0, 0xFFFFFFFF),
                     actual_value=st.integers(0, 0xFFFFFFFF))


def message_strategy(kinds=None):
    """Any catalog message (requests, responses, events), NAKs and ACKs; `kinds` filters frame kinds."""
    choices = [layout_strategy(cls) for (kind, _id), cls in sorted(CLASSES.items())
               if kinds is None or kind in kinds]
    if kinds is None or NAK in kinds:
        choices.append(nak_strategy())
    if kinds is None or ACK in kinds:
        choices.append(st.builds(Ack, msg_id=st.sampled_from([0x80, 0x81])))
    return st.one_of(choices)
