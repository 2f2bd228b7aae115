"""firmware_mock runs unchanged on MicroPython and answers byte for byte what CPython answers.

Two checks: a static one (no module, syntax or float the board lacks) over every core
module, and a differential run: the same input bytes at the same virtual times go through
Pump under CPython and under the MicroPython WebAssembly port (Node.js); the outputs must be
identical. The second is skipped when node or the npm package is missing.
"""

import ast
import json
import pathlib
import shutil
import subprocess

import pytest

from pumpmock.harness.micropython_cmd import micropython_mjs
from pumpmock.protocol import FrameDecoder
from pumpmock.protocol import messages as m
from pumpmock.protocol.framing import RESPONSE
from pumpmock.protocol.auth import auth_mac, role_key
from pumpmock.protocol.codes import BolusKind, Drug, Fault, Role

from pumpmock.firmware_mock.core import Pump
from pumpmock.firmware_mock.storage import FileStorage

from test_firmware_support import DAY_MS, SERIAL, flex

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORE = sorted(p for p in (ROOT / "firmware_mock").glob("*.py"))
MICROPYTHON = micropython_mjs()
ALLOWED_IMPORTS = {"struct", "hashlib", "binascii", "os", "json", "time", "micropython", "sys", "random", "gc"}


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_core_module_uses_only_what_micropython_has(path):
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), "%s needs a docstring saying what it is for" % path.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name in ALLOWED_IMPORTS, "%s imports %s" % (path.name, alias.name)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 1 or node.module in ALLOWED_IMPORTS, \
                "%s imports from %s" % (path.name, node.module)
        elif isinstance(node, ast.Constant):
            assert not isinstance(node.value, float), "%s has a float literal" % path.name
        elif isinstance(node, ast.Slice):
            assert node.step is None, "%s uses a stepped slice" % path.name
        elif isinstance(node, ast.JoinedStr):
            raise AssertionError("%s uses an f-string; use %% formatting" % path.name)
        elif isinstance(node, ast.BinOp):
            assert not isinstance(node.op, ast.Div), "%s uses true division" % path.name


def run_cpython(steps, directory):
    pump = Pump(serial=SERIAL, test_mode=True, seed=3, storage=FileStorage(directory))
    out = [pump.receive(data, now).hex() if data else pump.poll(now).hex() for now, data in steps]
    reborn = Pump(serial=SERIAL, test_mode=True, seed=3, storage=FileStorage(directory))
    return out + [reborn.receive(AFTER_REBOOT, 5).hex()]


RUNNER = r"""
import { loadMicroPython } from %(mjs)s;
import fs from "fs";
let out = "";
const mp = await loadMicroPython({stdout: (s) => { out += s + "\n"; }, linebuffer: true,
                                  heapsize: 32 * 1024 * 1024});
mp.FS.mkdir("/firmware_mock");
for (const name of %(files)s) {
  mp.FS.writeFile("/firmware_mock/" + name, fs.readFileSync(%(dir)s + "/" + name));
}
mp.runPython(fs.readFileSync(process.argv[2], "utf8"));
process.stdout.write(out);
"""

PY_SIDE = r"""
import sys, json, binascii
sys.path.insert(0, "/")
import os
from firmware_mock.core import Pump
from firmware_mock.storage import FileStorage
os.mkdir("/nv")
steps = json.loads(%(steps)r)
pump = Pump(serial=%(serial)r, test_mode=True, seed=3, storage=FileStorage("/nv"))
for now, data in steps:
    data = bytes.fromhex(data)
    out = pump.receive(data, now) if data else pump.poll(now)
    print(binascii.hexlify(out).decode())  # not bytes.hex(): b"".hex() is b"" on MicroPython 1.27
reborn = Pump(serial=%(serial)r, test_mode=True, seed=3, storage=FileStorage("/nv"))
print(binascii.hexlify(reborn.receive(bytes.fromhex(%(after)r), 5)).decode())
"""


def run_micropython(steps, tmp_path):
    files = [p.name for p in CORE]
    runner = tmp_path / "runner.mjs"
    runner.write_text(RUNNER % {"mjs": json.dumps(str(MICROPYTHON)), "files": json.dumps(files),
                                "dir": json.dumps(str(ROOT / "firmware_mock"))})
    program = tmp_path / "program.py"
    program.write_text(PY_SIDE % {"steps": json.dumps([(now, data.hex()) for now, data in steps]),
                                  "serial": SERIAL, "after": AFTER_REBOOT.hex()})
    done = subprocess.run(["node", str(runner), str(program)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert not any("Traceback" in line or "Error" in line for line in lines), done.stdout
    return lines


AFTER_REBOOT = m.encode_message(m.TcGetStatusRequest(), 1) + m.encode_message(m.TcReadCountersRequest(), 2)


def session_steps():
    """A whole session: auth, refill, flex program, boluses, alarms, warps, power loss, log reads."""
    nonce_pump = Pump(serial=SERIAL, test_mode=True, seed=3)  # nonces are deterministic: learn them here
    steps = []
    seq = [0x10]

    def frame(message, now_ms):
        seq[0] += 1
        return m.encode_message(message, seq[0])

    def send(message, now_ms):
        data = frame(message, now_ms)
        steps.append((now_ms, data))
        return nonce_pump.receive(data, now_ms)

    def authenticate(role, now_ms):
        out = send(m.AuthChallengeRequest(role), now_ms)
        [answer] = [f for f in FrameDecoder().feed(out) if f.kind == RESPONSE]
        nonce = m.decode_message(answer).nonce
        send(m.AuthResponseRequest(role, auth_mac(role_key(SERIAL, role), nonce, SERIAL, role)), now_ms)

    send(m.HelloRequest(7, 1), 5)
    authenticate(Role.CLINICIAN, 10)
    send(m.RefillRequest(Drug.MORPHINE, 20_000, 20_000), 20)
    send(m.ProgramPrescriptionRequest((), flex([(0, 2_000), (480, 4_000), (1_200, 2_000)])), 30)
    send(m.ClinicianBolusRequest(BolusKind.BRIDGE, 700, 900), 40)
    send(m.TcInjectFaultRequest(Fault.MOTOR_STALL), 1_000)
    steps.append((61_500, b""))
    send(m.TcClearFaultRequest(Fault.MOTOR_STALL), 62_000)
    send(m.GetAlarmsRequest(), 62_500)
    send(m.AckAlarmRequest(1, 1), 63_000)
    send(m.TcWarpClockRequest(3 * 86_400), 64_000)
    send(m.TcSetReservoirRequest(2_100), 65_000)
    steps.append((DAY_MS, b""))
    authenticate(Role.PATIENT, DAY_MS + 10)
    send(m.PtmBolusRequest(), DAY_MS + 20)
    send(m.PtmBolusRequest(), DAY_MS + 30)
    send(m.GetStatusRequest(), DAY_MS + 40)
    send(m.TcPowerLossRequest(300), DAY_MS + 50)
    authenticate(Role.CLINICIAN, DAY_MS + 60)
    send(m.SuspendRequest(), DAY_MS + 70)
    send(m.TcPowerLossRequest(0), DAY_MS + 80)
    authenticate(Role.CLINICIAN, DAY_MS + 90)
    send(m.ReadLogRequest(0, 12), DAY_MS + 100)
    send(m.ReadLogRequest(12, 12), DAY_MS + 110)
    send(m.TcReadCountersRequest(), DAY_MS + 120)
    send(m.TcGetStatusRequest(), DAY_MS + 130)
    steps.append((DAY_MS + 200, b"\x13\x37garbage\x00" + frame(m.TcGetPrescriptionRequest(), 0)))
    return steps


@pytest.mark.skipif(shutil.which("node") is None or not MICROPYTHON.exists(),
                    reason="needs node and the MicroPython WebAssembly package (npm install)")
def test_micropython_answers_exactly_what_cpython_answers(tmp_path):
    steps = session_steps()
    (tmp_path / "nv").mkdir()
    expected = run_cpython(steps, str(tmp_path / "nv"))
    assert len([line for line in expected if line]) > 20
    assert run_micropython(steps, tmp_path) == expected
