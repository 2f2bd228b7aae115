"""Every golden vector through the FIRMWARE's framing and codec, run under MicroPython (or CPython).

    node firmware_mock/wasm_runner.mjs --vectors                 # all of protocol/vectors/*.json
    node firmware_mock/wasm_runner.mjs --run tests/mpy/check_vectors.py protocol/vectors/messages.json
    python tests/mpy/check_vectors.py protocol/vectors/*.json    # the same checks on CPython

Frame entries: the wire decodes (whole, and fed one byte at a time) to exactly the entry's
frame; the frame encodes back to the wire; the payload decodes to the entry's fields and the
fields encode back to the payload. Malformed entries: the reader yields exactly the outcome's
frames and counts its errors as bad frames; where the entry says what the pump answers
(pump_nak), a pump (logged in as clinician) answers exactly that NAK, or nothing at all.
Prints one line per failure and a summary; exit status 1 when anything failed.
"""

import json
import sys

from firmware_mock import codec, spec
from firmware_mock.core import Pump
from firmware_mock.errors import Refusal
from firmware_mock.framing import FrameReader, encode_frame

from hostside import Checks, auth_mac, read_text, tohex, unhex

KINDS = {"REQUEST": spec.K_REQUEST, "RESPONSE": spec.K_RESPONSE, "EVENT": spec.K_EVENT,
         "ACK": spec.K_ACK, "NAK": spec.K_NAK}
SERIAL = "PM-000001"


def jsonable(value):
    """Firmware codec values as the vectors write them: bytes as hex text."""
    if isinstance(value, (bytes, bytearray)):
        return tohex(value)
    if isinstance(value, dict):
        return dict((key, jsonable(item)) for key, item in value.items())
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    return value


def from_fields(layout, fields):
    """The vectors' JSON fields as firmware codec values, walking the spec layout."""
    values = {}
    for name, kind, arg, _low, _high, _codes in layout:
        value = fields[name]
        if kind == "b":
            value = unhex(value)
        elif kind == "S":
            value = from_fields(arg, value)
        elif kind == "L":
            items, _max_count, bare = arg
            value = [item for item in value] if bare else [from_fields(items, item) for item in value]
        values[name] = value
    return values


def layout_of(kind, msg_id):
    if kind == spec.K_REQUEST:
        return spec.REQUEST[msg_id]
    if kind == spec.K_RESPONSE:
        return spec.RESPONSE[msg_id]
    if kind == spec.K_EVENT:
        return spec.EVENT[msg_id]
    return spec.ERROR_LAYOUT


def check_frame_entry(checks, entry):
    name = entry["name"]
    wire = unhex(entry["wire"])
    payload = unhex(entry["payload"])
    kind = KINDS[entry["kind"]]
    wanted = (spec.PROTOCOL_VERSION, kind, entry["msg_id"], entry["seq"], payload)

    reader = FrameReader()
    frames = reader.feed(wire)
    checks.equal([tuple(f) for f in frames], [wanted], name, "frames read from the wire")
    checks.equal(reader.frames_bad, 0, name, "bad frames")
    trickled = FrameReader()
    frames = []
    for i in range(len(wire)):
        frames += trickled.feed(wire[i:i + 1])
    checks.equal([tuple(f) for f in frames], [wanted], name, "frames read a byte at a time")
    checks.equal(tohex(encode_frame(kind, entry["msg_id"], entry["seq"], payload)), entry["wire"], name,
                 "wire encoded from the frame")

    fields = entry["fields"]
    if kind == spec.K_ACK:
        checks.equal(payload, b"", name, "ACK payload")
        checks.equal(fields, {"msg_id": entry["msg_id"]}, name, "ACK fields")
        return
    if kind == spec.K_NAK:
        fields = dict((key, value) for key, value in fields.items() if key != "msg_id")
        checks.equal(entry["fields"].get("msg_id"), entry["msg_id"], name, "NAK msg_id")
    layout = layout_of(kind, entry["msg_id"])
    try:
        if kind == spec.K_REQUEST:
            decoded = codec.decode_request(layout, payload)  # valid requests pass the pump's checks
        else:
            decoded = codec.decode(layout, payload)
    except Refusal as refusal:
        checks.check(False, name, "the firmware refused the payload: code %d subject %d limit %d actual %d"
                     % (refusal.code, refusal.subject, refusal.limit_value, refusal.actual_value))
        return
    checks.equal(jsonable(decoded), fields, name, "decoded fields")
    checks.equal(tohex(codec.encode(layout, from_fields(layout, fields))), entry["payload"], name,
                 "payload encoded from the fields")


def clinician_pump():
    """A pump in test mode with a clinician logged in (so a NAK is about the frame, not the role)."""
    pump = Pump(serial=SERIAL, test_mode=True, seed=0)
    now = 1000
    challenge = encode_frame(spec.K_REQUEST, spec.ID_AUTH_CHALLENGE, 1, bytes([spec.ROLE_CLINICIAN]))
    frames = FrameReader().feed(pump.receive(challenge, now))
    nonce = frames[0][4]
    mac = auth_mac(SERIAL, spec.ROLE_CLINICIAN, b"clinician", nonce)
    response = encode_frame(spec.K_REQUEST, spec.ID_AUTH_RESPONSE, 2, bytes([spec.ROLE_CLINICIAN]) + mac)
    frames = FrameReader().feed(pump.receive(response, now + 10))
    return pump, frames[0][1] == spec.K_RESPONSE


def check_stream_entry(checks, entry):
    name = entry["name"]
    wire = unhex(entry["wire"])
    wanted = []
    errors = 0
    for outcome in entry["outcome"]:
        if "error" in outcome:
            errors += 1
        else:
            frame = outcome["frame"]
            wanted.append((frame["version"], KINDS[frame["kind"]], frame["msg_id"], frame["seq"],
                           unhex(frame["payload"])))
    reader = FrameReader()
    frames = reader.feed(wire)
    checks.equal([tuple(f) for f in frames], wanted, name, "frames read from the wire")
    checks.equal(reader.frames_bad, errors, name, "bad frames counted")

    if "pump_nak" not in entry:
        return
    if entry["pump_nak"] is None:
        pump = Pump(serial=SERIAL, test_mode=True, seed=0)
        checks.equal(tohex(pump.receive(wire, 1000)), "", name, "the pump's answer (it must stay silent)")
        checks.equal(pump.reader.frames_bad, errors, name, "the pump's bad frame count")
        return
    pump, logged_in = clinician_pump()
    if not checks.check(logged_in, name, "could not log in as clinician"):
        return
    answers = FrameReader().feed(pump.receive(wire, 2000))
    code = getattr(spec, "E_" + entry["pump_nak"])
    got = [(f[1], f[4][0] if f[4] else None) for f in answers]
    checks.equal(got, [(spec.K_NAK, code)], name, "(kind, NAK code) of the pump's answers")


def main(paths):
    if not paths:
        print("usage: check_vectors.py VECTOR_FILE.json ...")
        return 2
    checks = Checks("golden vectors through firmware_mock")
    entries = 0
    for path in paths:
        for entry in json.loads(read_text(path))["vectors"]:
            entries += 1
            if "outcome" in entry:
                check_stream_entry(checks, entry)
            else:
                check_frame_entry(checks, entry)
    print("%d vector entries from %d files" % (entries, len(paths)))
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
