"""MicroPython (WebAssembly) benchmark: GET_STATUS requests/s inside MicroPython and through the runner's stdio, and startup time.

Target (issue 3): >= 1,000 GET_STATUS requests/s through the core under MicroPython WASM.
Measured three ways: Pump.receive in a loop inside MicroPython (the interpreter's own speed);
the same through StdioShell.step (what the runner calls per chunk: hex in and out); and end to
end, a CPython host writing frames to `node firmware_mock/wasm_runner.mjs` and reading the
answers, one at a time (ping-pong) and in batches of 50 (pipelined). Startup is the time from
spawning the runner to the first HELLO answer (median of several), next to a bare `node -e ""`.
Worst cases (issue 16): the single requests that do the most work, each timed alone inside
MicroPython (the longest of a few runs): the longest warp on an idle, a running and a
longest-delivering pump, a log page and a TC_POWER_LOSS with a full log, a save with a full
exactly-once cache; a board stalls its loop for this long (scale by the board's speed).

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


# Runs inside MicroPython: each scenario builds a pump, feeds its setup frames, then times one
# frame's receive(). SCENARIOS is filled in by worst_case_requests(); prints one JSON line.
WORST_CASES = r'''
import binascii, json, time
from firmware_mock import spec
from firmware_mock.auth import default_role_key, expected_mac
from firmware_mock.core import Pump
from firmware_mock.framing import FrameReader, encode_frame

SCENARIOS = %(scenarios)r
RUNS = %(runs)d

def login(pump, role, now, seq):
    out = pump.receive(encode_frame(spec.K_REQUEST, spec.ID_AUTH_CHALLENGE, seq, bytes([role])), now)
    nonce = FrameReader().feed(out)[-1][4]
    mac = expected_mac(default_role_key(pump.serial, role), nonce, pump.serial, role)
    out = pump.receive(encode_frame(spec.K_REQUEST, spec.ID_AUTH_RESPONSE, seq + 1, bytes([role]) + mac), now)
    assert FrameReader().feed(out)[-1][1] == spec.K_RESPONSE

results = {}
for label, capacity_ul, setup, timed in SCENARIOS:
    worst = 0
    for _run in range(RUNS):
        pump = Pump(serial="PM-000001", test_mode=True, seed=1, capacity_ul=capacity_ul)
        now = 0
        for step in setup:
            now += 10
            if step.startswith("login:"):
                login(pump, int(step[6:]), now, 0x1000 + now)
            else:
                pump.receive(binascii.unhexlify(step), now)
        frame = binascii.unhexlify(timed)
        now += 10
        start = time.ticks_us()
        out = pump.receive(frame, now)
        elapsed = time.ticks_diff(time.ticks_us(), start)
        kinds = [f[1] for f in FrameReader().feed(out)]
        assert spec.K_RESPONSE in kinds, (label, kinds)
        if elapsed > worst:
            worst = elapsed
    results[label] = worst
print(json.dumps(results))
'''


def _frames(messages, first_seq):
    return [m.encode_message(message, first_seq + i).hex() for i, message in enumerate(messages)]


def worst_case_scenarios():
    """[(label, pump capacity µL, setup frames as hex or "login:ROLE", timed frame hex)]."""
    from pumpmock.protocol.codes import Drug, TherapyMode
    rx = m.Prescription(drug=Drug.MORPHINE, concentration_ug_per_ml=20_000, mode=TherapyMode.SIMPLE_CONTINUOUS,
                        daily_dose_ug=3_000, ptm_dose_ug=200, ptm_lockout_min=120, ptm_max_per_24h=3,
                        max_daily_dose_ug=5_000, refill_interval_days=30)
    slow = rx._replace(daily_dose_ug=48 * 20, refill_interval_days=1)  # the lowest volume rate: 48 µL/day
    hello = _frames([m.HelloRequest(1, 1)], 0x10)
    clinician = "login:%d" % Role.CLINICIAN
    running = hello + [clinician] + _frames([m.RefillRequest(Drug.MORPHINE, 20_000, 20_000),
                                             m.ProgramPrescriptionRequest((), rx)], 0x20)
    longest = hello + [clinician] + _frames([m.RefillRequest(Drug.MORPHINE, 20_000, 200_000),
                                             m.ProgramPrescriptionRequest((), slow)], 0x20)
    full_log = longest + _frames([m.TcWarpClockRequest(0xFFFFFFFF)], 0x30)  # 2,190 delivering days
    full_cache = running + _frames([m.ProgramPrescriptionRequest((), rx)] * 40, 0x40)  # new seqs: 32 kept
    (warp,) = _frames([m.TcWarpClockRequest(0xFFFFFFFF)], 0x100)
    return [
        ("warp_max_idle_pump", 20_000, hello, warp),
        ("warp_max_running_pump", 20_000, running, warp),
        ("warp_max_200ml_lowest_rate", 200_000, longest, warp),
        ("read_log_page_of_12_full_log", 200_000, full_log + [clinician],
         _frames([m.ReadLogRequest(1_000, 12)], 0x100)[0]),
        ("power_loss_full_log", 200_000, full_log, _frames([m.TcPowerLossRequest(0)], 0x100)[0]),
        ("program_with_full_cache", 20_000, full_cache, _frames([m.ProgramPrescriptionRequest((), rx)], 0x100)[0]),
        ("get_status", 20_000, running, _frames([m.GetStatusRequest()], 0x100)[0]),
    ]


def worst_case_requests(runs):
    """{label: worst µs of one receive() of that request inside MicroPython}."""
    script_text = WORST_CASES % {"scenarios": worst_case_scenarios(), "runs": runs}
    with tempfile.TemporaryDirectory() as scratch:
        script = pathlib.Path(scratch) / "bench_worst.py"
        script.write_text(script_text)
        done = subprocess.run(["node", str(RUNNER), "--run", str(script)], capture_output=True, text=True,
                              timeout=600)
    if done.returncode != 0:
        raise RuntimeError("the MicroPython worst-case benchmark failed:\n%s%s" % (done.stdout, done.stderr))
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    worst = worst_case_requests(2 if args.quick else 3)
    for label, micros in worst.items():
        results["worst_%s_ms" % label] = round(micros / 1000, 1)
    results["worst_request_ms"] = round(max(worst.values()) / 1000, 1)
    results["load_average_1min"] = round(os.getloadavg()[0], 2)  # a busy machine slows the interpreter most
    results["targets"] = {
        "inside_ge_1000_per_s": results["inside_pump_receive_per_s"] >= TARGET_PER_S,
        "end_to_end_ping_pong_ge_1000_per_s": results["end_to_end_ping_pong_per_s"] >= TARGET_PER_S,
    }
    write("perf_micropython", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
