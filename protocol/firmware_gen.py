"""Generate firmware_mock/spec.py: the catalog as plain literals the firmware can import on MicroPython.

The firmware cannot import this package (no construct, no typing, no enum on a board), so it
gets the catalog as a generated module. tests/test_document.py fails when the committed
file differs from what this generator writes, so the two cannot drift.

    python -m pumpmock.protocol.firmware_gen          # rewrite firmware_mock/spec.py
    python -m pumpmock.protocol.firmware_gen --check  # exit 1 if it is out of date
"""

import argparse
import pathlib
import sys

from . import catalog

TARGET = pathlib.Path(__file__).resolve().parent.parent / "firmware_mock" / "spec.py"
_SCALAR = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q"}


def _field(field):
    """(name, kind, arg, min, max, code set name or None) with one-letter kinds:
    B H I Q scalars; b fixed bytes (arg = size); t text (arg = max length);
    L list (arg = (item layout, max count, bare)); S nested struct (arg = layout)."""
    kind = field.kind
    code_set = field.codes or None
    if isinstance(kind, str):
        return (field.name, _SCALAR[kind], None, field.min, catalog.field_max(field), code_set)
    tag = kind[0]
    if tag == "bytes":
        return (field.name, "b", kind[1], 0, 0, None)
    if tag == "text":
        return (field.name, "t", kind[1], 0, kind[1], None)
    if tag == "list":
        items = catalog.STRUCTS[kind[1]]
        bare = len(items) == 1
        return (field.name, "L", (_layout(items), kind[2], bare), 0, kind[2], None)
    return (field.name, "S", _layout(catalog.STRUCTS[kind[1]]), 0, 0, None)


def _layout(fields):
    return tuple(_field(field) for field in fields)


def render():
    lines = [
        '"""The protocol catalog as plain data for the firmware (runs on MicroPython).',
        "",
        "GENERATED from protocol/catalog.py by `python -m pumpmock.protocol.firmware_gen`: do not edit.",
        "Layout fields are (name, kind, arg, min, max, code set): kinds B H I Q are little-endian",
        "u8 u16 u32 u64; b fixed bytes (arg = size); t u8-length-prefixed ASCII (arg = max);",
        "L u8-count-prefixed list (arg = (item layout, max count, bare single value));",
        "S nested struct (arg = layout).",
        '"""',
        "",
        "PROTOCOL_VERSION = %d" % catalog.PROTOCOL_VERSION,
        "MAGIC = %r" % catalog.MAGIC,
        "BANNER = %r" % catalog.BANNER,
        "HEADER_SIZE = %d" % catalog.HEADER_SIZE,
        "CRC_SIZE = %d" % catalog.CRC_SIZE,
        "MAX_PAYLOAD = %d" % catalog.MAX_PAYLOAD,
        "MAX_BODY = %d" % catalog.MAX_BODY,
        "MAX_ENCODED = %d" % catalog.MAX_ENCODED,
        "EVENT_RETRY_MS = %d" % catalog.EVENT_RETRY_MS,
        "EVENT_MAX_RETRIES = %d" % catalog.EVENT_MAX_RETRIES,
        "DEDUP_CACHE_SIZE = %d" % catalog.DEDUP_CACHE_SIZE,
        "",
        "# Code constants, prefixed by code set.",
    ]
    prefixes = {"frame_kind": "K", "role": "ROLE", "therapy_mode": "MODE", "therapy_state": "STATE",
                "battery_state": "BATT", "bolus_kind": "BOLUS", "severity": "SEV", "priority": "PRIO",
                "alarm_state": "ALST", "fault": "FAULT", "log_kind": "LOG", "alarm": "AL",
                "limit": "LIM", "error": "E", "drug": "DRUG"}
    for name, code_set in catalog.CODE_SETS.items():
        for code in code_set.codes:
            lines.append("%s_%s = %d" % (prefixes[name], code.name, code.value))
    lines.append("")
    lines.append("# Valid values of each code set.")
    lines.append("CODE_SETS = {")
    for name, code_set in catalog.CODE_SETS.items():
        lines.append("    %r: %r," % (name, tuple(c.value for c in code_set.codes)))
    lines.append("}")
    lines.append("")
    lines.append("# Drug library: drug -> (max concentration µg/mL, soft max µg/day, hard max µg/day).")
    lines.append("DRUGS = {")
    for value, name, _unit, conc, soft, hard in catalog.DRUGS:
        lines.append("    %d: (%d, %d, %d),  # %s" % (value, conc, soft, hard, name))
    lines.append("}")
    lines.append("")
    lines.append("# Alarms: code -> (priority, latching, re-announce interval s).")
    lines.append("ALARMS = {")
    priorities = {c.name: c.value for c in catalog.PRIORITY.codes}
    for value, name, priority, latching, _doc in catalog.ALARMS:
        lines.append("    %d: (%d, %r, %d),  # %s" % (value, priorities[priority], latching,
                                                       catalog.REANNOUNCE_S[priority], name))
    lines.append("}")
    lines.append("")
    lines.append("# Pump limits and defaults.")
    for key, value in catalog.PUMP.items():
        lines.append("%s = %d" % (key.upper(), value))
    lines.append("")
    lines.append("ROLE_OF = {'NONE': 0, 'PATIENT': 1, 'CLINICIAN': 2}")
    lines.append("")
    lines.append("# Messages: id -> (name, minimum role, state changing, test control).")
    lines.append("MESSAGES = {")
    for message in catalog.MESSAGES:
        if not message.event:
            lines.append("    0x%02x: (%r, ROLE_%s, %r, %r)," % (message.id, message.name, message.role,
                                                                 message.state_changing, message.test_control))
    lines.append("}")
    lines.append("EVENTS = {")
    for message in catalog.MESSAGES:
        if message.event:
            lines.append("    0x%02x: %r," % (message.id, message.name))
    lines.append("}")
    lines.append("")
    for message in catalog.MESSAGES:
        lines.append("ID_%s = 0x%02x" % (message.name, message.id))
    lines.append("")
    lines.append("# Payload layouts by message id.")
    for title, pick in (("REQUEST", lambda m: None if m.event else m.request),
                        ("RESPONSE", lambda m: None if m.event else m.response),
                        ("EVENT", lambda m: m.request if m.event else None)):
        lines.append("%s = {" % title)
        for message in catalog.MESSAGES:
            fields = pick(message)
            if fields is not None:
                lines.append("    0x%02x: %r," % (message.id, _layout(fields)))
        lines.append("}")
    lines.append("ERROR_LAYOUT = %r" % (_layout(catalog.ERROR_LAYOUT),))
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if firmware_mock/spec.py is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print("firmware_mock/spec.py is out of date: run python -m pumpmock.protocol.firmware_gen", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print("wrote %s" % TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
