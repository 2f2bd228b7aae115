"""MicroPython (WebAssembly) benchmark: GET_STATUS requests/s inside MicroPython and through the runner's stdio, and startup time.

Target (issue 3): >= 1,000 GET_STATUS requests/s through the core under MicroPython WASM.
Measured three ways: Pump.receive in a loop inside MicroPython (the interpreter's own speed);
the same through StdioShell.step (what the runner calls per chunk: hex in and out); and end to
end, a CPython host writing frames to `node firmware_mock/wasm_runner.mjs` and reading the
answers, one at a time (ping-pong) and in batches of 50 (pipelined). Startup is the time from
spawning the runner to the first HELLO answer (median of several), next to a bare `node -e ""`.

    python -m bench.perf_micropython [--quick]
"""

import argparse
import json
import os
import pathlib
import select
import shutil
import statistics
import subprocess
import tempfile
import time

from bench.common import write
from pumpmock.harness.micropython_cmd import micropython_mjs
from pumpmock.protocol import FrameDecoder
from pumpmock.protocol import messages as m
from pumpmock.protocol.auth import auth_mac, role_key
from pumpmock.protocol.codes import Role
from pumpmock.protocol.framing import NAK, RESPONSE

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNNER = ROOT / "firmware_mock" / "wasm_runner.mjs"
MICROPYTHON = micropython_mjs()
SERIAL = "PM-000001"
TARGET_PER_S = 1_000
READ_TIMEOUT_S = 10

# Runs inside MicroPython (the runner's --run mode); prints one JSON line.
INSIDE = r'''
import json, sys, time
from firmware_mock import spec
from firmware_mock.auth import default_role_key, expected_mac
from firmware_mock.core import Pump
from firmware_mock.framing import FrameReader, encode_frame
from firmware_mock.stdio_shell import StdioShell, _hex

count = int(sys.argv[1])

def login(pump):
    role = spec.ROLE_PATIENT
    out = pump.receive(encode_frame(spec.K_REQUEST, spec.ID_AUTH_CHALLENGE, 1, bytes([role])), 0)
    nonce = FrameReader().feed(out)[0][4]
    mac = expected_mac(default_role_key(pump.serial, role), nonce, pump.serial, role)
    out = pump.receive(encode_frame(spec.K_REQUEST, spec.ID_AUTH_RESPONSE, 2, bytes([role]) + mac), 0)
    assert FrameReader().feed(out)[0][1] == spec.K_RESPONSE

frames = [encode_frame(spec.K_REQUEST, spec.ID_GET_STATUS, 16 + i, b"") for i in range(256)]
results = {}

pump = Pump(serial="PM-000001", test_mode=True)
login(pump)
start = time.ticks_us()
for i in range(count):
    out = pump.receive(frames[i & 255], i)
elapsed_us = time.ticks_diff(time.ticks_us(), start)
assert FrameReader().feed(out)[0][1] == spec.K_RESPONSE
results["pump_receive_per_s"] = count * 1000000 // elapsed_us

shell = StdioShell("PM-000001", True, 0, None)
login(shell.pump)
hexes = [_hex(frame) for frame in frames]
start = time.ticks_us()
for i in range(count):
    answer = shell.step(hexes[i & 255], i)
elapsed_us = time.ticks_diff(time.ticks_us(), start)
results["shell_step_per_s"] = count * 1000000 // elapsed_us
print(json.dumps(results))
'''


def inside_micropython(count):
    with tempfile.TemporaryDirectory() as scratch:
        script = pathlib.Path(scratch) / "bench_inside.py"
        script.write_text(INSIDE)
        done = subprocess.run(["node", str(RUNNER), "--run", str(script), str(count)], capture_output=True,
                              text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError("the MicroPython benchmark failed:\n%s%s" % (done.stdout, done.stderr))
    return json.loads(done.stdout.strip().splitlines()[-1])


class Runner:
    """The runner as a child process; reads have a deadline."""

    def __init__(self):
        self.started = time.perf_counter()
        self.process = subprocess.Popen(["node", str(RUNNER), "--test-mode"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.decoder = FrameDecoder()
        self.seq = 0

    def send(self, messages):
        data = b""
        for message in messages:
            self.seq = (self.seq + 1) & 0xFFFF
            data += m.encode_message(message, self.seq)
        os.write(self.process.stdin.fileno(), data)

    def answers(self, count):
        got = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while len(got) < count:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.process.stdout], [], [], max(left, 0))
            if not ready:
                raise RuntimeError("the runner did not answer within %d s" % READ_TIMEOUT_S)
            data = os.read(self.process.stdout.fileno(), 65536)
            if not data:
                raise RuntimeError("the runner exited: %s" % self.process.stderr.read().decode())
            got += [f for f in self.decoder.feed(data) if not isinstance(f, Exception) and f.kind in (RESPONSE, NAK)]
        return got

    def call(self, message):
        self.send([message])
        [answer] = self.answers(1)
        return m.decode_message(answer)

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)
        stderr = self.process.stderr.read().decode()
        self.process.stdout.close()
        self.process.stderr.close()
        return stderr


def startup(runs):
    """(median s from spawn to the first HELLO answer, median 'ready in' ms the runner reports)."""
    to_answer, ready_ms = [], []
    for _ in range(runs):
        runner = Runner()
        runner.call(m.HelloRequest(1, 1))
        to_answer.append(time.perf_counter() - runner.started)
        stderr = runner.close()
        if "ready in " in stderr:
            ready_ms.append(int(stderr.split("ready in ")[1].split(" ms")[0]))
    return statistics.median(to_answer), (statistics.median(ready_ms) if ready_ms else None)


def bare_node_startup(runs):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(["node", "-e", ""], check=True, timeout=60)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def end_to_end(count, batch):
    """GET_STATUS answers/s through the runner's stdin/stdout, `batch` requests in flight."""
    runner = Runner()
    try:
        runner.call(m.HelloRequest(1, 1))
        nonce = runner.call(m.AuthChallengeRequest(Role.PATIENT)).nonce
        runner.call(m.AuthResponseRequest(Role.PATIENT, auth_mac(role_key(SERIAL, Role.PATIENT), nonce, SERIAL,
                                                                 Role.PATIENT)))
        for _ in range(20):  # warm up
            runner.call(m.GetStatusRequest())
        done = 0
        started = time.perf_counter()
        while done < count:
            runner.send([m.GetStatusRequest()] * batch)
            answers = runner.answers(batch)
            assert all(a.kind == RESPONSE for a in answers), answers[:3]
            done += batch
        return done / (time.perf_counter() - started)
    finally:
        runner.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and startup runs (CI smoke run)")
    args = parser.parse_args(argv)
    if shutil.which("node") is None or not MICROPYTHON.exists():
        write("perf_micropython", {"skipped": "needs node and `npm ci` in %s" % ROOT})
        return 0
    count = 2_000 if args.quick else 20_000
    runs = 3 if args.quick else 7
    results = {}
    inside = inside_micropython(count)
    results["inside_pump_receive_per_s"] = inside["pump_receive_per_s"]
    results["inside_shell_step_per_s"] = inside["shell_step_per_s"]
    results["end_to_end_ping_pong_per_s"] = end_to_end(count // 4, 1)
    results["end_to_end_pipelined_50_per_s"] = end_to_end(count // 2, 50)
    to_answer_s, ready_ms = startup(runs)
    results["startup_to_first_answer_ms"] = round(to_answer_s * 1000, 1)
    results["startup_runner_ready_ms"] = ready_ms
    results["startup_bare_node_ms"] = round(bare_node_startup(runs) * 1000, 1)
    results["load_average_1min"] = round(os.getloadavg()[0], 2)  # a busy machine slows the interpreter most
    results["targets"] = {
        "inside_ge_1000_per_s": results["inside_pump_receive_per_s"] >= TARGET_PER_S,
        "end_to_end_ping_pong_ge_1000_per_s": results["end_to_end_ping_pong_per_s"] >= TARGET_PER_S,
    }
    write("perf_micropython", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
