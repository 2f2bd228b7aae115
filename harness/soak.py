"""`pumpmock soak`: a million hostile and mutated frames into the firmware core and the host decoder.

    pumpmock soak                     10^6 frames, seed 0, a table and a JSON report
    pumpmock soak --frames 100000 --json soak.json

Three phases, each counting crashes (an exception escaping), hangs (CPU seconds without
returning, harness.fuzz.mutation.HANG_S), invariant breaks, and the slowest single input:
- core: the mutation fuzzer's cases (harness.fuzz.mutation) straight into Pump.receive;
- power cuts: TC_POWER_LOSS(n) for n anywhere in a save (an eighth of them at its last bytes),
  then a test control that writes storage (warps up to the longest there is, resets, faults,
  battery), then a day on: the pump must answer, conserve volume, have its clock exactly where the
  save's fate puts it (the save's size is measured on an uncut copy of the pump: a cut at byte n
  landed when n reaches that size, and then the warp or reset took effect; else nothing did), and go
  on delivering a running prescription;
- host: the pump's own answers and events, mutated and cut at random points, through the host's
  stream decoder (protocol.FrameDecoder) and strict message decoding: only ProtocolError may come out.
The exit status is 1 when any crash, hang or invariant break was seen, else 0. The slowest input
is reported, never judged: it is what a board's loop would stall for.
"""

import copy
import json
import random
import sys
import time

from pumpmock.protocol import (RESPONSE, FrameDecoder, ProtocolError, decode_message, encode_frame, encode_message,
                               message_frame)
from pumpmock.protocol import messages as m
from pumpmock.protocol.examples import EXAMPLES, NAK_EXAMPLES

from .fuzz import mutation

DEFAULT_FRAMES = 1_000_000
CUT_SHARE = 50  # one power-cut scenario per this many frames of the whole soak
HOST_SHARE = 4  # a quarter of the frames go to the host decoder
_SAVING = ("warp", "warp_max", "reset", "fault", "clear", "battery")


def _count(result):
    return {"crashes": 0, "hangs": 0, "invariant_breaks": 0, "max_input_ms": 0.0, "slowest": None, **result}


def _failure_kind(failure):
    return {"crash": "crashes", "hang": "hangs"}.get(failure["kind"], "invariant_breaks")


def soak_core(frames, seed):
    """The mutation fuzzer's cases into Pump.receive: what it found, by kind, and the slowest case."""
    result = mutation.run_mutation(cases=frames, seed=seed, max_failures=10 ** 9)
    counts = _count({"phase": "core", "frames": result["cases"], "seconds": result["seconds"],
                     "max_input_ms": round(result["max_case_s"] * 1000, 3), "slowest": result["max_case_hex"],
                     "findings": [f["message"].splitlines()[0] for f in result["failures"][:5]]})
    for failure in result["failures"]:
        counts[_failure_kind(failure)] += 1
    return counts


class _CutTarget(mutation.Target):
    """A ready pump that tells its status and counters (answers it must give, or it is broken)."""

    def ask(self, now_ms, *messages):
        frames = b"\x00" + b"".join(encode_message(msg, 0xFFE0 + i) for i, msg in enumerate(messages))
        out = self.pump.receive(frames, now_ms)
        answers = {}
        for frame in FrameDecoder().feed(out):
            if isinstance(frame, Exception):
                raise mutation.Failure("output", "the pump sent a frame that does not decode: %s" % frame)
            if frame.kind == RESPONSE and frame.seq >= 0xFFE0:
                answers[frame.seq - 0xFFE0] = decode_message(frame)
        missing = [messages[i].MESSAGE.name for i in range(len(messages)) if i not in answers]
        if missing:
            raise mutation.Failure("answers", "no answer to %s after a power cut" % ", ".join(missing))
        return [answers[i] for i in range(len(messages))]


def _saving_request(rng, kind):
    if kind == "warp":
        return m.TcWarpClockRequest(rng.choice([1, 59, 3_600, 86_400, 40 * 86_400]))
    if kind == "warp_max":
        return m.TcWarpClockRequest(0xFFFFFFFF)  # the longest warp there is: its cost is the slowest input
    if kind == "reset":
        return m.TcResetRequest(rng.randrange(1 << 32))
    if kind in ("fault", "clear"):
        cls = m.TcInjectFaultRequest if kind == "fault" else m.TcClearFaultRequest
        return cls(rng.randint(1, 4))
    return m.TcSetBatteryRequest(rng.randint(0, 100))


def soak_cuts(scenarios, seed):
    """Power cut at byte n of a test control's save, n drawn over the whole save and beyond."""
    rng = random.Random(seed ^ 0xC0C0)
    counts = _count({"phase": "power cuts", "frames": 0, "findings": []})
    target = _CutTarget()
    now_ms = 0
    started = time.perf_counter()
    slowest = 0.0
    for _ in range(scenarios):
        now_ms += rng.choice([0, 1, 60_000])
        kind = rng.choice(_SAVING)
        request = _saving_request(rng, kind)
        cut = rng.randint(1, 4_096)
        try:
            with mutation._HangGuard(mutation.HANG_S * 4):
                (before,) = target.ask(now_ms, m.TcGetClockRequest())
                save_size = _save_size(target.pump, request, now_ms)
                if rng.random() < 0.125:  # at the save's last bytes, where landing is decided
                    cut = max(1, save_size + rng.choice([-1, 0, 1]))
                wire = encode_message(m.TcPowerLossRequest(cut), 0xFFD0) + encode_message(request, 0xFFD1)
                t0 = time.perf_counter()
                out = target.pump.receive(wire, now_ms)
                spent = time.perf_counter() - t0
                if spent > slowest:
                    slowest, counts["slowest"] = spent, "%s after TC_POWER_LOSS(%d)" % (request, cut)
                counts["frames"] += 2 + _flush(target, now_ms, out)
                clock, counters, status = target.ask(now_ms, m.TcGetClockRequest(), m.TcReadCountersRequest(),
                                                     m.TcGetStatusRequest())
                mutation.check_observations(counters, status)
                # The save is whole once its last byte is written: a cut at byte n of it landed
                # exactly when n >= its size (a cut beyond it never touched it).
                _check_clock(kind, request, before.clock_ms, clock.clock_ms, landed=cut >= save_size)
                counts["frames"] += 4 + _check_delivery(target, now_ms, status)
        except mutation.Failure as failure:
            counts[_failure_kind({"kind": failure.kind})] += 1
            _finding(counts, "%s (%s, cut at byte %d)" % (failure, request, cut))
            target.new_pump()
            now_ms = 0
        except mutation.Violation as violation:
            counts["invariant_breaks"] += 1
            _finding(counts, "%s: %s (%s, cut at byte %d)" % (violation.category, violation, request, cut))
            target.new_pump()
            now_ms = 0
        except Exception as error:  # anything else escaping receive() is a crash of the pump
            counts["crashes"] += 1
            _finding(counts, "%s: %s (%s, cut at byte %d)%s" % (type(error).__name__, error, request, cut,
                                                                 mutation._where(error)))
            target.new_pump()
            now_ms = 0
        if target.pump.model.clock_ms > 3_000 * 86_400_000:  # decades on: start over from a ready pump
            target.new_pump()
            now_ms = 0
    counts["seconds"] = round(time.perf_counter() - started, 2)
    counts["max_input_ms"] = round(slowest * 1000, 3)
    return counts


def _finding(counts, text):
    if len(counts["findings"]) < 5:
        counts["findings"].append(text)


def _flush(target, now_ms, out):
    """A cut beyond the request's whole save stays armed for the next one: spend it on TC_WARP_CLOCK(0)
    (saves, changes nothing) until one goes unanswered. Frames sent."""
    sent = 0
    answered = any(not isinstance(f, Exception) and f.seq == 0xFFD1 for f in FrameDecoder().feed(out))
    while answered and sent < 64:
        out = target.pump.receive(encode_message(m.TcWarpClockRequest(0), 0xFFD1), now_ms)
        answered = any(not isinstance(f, Exception) and f.seq == 0xFFD1 for f in FrameDecoder().feed(out))
        sent += 1
    if answered:
        raise mutation.Failure("invariant", "an armed power cut never fired in 64 saves")
    return sent


def _save_size(pump, request, now_ms):
    """How many bytes the request's save writes: measured on a copy of the pump, uncut."""
    twin = copy.deepcopy(pump)
    written = twin.storage.bytes_written
    twin.receive(encode_message(request, 0xFFD2), now_ms)
    return twin.storage.bytes_written - written


def _check_clock(kind, request, before_ms, after_ms, landed):
    """No time passed: a cut request either landed whole (its effect stays) or never happened, and
    which of the two is known from where the cut fell. So the clock is where it was, or (landed)
    moved by exactly the warp, or reads 0 after a reset."""
    expected = before_ms
    if landed and kind.startswith("warp"):
        expected = before_ms + request.advance_s * 1000
    if landed and kind == "reset":
        expected = 0
    if after_ms != expected:
        raise mutation.Failure("invariant", "after a cut %s that %s the pump clock reads %d ms, was %d ms"
                               % (request, "landed" if landed else "did not land", after_ms, before_ms))


def _check_delivery(target, now_ms, status):
    """A running prescription goes on delivering after the reboot: a day on, the volume moved. Frames sent."""
    if status.therapy_state != 1 or status.basal_rate_ul_per_day < 2 or status.reservoir_ul < 4 * status.basal_rate_ul_per_day:
        return 0
    (before,) = target.ask(now_ms, m.TcReadCountersRequest())
    _warp, after, state = target.ask(now_ms, m.TcWarpClockRequest(86_400), m.TcReadCountersRequest(),
                                     m.TcGetStatusRequest())
    moved = after.delivered_ul - before.delivered_ul
    if state.therapy_state == 1 and moved < status.basal_rate_ul_per_day // 2:
        raise mutation.Failure("invariant", "a day after a power cut the pump delivered %d µL at %d µL/day: "
                               "delivery stopped" % (moved, status.basal_rate_ul_per_day))
    return 4


def _pump_frames():
    """Every answer and event example as wire bytes: what a pump sends."""
    frames = []
    for seq, pair in enumerate(EXAMPLES.values()):
        for message in pair:
            frame = message_frame(message, seq)
            if frame.kind != 0:  # an answer or an event, not the request
                frames.append(encode_frame(frame.kind, frame.msg_id, seq, frame.payload))
    for seq, nak in enumerate(NAK_EXAMPLES.values()):
        frame = message_frame(nak, seq)
        frames.append(encode_frame(frame.kind, frame.msg_id, seq, frame.payload))
    return frames


def soak_host(frames, seed):
    """Mutated pump output, cut at random points, through FrameDecoder and strict decoding."""
    rng = random.Random(seed ^ 0x4057)
    good = _pump_frames()
    counts = _count({"phase": "host decoder", "frames": 0, "findings": []})
    decoder = FrameDecoder()
    slowest = 0.0
    started = time.perf_counter()
    while counts["frames"] < frames:
        chunk = bytearray(rng.choice(good))
        roll = rng.random()
        if roll < 0.4:
            for _ in range(rng.randint(1, 3)):
                chunk[rng.randrange(len(chunk))] ^= 1 << rng.randrange(8)
        elif roll < 0.6:
            del chunk[rng.randrange(len(chunk)):rng.randrange(len(chunk)) + 1]
        elif roll < 0.7:
            chunk[rng.randrange(len(chunk)):rng.randrange(len(chunk))] = rng.randbytes(rng.randint(1, 300))
        elif roll < 0.75:
            chunk = bytearray(rng.randbytes(rng.randint(1, 600)))
        counts["frames"] += 1
        t0 = time.perf_counter()
        try:
            for frame in decoder.feed(bytes(chunk)):
                if not isinstance(frame, Exception):
                    try:
                        decode_message(frame)
                    except ProtocolError:
                        pass
        except Exception as error:
            counts["crashes"] += 1
            if len(counts["findings"]) < 5:
                counts["findings"].append("%s: %s on %s" % (type(error).__name__, error, bytes(chunk).hex()))
            decoder = FrameDecoder()
        spent = time.perf_counter() - t0
        if spent > slowest:
            slowest, counts["slowest"] = spent, bytes(chunk).hex()
    counts["seconds"] = round(time.perf_counter() - started, 2)
    counts["max_input_ms"] = round(slowest * 1000, 3)
    return counts


def soak(frames=DEFAULT_FRAMES, seed=0):
    """All three phases over `frames` frames in all; a report dict."""
    scenarios = max(1, frames // CUT_SHARE // 11)
    host = frames // HOST_SHARE
    core = max(1, frames - host - scenarios * 11)
    phases = [soak_core(core, seed), soak_cuts(scenarios, seed), soak_host(host, seed)]
    bad = sum(p["crashes"] + p["hangs"] + p["invariant_breaks"] for p in phases)
    return {"frames": sum(p["frames"] for p in phases), "seed": seed, "phases": phases, "ok": bad == 0}


# ---- pumpmock soak ------------------------------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                        help="frames in all, over the three phases (default %(default)d)")
    parser.add_argument("--seed", type=int, default=0, help="the soak's seed (default 0)")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON to PATH")


def main(args, out=None):
    out = out or sys.stdout
    if args.frames < 1 or args.seed < 0:
        print("pumpmock soak: --frames must be at least 1 and --seed at least 0", file=sys.stderr)
        return 2
    report = soak(args.frames, args.seed)
    print("%-14s %9s %8s %7s %6s %10s %14s" % ("phase", "frames", "seconds", "crashes", "hangs", "invariant",
                                               "max input ms"), file=out)
    for phase in report["phases"]:
        print("%-14s %9d %8.1f %7d %6d %10d %14.3f" % (phase["phase"], phase["frames"], phase["seconds"],
                                                      phase["crashes"], phase["hangs"], phase["invariant_breaks"],
                                                      phase["max_input_ms"]), file=out)
        for finding in phase["findings"]:
            print("  %s" % finding, file=out)
        if phase["slowest"]:
            print("  slowest input: %s" % str(phase["slowest"])[:160], file=out)
    print("soak %s: %d frames, seed %d" % ("OK" if report["ok"] else "FAILED", report["frames"], report["seed"]),
          file=out)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
            handle.write("\n")
    return 0 if report["ok"] else 1
