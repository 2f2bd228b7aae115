"""Fast mutation fuzzing of the firmware core in-process: mutated frames straight into Pump.receive, checked.

    result = run_mutation(budget_s=10, seed=1)            # {"cases", "cases_per_s", "failures", ...}
    python -m pumpmock.harness.fuzz.mutation --atheris [libFuzzer options]   # coverage-guided, where atheris installs

No hypothesis here: a deterministic RNG (random.Random(seed)) picks a seed frame (every catalog
request, made valid for the pump's state) and mutates its body (bit flips, interesting values,
inserts, deletes, truncation) or its wire bytes, usually fixing the CRC so the mutation reaches
the parser and the state machine rather than dying at the CRC check. Each case is followed by a
sentinel request so every case proves the pump still answers. Checked per case:
  - no exception escapes receive() or poll(); no batch of cases takes HANG_S of CPU (a hang:
    the case that was running is the one reported)
  - every frame with a valid CRC (by an independent parse of the input) gets exactly one
    answer with its msg_id and seq, in order, and nothing else is answered
  - every frame the pump sends decodes strictly with the host codec
and every INVARIANT_EVERY cases, through TC_READ_COUNTERS and TC_GET_STATUS: frames_bad equals
the dropped blocks the independent parse counted, volume is conserved, the alarms that must be
raised are. A failure is minimised (bytes removed while it still fails on a fresh pump) and
saved as a transcript that harness.transcript.replay() sends again.
"""

import argparse
import binascii
import collections
import os
import random
import signal
import sys
import threading
import time

from pumpmock.protocol import cobs
from pumpmock.protocol import messages as m
from pumpmock.protocol.auth import auth_mac, role_key
from pumpmock.protocol.catalog import MAX_ENCODED, MESSAGES_BY_NAME
from pumpmock.protocol.codes import Drug, Role, TherapyMode
from pumpmock.protocol.errors import RemoteProtocolError
from pumpmock.protocol.framing import NAK, REQUEST, RESPONSE, FrameDecoder, encode_frame

from .oracle import Violation, check_observations

SERIAL = "PM-000001"
SENTINEL_ID = 0x7E  # no message has this id: the pump answers UNKNOWN_MESSAGE, its cheapest path
SENTINEL_SEQ = 0xFFFE
SENTINEL = encode_frame(REQUEST, SENTINEL_ID, SENTINEL_SEQ)
INVARIANT_EVERY = 512
SENTINEL_EVERY = 16  # cases between sentinels: a case's own answers prove the pump answers
REFRESH_EVERY = 4096  # cases between resets to a programmed pump (so mutations hit deep states)
HANG_S = 2.0  # CPU seconds: a batch of cases takes milliseconds, so this much means a call never ended
HANG_ATTEMPTS = 8  # a hang costs HANG_S to reproduce: minimising one gets this many tries
INTERESTING = (0, 1, 0x7F, 0x80, 0xFE, 0xFF)
# Frames the mutator never produces with a valid CRC: an armed power cut makes later answers go
# missing on purpose, a warp of decades costs seconds, and a reset clears what is being counted.
TC_RESET = MESSAGES_BY_NAME["TC_RESET"].id
TC_WARP = MESSAGES_BY_NAME["TC_WARP_CLOCK"].id
TC_POWER_LOSS = MESSAGES_BY_NAME["TC_POWER_LOSS"].id
GET_STATUS = MESSAGES_BY_NAME["GET_STATUS"].id  # what _defuse turns a reset or a power cut into
TC_READ_COUNTERS = MESSAGES_BY_NAME["TC_READ_COUNTERS"].id
TC_GET_STATUS = MESSAGES_BY_NAME["TC_GET_STATUS"].id


class Failure(Exception):
    """A mutation case broke the pump: `kind` (crash, hang, answers, output, invariant) and why."""

    def __init__(self, kind, message):
        super().__init__("%s: %s" % (kind, message))
        self.kind = kind
        self.category = kind


def _crc(body):
    return binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big")


def setup_frames():
    """HELLO, clinician login, a refill and a prescription with PTM boluses: a pump in therapy."""
    frames = [m.encode_message(m.TcResetRequest(1), 0xFF00),
              m.encode_message(m.HelloRequest(0xF00D, 1), 0xFF01),
              m.encode_message(m.AuthChallengeRequest(Role.CLINICIAN), 0xFF02)]
    return frames


def ready_pump(pump, now_ms=0, record=None):
    """Bring `pump` to a programmed state through the protocol (the nonce comes from its answer).

    record(direction, data), if given, sees every byte both ways (a failure's transcript starts so).
    """
    record = record or (lambda _direction, _data: None)
    hello = b"\x00" + b"".join(setup_frames())
    out = pump.receive(hello, now_ms)
    record("host>pump", hello)
    record("pump>host", out)
    challenge = m.AuthChallengeRequest.MESSAGE.id
    nonce = [frame.payload for frame in FrameDecoder().feed(out) if not isinstance(frame, RemoteProtocolError)
             and frame.kind == RESPONSE and frame.msg_id == challenge][-1]
    mac = auth_mac(role_key(pump.serial, Role.CLINICIAN), nonce, pump.serial, Role.CLINICIAN)
    rx = m.Prescription(Drug.MORPHINE, 20_000, TherapyMode.FLEX, 0, (m.FlexStep(0, 3_000), m.FlexStep(480, 4_000)),
                        250, 30, 4, 9_000, 30)
    program = (m.encode_message(m.AuthResponseRequest(Role.CLINICIAN, mac), 0xFF03)
               + m.encode_message(m.RefillRequest(Drug.MORPHINE, 20_000, 20_000), 0xFF04)
               + m.encode_message(m.ProgramPrescriptionRequest((), rx), 0xFF05))
    out = pump.receive(program, now_ms)
    record("host>pump", program)
    record("pump>host", out)


def _corpus(rng):
    """Bodies (header + payload, no CRC) of valid requests: every golden vector request, and typical ones."""
    from .strategies import _vector_wires
    bodies = []
    for wire in _vector_wires():
        for frame in FrameDecoder().feed(wire):
            if not isinstance(frame, RemoteProtocolError) and frame.kind == REQUEST \
                    and frame.msg_id not in (TC_RESET, TC_POWER_LOSS):
                header = bytes([frame.version, frame.kind, frame.msg_id]) + frame.seq.to_bytes(2, "little")
                bodies.append(_defuse(header + frame.payload))
    for message in (m.PtmBolusRequest(), m.ClinicianBolusRequest(3, 100, 600), m.RefillRequest(1, 20_000, 20_000),
                    m.AckAlarmRequest(6, 1), m.TcWarpClockRequest(3_600), m.TcSetReservoirRequest(1_000),
                    m.TcInjectFaultRequest(1), m.ReadLogRequest(0, 12), m.GetStatusRequest(), m.SuspendRequest(),
                    m.ResumeRequest(), m.TcSetBatteryRequest(9), m.GetAlarmsRequest()):
        bodies.append(bytes([1, 0, message.MESSAGE.id]) + rng.randrange(0x8000).to_bytes(2, "little") + message.encode())
    return bodies


def _defuse(body):
    """Keep a mutated, CRC-fixed body away from power cuts, decade warps and resets."""
    if len(body) >= 5 and body[1] == 0:
        msg_id = body[2]
        if msg_id == TC_POWER_LOSS or msg_id == TC_RESET:
            return body[:2] + bytes([GET_STATUS]) + body[3:]  # with whatever payload
        if msg_id == TC_WARP and len(body) >= 9 and int.from_bytes(body[5:9], "little") > 40 * 86_400:
            return body[:5] + (int.from_bytes(body[5:9], "little") % (40 * 86_400)).to_bytes(4, "little") + body[9:]
    return body


class Mutator:
    """Deterministic mutations of the corpus: case() returns (bytes, expected answers or None, bad blocks).

    When the mutator built the frame itself it knows what the pump must do with it, so the
    independent parse (expected_answers) runs only for wire-level mutations and junk.
    """

    def __init__(self, seed=0):
        self.rng = random.Random(seed)
        self.corpus = _corpus(random.Random(seed ^ 0x5EED))
        self.wires = [cobs.encode(body + _crc(body)) + b"\x00" for body in self.corpus]

    def case(self):
        rng = self.rng
        bits = rng.getrandbits
        roll = bits(7)  # 0..127
        if roll < 92:
            corpus = self.corpus
            body = bytearray(corpus[bits(16) % len(corpus)])
            self._mutate(body, bits)
            if roll < 30:
                self._mutate(body, bits)
            body = bytes(body)
            if len(body) >= 3 and body[1] == 0 and body[2] in (TC_RESET, TC_POWER_LOSS, TC_WARP):
                body = _defuse(body)
            if roll < 84:  # the CRC fixed: the mutation reaches the parser
                encoded = cobs.encode(body + _crc(body))
                if len(body) < 5 or len(encoded) > MAX_ENCODED or body[1] > 4:
                    return encoded + b"\x00", [], 1
                return encoded + b"\x00", ([] if body[1] == 3 else [(body[2], body[3] | body[4] << 8)]), 0
            data = cobs.encode(body + bits(16).to_bytes(2, "big")) + b"\x00"
            return data, None, None
        if roll < 115:
            wires = self.wires
            wire = bytearray(wires[bits(16) % len(wires)])
            self._mutate(wire, bits)
            if roll & 1:
                self._mutate(wire, bits)
            if not wire.endswith(b"\x00"):
                wire.append(0)
            return bytes(wire), None, None
        if roll < 125:  # frames glued, split or repeated: the framing layer's edge cases
            wires = self.wires
            a, b = wires[bits(16) % len(wires)], wires[bits(16) % len(wires)]
            cut = 1 + bits(8) % (len(a) - 1)
            return (a[:cut] + b, a + a, a[:-1] + b, b"\x00\x00" + a, a[:cut] + b"\x00")[bits(8) % 5], None, None
        size = 1 + bits(9) % (300 if roll == 127 else 40)
        return rng.randbytes(size) + b"\x00", None, None

    @staticmethod
    def _mutate(data, bits):
        size = len(data)
        if not size:
            data.append(bits(8))
            return
        r = bits(24)
        op = r & 7
        at = (r >> 3) % size
        if op == 0:
            data[at] ^= 1 << ((r >> 16) & 7)
        elif op == 1:
            data[at] = INTERESTING[(r >> 16) % len(INTERESTING)]
        elif op == 2:
            data.insert(at, r >> 16)
        elif op == 3 and size > 1:
            del data[at]
        elif op == 4:
            data[at:at] = data[at:min(size, at + 1 + ((r >> 16) & 7))]
        elif op == 5 and size > 6:
            del data[5 + (r >> 16) % (size - 5):]  # truncate the payload
        elif op == 6:
            data[at:at] = bits(8 * (1 + ((r >> 16) & 3))).to_bytes(1 + ((r >> 16) & 3), "little")
        else:
            data[at] = r >> 16


def expected_answers(data):
    """Independent parse of an input that ends with a delimiter: ([(msg_id, seq)] to answer, bad blocks).

    Cut by the host's FrameDecoder and checked here, not by the firmware's reader it judges."""
    answers = []
    bad = 0
    crc = binascii.crc_hqx
    in_run = False
    for piece in FrameDecoder().cut(data):
        if piece[-1]:  # MAX_ENCODED bytes of a run longer than any frame: one bad block
            if not in_run:
                bad += 1
            in_run = True
            continue
        if in_run or len(piece) == 1:  # the run's rest, or a spare delimiter
            in_run = False
            continue
        try:
            body = cobs.decode_block(piece[:-1])
        except Exception:
            bad += 1
            continue
        if len(body) < 7 or crc(body, 0xFFFF) != 0 or body[1] > 4:
            bad += 1
            continue
        if body[1] != 3:
            answers.append((body[2], body[3] | body[4] << 8))
    return answers, bad


_DECODED = {}  # (kind, msg_id, payload) -> True: answers already decoded strictly once
_NAK_CODES = frozenset(range(1, 23))


def check_output(out, expected):
    """Every frame valid and strictly decodable; answers exactly `expected`, in order. Raises Failure."""
    crc = binascii.crc_hqx
    answers = []
    decoded = _DECODED
    for piece in FrameDecoder().cut(out):  # bytes after the last delimiter are no frame yet
        block = piece[:-1]
        if piece[-1] or not block:
            raise Failure("output", "the pump sent %s: %s" % ("a run longer than any frame" if piece[-1] else
                                                             "an empty block (a spare delimiter)", out.hex()))
        try:
            body = cobs.decode_block(block)
        except Exception:
            raise Failure("output", "the pump sent a block that is not COBS: %s" % block.hex()) from None
        if len(body) < 7 or crc(body, 0xFFFF) != 0 or body[0] != 1 or body[1] not in (1, 2, 4):
            raise Failure("output", "the pump sent a malformed frame: %s" % body.hex())
        kind, msg_id = body[1], body[2]
        if kind != 2:
            answers.append((msg_id, body[3] | body[4] << 8))
        if kind == 4:
            if len(body) != 17 or body[5] not in _NAK_CODES:
                raise Failure("output", "the pump's NAK for 0x%02x is malformed: %s" % (msg_id, body[5:-2].hex()))
            continue
        key = body[1:3] + body[5:-2]
        if key in decoded:
            continue
        try:
            m.CLASSES[(kind, msg_id)].decode(body[5:-2])
        except Exception as error:
            raise Failure("output", "the pump's %s for 0x%02x does not decode strictly: %s (%s)"
                          % ("RESPONSE" if kind == 1 else "EVENT", msg_id, body[5:-2].hex(), error)) from None
        if len(decoded) > 50_000:
            decoded.clear()
        decoded[key] = True
    if answers != expected:
        missing = [a for a in expected if a not in answers]
        extra = [a for a in answers if a not in expected]
        if extra:
            raise Failure("answers", "the pump answered %s, which the input holds no valid request for "
                          "(a dropped frame answered?)" % ", ".join("0x%02x seq %d" % a for a in extra))
        if missing:
            raise Failure("answers", "no answer to %s (the pump stopped answering, or dropped a valid frame)"
                          % ", ".join("0x%02x seq %d" % a for a in missing))
        raise Failure("answers", "answers out of order: %s, expected %s" % (answers, expected))


class _Clock:
    """Pump shell ms: moves a little per case (so event re-sends and alarms happen)."""

    def __init__(self, rng):
        self.rng = rng
        self.now_ms = 0

    def tick(self):
        roll = self.rng.random()
        self.now_ms += 0 if roll < 0.5 else 1 if roll < 0.8 else 60 if roll < 0.95 else 600
        return self.now_ms


def _default_pump():
    from pumpmock.firmware_mock.core import Pump
    return Pump(serial=SERIAL, test_mode=True)


class Target:
    """One in-process pump under mutation: feed(case) checks a case, invariants() the counters."""

    def __init__(self, pump_factory=None):
        self.pump_factory = pump_factory or _default_pump
        self.new_pump()

    def new_pump(self):
        self.pump = self.pump_factory()
        self.now_ms = 0
        ready_pump(self.pump, 0)
        self.bad_expected = 0
        self.previous = None
        self.status_seq = 0

    def refresh(self, now_ms):
        ready_pump(self.pump, now_ms)
        self.bad_expected = 0
        self.previous = None

    def feed(self, case, now_ms, expected=None, bad=None, sentinel=True):
        """One case (ending with a delimiter); `expected`/`bad` when the caller knows them."""
        data = case + SENTINEL if sentinel else case
        if expected is None:
            expected, bad = expected_answers(data)
        elif sentinel:
            expected = expected + [(SENTINEL_ID, SENTINEL_SEQ)]
        self.bad_expected += bad
        try:
            out = self.pump.receive(data, now_ms)
        except Failure:
            raise
        except Exception as error:
            raise Failure("crash", "%s: %s in Pump.receive%s" % (type(error).__name__, error, _where(error))) from None
        check_output(out, expected)
        return out

    def poll(self, now_ms):
        try:
            return self.pump.poll(now_ms)
        except Exception as error:
            raise Failure("crash", "%s: %s in Pump.poll%s" % (type(error).__name__, error, _where(error))) from None

    def invariants(self, now_ms):
        request = encode_frame(REQUEST, TC_READ_COUNTERS, 0xFFF0) + encode_frame(REQUEST, TC_GET_STATUS, 0xFFF1)
        out = self.pump.receive(b"\x00" + request, now_ms)
        answers = {}
        for frame in FrameDecoder().feed(out):
            if frame.__class__ is not RemoteProtocolError and frame.kind in (RESPONSE, NAK):
                answers[frame.msg_id] = (frame.kind, frame.payload)
        if answers.get(TC_READ_COUNTERS, (NAK,))[0] != RESPONSE \
                or answers.get(TC_GET_STATUS, (NAK,))[0] != RESPONSE:
            return  # test control refused (a mutated HELLO cannot turn test mode off; a NAK means a role or length issue)
        counters = m.TcReadCountersResponse.decode(answers[TC_READ_COUNTERS][1])
        status = m.TcGetStatusResponse.decode(answers[TC_GET_STATUS][1])
        if counters.frames_bad != self.bad_expected:
            raise Failure("invariant", "frames_bad is %d, the input held %d blocks a pump must drop"
                          % (counters.frames_bad, self.bad_expected))
        try:
            check_observations(counters, status, self.previous)
        except Violation as violation:
            raise Failure("invariant", str(violation)) from None
        self.previous = counters


def _where(error):
    tb = error.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return ""
    code = last.tb_frame.f_code
    return " at %s:%d (%s)" % (os.path.relpath(code.co_filename), last.tb_lineno, code.co_name)


class _HangGuard:
    """Raises Failure("hang") in the pump's code once a batch has used `seconds` of CPU.

    CPU time (ITIMER_VIRTUAL, SIGVTALRM), not wall time: SIGALRM belongs to pytest-timeout, and a
    pure-Python loop that never ends burns CPU. Main thread only; elsewhere there is no guard.
    """

    def __init__(self, seconds):
        self.seconds = seconds
        self.enabled = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")

    def __enter__(self):
        if self.enabled:
            self.previous = signal.signal(signal.SIGVTALRM, self._fire)
            self.previous_timer = signal.setitimer(signal.ITIMER_VIRTUAL, self.seconds)
        return self

    def _fire(self, *_args):
        raise Failure("hang", "the pump ran for more than %.1f s of CPU without returning" % self.seconds)

    def __exit__(self, *exc):
        if self.enabled:
            signal.setitimer(signal.ITIMER_VIRTUAL, *self.previous_timer)
            signal.signal(signal.SIGVTALRM, self.previous)


def run_mutation(budget_s=10.0, seed=0, cases=None, failures_dir=None, progress=None, pump_factory=None,
                 max_failures=8, url=None):
    """Mutation-fuzz an in-process pump for budget_s (or `cases`); returns a result dict."""
    mutator = Mutator(seed)
    clock = _Clock(random.Random(seed ^ 0xC10C))
    target = Target(pump_factory)
    failures, seen = [], set()
    history = collections.deque(maxlen=64)  # recent (now_ms, case) for failures that need their past
    done = 0
    started = time.perf_counter()
    deadline = started + budget_s
    last_progress = started
    batch = 256
    perf_counter = time.perf_counter
    slowest = (0.0, b"")  # the case that took longest, for the soak's max time per input
    while (cases is None and time.perf_counter() < deadline) or (cases is not None and done < cases):
        count = batch if cases is None else min(batch, cases - done)
        try:
            with _HangGuard(HANG_S):
                for _ in range(count):
                    case, expected, bad = mutator.case()
                    now_ms = clock.tick()
                    history.append((now_ms, case))
                    t0 = perf_counter()
                    target.feed(case, now_ms, expected, bad, sentinel=done % SENTINEL_EVERY == 0)
                    spent = perf_counter() - t0
                    if spent > slowest[0]:
                        slowest = (spent, case)
                    done += 1
                    if done % INVARIANT_EVERY == 0:
                        target.invariants(now_ms)
                    if done % REFRESH_EVERY == 0:
                        target.refresh(now_ms)
        except Failure as failure:
            done += 1
            entry = _record_failure(failure, list(history), target, pump_factory, failures_dir, seed, len(failures) + 1)
            if entry["key"] not in seen:
                seen.add(entry["key"])
                failures.append(entry)
            target.new_pump()  # its state may be what broke: start clean
            clock.now_ms = 0
            history.clear()
            if len(failures) >= max_failures:
                break
        now = time.perf_counter()
        if progress and now - last_progress > 0.25:
            progress({"examples": 0, "steps": done, "cases": done}, now - started, len(failures))
            last_progress = now
    seconds = time.perf_counter() - started
    return {"mode": "mutation", "seed": seed, "seconds": round(seconds, 2), "cases": done,
            "cases_per_s": round(done / seconds, 1) if seconds else 0.0, "failures": failures,
            "max_case_s": slowest[0], "max_case_hex": slowest[1].hex()}


def _reproduces(inputs, pump_factory):
    """Does feeding `inputs` [(now_ms, case)] to a fresh ready pump raise a Failure? (the Failure or None)"""
    target = Target(pump_factory)
    try:
        with _HangGuard(HANG_S):
            for now_ms, case in inputs:
                target.feed(case, now_ms, sentinel=True)
            target.invariants(inputs[-1][0] if inputs else 0)
    except Failure as failure:
        return failure
    return None


def minimise(inputs, pump_factory=None, kind=None, attempts=300):
    """The shortest input list (and bytes) that still fails the same way on a fresh pump, greedily."""
    def fails(candidate):
        failure = _reproduces(candidate, pump_factory) if candidate else None
        return failure is not None and (kind is None or failure.kind == kind)

    if kind == "hang":
        attempts = min(attempts, HANG_ATTEMPTS)

    if not fails(inputs):
        return None
    for i in range(len(inputs) - 1, -1, -1):  # drop whole cases, newest kept
        if attempts <= 0:
            break
        attempts -= 1
        trial = inputs[:i] + inputs[i + 1:]
        if trial and fails(trial):
            inputs = trial
    for index in range(len(inputs)):  # then bytes of each remaining case, in halving chunks
        now_ms, case = inputs[index]
        chunk = max(len(case) // 2, 1)
        while chunk >= 1 and attempts > 0:
            start = 0
            while start < len(case) and attempts > 0:
                attempts -= 1
                smaller = case[:start] + case[start + chunk:]
                trial = inputs[:index] + [(now_ms, smaller)] + inputs[index + 1:]
                if smaller and fails(trial):
                    case = smaller
                    inputs = trial
                else:
                    start += chunk
            chunk //= 2
    return inputs


def _record_failure(failure, history, target, pump_factory, failures_dir, seed, number):
    entry = {"mode": "mutation", "category": failure.kind, "message": str(failure),
             "key": (failure.kind, str(failure)[:120]), "transcript": None, "cases": None}
    minimal = minimise(history[-1:], pump_factory, failure.kind) or minimise(history, pump_factory, failure.kind)
    if minimal is not None:
        entry["cases"] = len(minimal)
        entry["input"] = [case.hex() for _now, case in minimal]
    if failures_dir:
        from ..transcript import TranscriptRecorder
        os.makedirs(failures_dir, exist_ok=True)
        path = os.path.join(failures_dir, "mutation-%d-%s.jsonl" % (number, failure.kind))
        pump = (pump_factory or _default_pump)()
        with TranscriptRecorder(path, meta={"mode": "mutation", "seed": seed, "kind": failure.kind,
                                            "message": str(failure), "serial": SERIAL,
                                            "minimised": minimal is not None}) as recorder:
            t = 0.0
            ready_pump(pump, 0, lambda direction, data: recorder.feed(direction, data, 0.0))  # how it was readied
            for now_ms, case in (minimal or history):
                data = case + SENTINEL
                t = now_ms / 1000
                recorder.feed("host>pump", data, t)
                try:
                    with _HangGuard(HANG_S):  # the case that hung hangs here too
                        out = pump.receive(data, now_ms)
                except Exception:
                    break
                recorder.feed("pump>host", out, t)
        entry["transcript"] = path
    return entry


# ---------------------------------------------------------------------------------------------
# atheris (coverage-guided), where it installs
# ---------------------------------------------------------------------------------------------
def atheris_main(argv=None):
    """Run the same checks under atheris/libFuzzer: python -m pumpmock.harness.fuzz.mutation --atheris [options]."""
    try:
        import atheris
    except ImportError:
        print("atheris is not installed (pip install atheris; it needs a CPython it has wheels for)", file=sys.stderr)
        return 2
    with atheris.instrument_imports():
        import pumpmock.firmware_mock.core  # noqa: F401 (instrumented for coverage)
    target = Target()
    state = {"cases": 0, "now_ms": 0}

    def test_one_input(data):
        state["cases"] += 1
        state["now_ms"] += 1
        target.feed(_defuse_wire(bytes(data)) + b"\x00", state["now_ms"])
        if state["cases"] % INVARIANT_EVERY == 0:
            target.invariants(state["now_ms"])
        if state["cases"] % REFRESH_EVERY == 0:
            target.refresh(state["now_ms"])

    atheris.Setup([sys.argv[0]] + list(argv or []), test_one_input)
    atheris.Fuzz()
    return 0


def _defuse_wire(data):
    """Raw atheris bytes with the frames _defuse would change rewritten (power cuts, resets, long warps)."""
    cutter = FrameDecoder()
    in_run = False
    out = []
    for piece in cutter.cut(data):
        if piece[-1]:  # MAX_ENCODED bytes of a run longer than any frame: the pump skips it all
            in_run = True
        elif in_run:  # the run's rest, up to its delimiter
            in_run = False
        else:
            piece = _defused_block(piece[:-1]) + b"\x00"
        out.append(piece)
    in_run = cutter.skipping
    tail = cutter.flush()  # the caller ends it with a delimiter: a block too, unless a run's rest
    out.append(tail if in_run else _defused_block(tail))
    return b"".join(out)


def _defused_block(block):
    try:
        body = cobs.decode_block(block) if block else b""
    except Exception:
        body = b""
    if len(body) >= 7 and binascii.crc_hqx(body, 0xFFFF) == 0 and _defuse(body[:-2]) != body[:-2]:
        fixed = _defuse(body[:-2])
        return cobs.encode(fixed + _crc(fixed))
    return block


def main(argv=None):
    parser = argparse.ArgumentParser(description="Mutation-fuzz the firmware core in-process.")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--failures", metavar="DIR", help="save failures as transcripts here")
    parser.add_argument("--atheris", action="store_true", help="coverage-guided with atheris; the rest of the "
                        "arguments go to libFuzzer (e.g. -max_total_time=60)")
    args, rest = parser.parse_known_args(argv)
    if args.atheris:
        return atheris_main(rest)
    result = run_mutation(args.seconds, args.seed, failures_dir=args.failures)
    print("%d cases in %.1f s: %.0f cases/s, %d failures" % (result["cases"], result["seconds"],
                                                            result["cases_per_s"], len(result["failures"])))
    for failure in result["failures"]:
        print("  %s -> %s" % (failure["message"], failure["transcript"]))
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
