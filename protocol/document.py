"""Generate docs/PROTOCOL.md from the catalog: every frame field, message, code and unit, with bytes.

    python -m pumpmock.protocol.document           # rewrite docs/PROTOCOL.md
    python -m pumpmock.protocol.document --print   # write it to stdout instead
    python -m pumpmock.protocol.document --check   # exit 1 if the committed document is out of date
"""

import argparse
import pathlib
import sys

from . import catalog as c
from .examples import EXAMPLES, NAK_EXAMPLES
from .framing import encode_frame
from .jsonify import describe
from .messages import encode_message, message_frame

TARGET = pathlib.Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md"
_SIZES = {"u8": "1", "u16": "2", "u32": "4", "u64": "8"}


def _hex(data):
    return " ".join("%02x" % b for b in data)


def _kind_text(kind):
    if isinstance(kind, str):
        return kind
    if kind[0] == "bytes":
        return "bytes[%d]" % kind[1]
    if kind[0] == "text":
        return "text ≤ %d" % kind[1]
    if kind[0] == "list":
        return "list ≤ %d of `%s`" % (kind[2], kind[1])
    return "struct `%s`" % kind[1]


def _size_text(kind):
    if isinstance(kind, str):
        return _SIZES[kind]
    if kind[0] == "bytes":
        return str(kind[1])
    if kind[0] == "text":
        return "1 + n"
    if kind[0] == "list":
        return "1 + n × item"
    return "struct"


def _range_text(field):
    if field.codes:
        text = "`%s` code" % field.codes
        return text + (" ≥ %d" % field.min if field.min else "")
    if not isinstance(field.kind, str):
        return ""
    if field.min or field.max >= 0:
        return "%d – %d" % (field.min, c.field_max(field))
    return ""


def _field_table(fields):
    if not fields:
        return ["(empty payload)", ""]
    rows = ["| # | field | type | bytes | unit | range | meaning |", "|---|---|---|---|---|---|---|"]
    for i, field in enumerate(fields, start=1):
        rows.append("| %d | `%s` | %s | %s | %s | %s | %s |" % (
            i, field.name, _kind_text(field.kind), _size_text(field.kind), field.unit or "",
            _range_text(field), field.doc))
    return rows + [""]


def _example(message, seq):
    frame = message_frame(message, seq)
    wire = encode_message(message, seq)
    return ["```", describe(message), "payload: %s" % (_hex(frame.payload) or "(none)"),
            "wire:    %s" % _hex(wire), "```", ""]


PROSE_INTRO = """\
# pumpmock protocol v%(version)d

Generated from `protocol/catalog.py` by `python -m pumpmock.protocol.document`; do not edit by hand
(tests/test_document.py fails when this file is stale).

This protocol is **fictional**. It imitates no real device's telemetry and exists so programmer
software can be tested against a mock pump. Every identity answer says NOT FOR CLINICAL USE.

## Conventions
- Serial line: 8N1, %(baud)d baud by default (USB CDC ignores the rate; a real UART does not).
- Integers only, little-endian, in the unit the field name ends with: `_ug` µg, `_ul` µL,
  `_ug_per_ml` µg/mL, `_ug_per_day` µg/day, `_ul_per_day` µL/day, `_s` seconds, `_min` minutes,
  `_ms` milliseconds, `_pct` percent, `_days` days. A "mg" drug is still carried in µg:
  morphine 10 mg/day is `10000`.
- Text fields are a length byte followed by ASCII. Lists are a count byte followed by the items.
  A list of a one-field struct (`alarm_code`, `limit_code`) carries the bare values.

## Framing
```
body = version u8 | kind u8 | msg_id u8 | seq u16 LE | payload (0–%(max_payload)d bytes) | crc u16 BE
wire = COBS(body) 0x00
```
- **COBS** (Consistent Overhead Byte Stuffing) removes every 0x00 from the body, so 0x00 only ever
  ends a frame. A receiver that loses sync waits for the next 0x00: garbage costs at most the
  frame it touches. A final block of 254 non-zero bytes gets no extra 0x01 code byte.
- **CRC**: CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR)
  over version..payload, appended big-endian. The CRC of `123456789` is 0x29B1. The CRC over a
  whole body including its CRC is 0 exactly when the frame is intact.
- **Sizes**: payload ≤ %(max_payload)d bytes, body ≤ %(max_body)d bytes, encoded frame ≤ %(max_encoded)d bytes
  before the delimiter. A receiver drops anything longer up to the next 0x00 and holds no more.
- **Delimiter first**: send one 0x00 before the first frame after opening the line or after any
  doubt (a timeout, a reconnect): it ends whatever partial frame the receiver holds, so noise
  glued to your frame cannot take it down with it.
- A frame with a bad CRC, bad COBS, an unknown kind or under 7 body bytes is dropped silently
  (it cannot be trusted enough to answer); the sender's timeout recovers it.
- **version** is %(version)d. A request with another version is answered NAK `BAD_VERSION`.

Example — the GET_STATUS request with seq 0x0104:
```
body:  %(status_body)s
wire:  %(status_wire)s
```

## Frame kinds
| kind | name | meaning |
|---|---|---|
%(kinds)s

## Requests, responses and sequence numbers
- Every REQUEST is answered by exactly one RESPONSE or NAK carrying the same `msg_id` and `seq`.
  The host picks `seq` (0–65535, wrapping); use a new one for every new request.
- The pump sends no RESPONSE for ACK frames.
- Before a request is executed the pump checks, in this order: version, known request, test mode
  (test-control messages), session role, then the payload (length, code sets, ranges). The first
  failing check is the NAK.

## Exactly once, and retransmission rules for hosts
A state-changing request (marked ✔ below) repeated with the same `seq` and the same bytes is
answered from a cache of the last %(dedup)d such answers (RESPONSE or NAK, byte for byte) and is
**never executed twice**. The same `seq` with different content is NAK `SEQUENCE_REUSED`.
Read-only requests are simply executed again.

Hosts should:
1. wait %(timeout)d ms for the answer: a maximum-size frame takes about 22 ms each way at
   %(baud)d baud, which leaves room for the pump's work and USB latency; scale it for slower lines;
2. on timeout, send a 0x00 and then **the identical frame again, same seq**, at most %(retries)d times;
3. after that, report the link as failed. Never re-send a state-changing command under a new
   seq to "try again": if the first one executed and only its answer was lost, that delivers a
   second bolus. Read the status or the event log to learn what happened instead;
4. after a reconnect, send HELLO with the **same** `host_session_id` to reach your cached answers;
   under a new id your seqs start from scratch. The cache keeps each session's answers (the
   oldest of any session leaves first), so another host's HELLO in between loses you none.

## Events
The pump sends EVENT frames unprompted (alarms). Their `seq` is the pump's own event counter.
The host answers each with an ACK frame: same `msg_id` and `seq`, empty payload. An event not
ACKed within %(event_retry)d ms is re-sent with the **same seq**, up to %(event_retries)d times; a
host must ACK duplicates too and de-duplicate by `seq`.

Separately from link-level ACKs, an alarm that is not acknowledged with ACK_ALARM is
**re-announced** at its priority's interval: a new event (new seq) for the same `instance` with
`announce_count` one higher. A re-announcement is the same alarm, not a new one.

## Sessions, roles and authentication
A session starts with role NONE (after HELLO or LOGOUT). Roles: PATIENT (status, alarms list,
PTM bolus) and CLINICIAN (everything). Test-control messages need no role but only work when the
pump runs in test mode (HELLO says so); otherwise they are NAK `NOT_IN_TEST_MODE`.

Authentication is challenge–response:
1. `AUTH_CHALLENGE(role)` → a 16-byte single-use `nonce`, valid for %(nonce_s)d s;
2. `AUTH_RESPONSE(role, mac)` with `mac = HMAC-SHA256(key, nonce ‖ serial ‖ role)` where `serial`
   is the ASCII serial from HELLO and `role` one byte.

The mock's per-device role keys are `SHA-256("pumpmock-v1|" ‖ role name ‖ "|" ‖ serial)` with the
role name `patient` or `clinician` in ASCII — deliberately derivable, because this is a mock.
A forged, replayed (nonce already used), expired or wrong-role response is NAK `UNAUTHORIZED`;
%(auth_failures)d consecutive failures lock authentication out for %(auth_lockout)d s (NAK `AUTH_LOCKED_OUT`).
AUTH_RESPONSE and LOGOUT are state-changing: a retransmission with the same seq gets the cached
answer, so a lost answer neither burns the nonce nor counts as a failure.

## Identity: how a host knows it talks to the mock
HELLO's response carries magic `%(magic)s`, the banner `%(banner)s`, the protocol version and
whether test control is enabled. The pumpmock harness refuses any peer that does not give exactly
this answer before it sends anything else.
"""


def _code_table(code_set):
    rows = ["### `%s`" % code_set.name, "", code_set.doc, "", "| value | name | meaning |", "|---|---|---|"]
    rows += ["| %d | `%s` | %s |" % (code.value, code.name, code.doc) for code in code_set.codes]
    return rows + [""]


def render():
    status_body = encode_frame(0, 0x10, 0x0104)
    from . import cobs
    lines = [PROSE_INTRO % {
        "version": c.PROTOCOL_VERSION, "baud": c.DEFAULT_BAUD, "max_payload": c.MAX_PAYLOAD,
        "max_body": c.MAX_BODY, "max_encoded": c.MAX_ENCODED, "dedup": c.DEDUP_CACHE_SIZE,
        "timeout": c.RESPONSE_TIMEOUT_MS, "retries": c.MAX_RETRIES, "event_retry": c.EVENT_RETRY_MS,
        "event_retries": c.EVENT_MAX_RETRIES, "nonce_s": c.PUMP["nonce_lifetime_s"],
        "auth_failures": c.PUMP["auth_max_failures"], "auth_lockout": c.PUMP["auth_lockout_s"],
        "magic": c.MAGIC.decode(), "banner": c.BANNER,
        "status_body": _hex(cobs.decode(status_body[:-1])), "status_wire": _hex(status_body),
        "kinds": "\n".join("| %d | %s | %s |" % (k.value, k.name, k.doc) for k in c.FRAME_KIND.codes),
    }]
    lines += ["## Message summary", "",
              "| id | name | min. role | state-changing | test mode only | purpose |",
              "|---|---|---|---|---|---|"]
    for msg in c.MESSAGES:
        lines.append("| 0x%02x | [%s](#0x%02x-%s) | %s | %s | %s | %s |" % (
            msg.id, msg.name, msg.id, msg.name.lower().replace("_", "-"),
            "—" if msg.event else msg.role, "✔" if msg.state_changing else "",
            "✔" if msg.test_control else "", msg.doc.split(". ")[0].rstrip(".")))
    lines += ["", "## Messages", ""]
    for msg in c.MESSAGES:
        lines += ["### 0x%02x %s" % (msg.id, msg.name), "", msg.doc, ""]
        if msg.event:
            lines += ["Direction: pump → host, frame kind EVENT. Payload:", ""]
            lines += _field_table(msg.request)
            lines += ["Example:", ""] + _example(EXAMPLES[msg.name][0], 0x0042)
            continue
        flags = ["Minimum role %s" % msg.role]
        if msg.state_changing:
            flags.append("state-changing (exactly once)")
        if msg.test_control:
            flags.append("test mode only")
        lines += ["%s." % "; ".join(flags), "", "**Request** (host → pump):", ""]
        lines += _field_table(msg.request)
        lines += ["**Response** (pump → host):", ""]
        lines += _field_table(msg.response)
        request, response = EXAMPLES[msg.name]
        lines += ["Example request and response:", ""] + _example(request, 0x0042) + _example(response, 0x0042)
    lines += ["## Structs", ""]
    for name, fields in c.STRUCTS.items():
        lines += ["### `%s`" % name, ""] + _field_table(fields)
    lines += ["## Errors (NAK payload)", "", "Every NAK carries the same payload:", ""]
    lines += _field_table(c.ERROR_LAYOUT)
    lines += ["| code | name | meaning of subject, limit_value, actual_value | example NAK (wire) |",
              "|---|---|---|---|"]
    for code in c.ERROR.codes:
        nak = [n for e, n in NAK_EXAMPLES.items() if e == code.value][0]
        lines.append("| %d | `%s` | %s | `%s` |" % (code.value, code.name, code.doc, _hex(encode_message(nak, 0x42))))
    lines += ["", "## Alarms", "",
              "| code | name | priority | latching | re-announced every | meaning |", "|---|---|---|---|---|---|"]
    for value, name, priority, latching, doc in c.ALARMS:
        lines.append("| %d | `%s` | %s | %s | %d s | %s |" % (value, name, priority, "yes" if latching else "no",
                                                            c.REANNOUNCE_S[priority], doc))
    lines += ["", "A latching alarm stays in the list (state LATCHED) after its cause ends, until ACK_ALARM.",
              "A non-latching alarm leaves the list when its cause ends.", "",
              "## Drug library", "",
              "Integers in µg/mL and µg/day. Fictional defaults modelled on published guidance; never clinical advice.",
              "Ziconotide's 19.2 µg/day is floored to 19 µg: the wire carries whole µg.", "",
              "| code | drug | clinicians think in | max concentration µg/mL | soft max µg/day | hard max µg/day |",
              "|---|---|---|---|---|---|"]
    for value, name, unit, conc, soft, hard in c.DRUGS:
        lines.append("| %d | %s | %s | %d | %d | %d |" % (value, name, "µg" if unit == "ug" else unit, conc, soft, hard))
    lines += ["", "## Pump limits and defaults", "", "| name | value |", "|---|---|"]
    lines += ["| `%s` | %d |" % (key, value) for key, value in c.PUMP.items()]
    lines += ["", "## Codes", ""]
    for code_set in c.CODE_SETS.values():
        if code_set.name not in ("error", "alarm"):
            lines += _code_table(code_set)
    lines += ["## Golden vectors", "",
              "`protocol/vectors/*.json` hold exact bytes and their meaning for every message in both",
              "directions, every error code and a set of malformed inputs with the outcome a receiver must",
              "produce. The host codec and the firmware (on CPython and on MicroPython) are tested against them.",
              ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Generate docs/PROTOCOL.md from the protocol catalog.")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--print", action="store_true", help="write the document to stdout")
    group.add_argument("--check", action="store_true", help="exit 1 if docs/PROTOCOL.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.print:
        try:
            sys.stdout.write(text)
        except BrokenPipeError:  # `| head` closed the pipe: not an error
            pass
        return 0
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print("docs/PROTOCOL.md is out of date: run python -m pumpmock.protocol.document", file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text)
    print("wrote %s" % TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
