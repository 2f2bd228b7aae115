"""The scripted scenario the bench runs on the target and on the emulator, and the diff of the two transcripts.

    outcome = record_scenario(url, "target.jsonl")               # the board
    reference = record_scenario(EMULATOR_URL, "emulator.jsonl")  # the emulator, same script
    differences = compare("emulator.jsonl", "target.jsonl")[0]   # [] when they behaved alike

The script starts from a known state (TC_RESET with a fixed seed, so it needs test mode) and
goes through every kind of exchange a programmer has: authentication, refill, validation with
soft findings, a hard-limit refusal, programming with overrides, read-back, a clinician bolus,
time passing, PTM boluses and a lockout refusal, an injected alarm with its event, ACK and
ACK_ALARM, a low reservoir, the event log and the counters. Any difference between the two
transcripts is a finding: the board does not run the emulator's firmware the way CI did.

Both sides run on their own clocks (the board's is the wall clock), each some ms to a few seconds
after the exact warp times (both start at 0 with the reset), so the pump-clock stamps (clock_s,
raised_s, cleared_s, ends_s, next_allowed_s) agree when they are within the clock's resolution
(1 s) plus the longer of the two runs (a side's clock cannot have run on further than its whole
transcript lasted): a board whose clock ran at real speed is within it, a warp that did not land
or a clock at the wrong speed is not. The warps are chosen so that no delivery step, midnight or
re-announcement falls within a minute of where a step lands, and those seconds cannot move a
dose, a log entry or an alarm. Sequence numbers differ between any two host sessions and are
not compared. Each direction is compared on its own, frames aligned by kind and message:
when an event's ACK goes out relative to the next request depends on the line's timing, so the
host's ACKs are left out (the pump re-sending an event it missed an ACK for still shows).
"""

import math

from pumpmock.protocol.codes import Alarm, Drug, Fault, Role, Severity

from .. import connect
from ..checks import MORPHINE_UG_PER_ML, morphine
from ..errors import HarnessError, PumpRefusedError
from ..transcript import CLOCK_TOLERANCE_S, DEFAULT_IGNORE, TranscriptRecorder, read_transcript
from ..transcript import compare as compare_transcripts
from .liveness import Tee
from ..wire import PUMP_TO_HOST

EMULATOR_URL = "pumpmock://?clock=virtual"
SCENARIO_SEED = 7
HOST_SESSION_ID = 0x50CE7A12  # fixed, so HELLO is byte-identical on both sides
# Per-session numbers (pump-clock stamps are compared within clock_tolerance_s() instead).
IGNORED_FIELDS = tuple(DEFAULT_IGNORE) + ("seq",)
# A generous answer timeout: a retransmission on a slow board would itself show up as a difference.
ANSWER_TIMEOUT_S = 2.0


def _steps():
    """(name, function of the session) in order; a refusal is an outcome, not a failure."""
    soft = morphine(daily_dose_ug=11_000, max_daily_dose_ug=12_000)
    hard = morphine(daily_dose_ug=15_001, max_daily_dose_ug=15_001)

    def program_soft(session):
        findings = session.validate(soft)
        return session.program(soft, sorted(f.limit for f in findings if f.severity == Severity.SOFT))

    def alarm(session):
        session.test.inject_fault(Fault.MOTOR_STALL)
        return session.wait_for_event(lambda e: getattr(e, "code", None) == Alarm.MOTOR_STALL, timeout=2)

    def acknowledge(session):
        session.test.clear_fault(Fault.MOTOR_STALL)
        for entry in session.alarms():
            if entry.code == Alarm.MOTOR_STALL:
                session.ack_alarm(entry.code, entry.instance)

    return [
        ("reset", lambda s: s.test.reset(seed=SCENARIO_SEED)),
        ("clinician login", lambda s: s.authenticate(Role.CLINICIAN)),
        ("refill morphine 20 mg/mL", lambda s: s.refill(Drug.MORPHINE, MORPHINE_UG_PER_ML, 20_000)),
        # Off the delivery grid: 1 µL of basal every 576 s from programming, and midnight, the
        # re-announcement intervals and the warps' ends all fall well between two steps of it.
        ("100 s pass", lambda s: s.test.warp_clock(100)),
        ("hard limit refused", lambda s: s.program(hard)),
        ("validate and program with overrides", program_soft),
        ("program 3 mg/day", lambda s: s.program(morphine())),
        ("read back", lambda s: s.prescription()),
        ("status", lambda s: s.status()),
        ("clinician bolus", lambda s: s.clinician_bolus(400, 3_600)),
        ("95 minutes pass", lambda s: s.test.warp_clock(5_700)),
        ("status after", lambda s: s.status()),
        ("patient login", lambda s: s.authenticate(Role.PATIENT)),
        ("PTM bolus", lambda s: s.ptm_bolus()),
        ("PTM bolus in lockout", lambda s: s.ptm_bolus()),
        ("motor stall", alarm),
        ("clinician login again", lambda s: s.authenticate(Role.CLINICIAN)),
        ("alarms", lambda s: s.alarms()),
        ("clear and acknowledge", acknowledge),
        ("low reservoir", lambda s: s.test.set_reservoir(1_500)),
        ("most of a day passes", lambda s: s.test.warp_clock(86_000)),
        ("status with alarms", lambda s: s.status()),
        ("event log", lambda s: s.download_log()),
        ("counters", lambda s: s.test.counters()),
        ("logout", lambda s: s.logout()),
    ]


def run_scenario(session):
    """Run the script on a connected session in test mode; returns [(step, outcome text)]."""
    outcomes = []
    for name, step in _steps():
        try:
            answer = step(session)
            if answer is None:
                text = "ok"
            elif isinstance(answer, (list, tuple)) and not hasattr(answer, "_fields"):
                text = "%d items" % len(answer)
            else:
                text = getattr(answer, "name", None) or type(answer).__name__
            outcomes.append((name, text))
        except PumpRefusedError as refusal:
            outcomes.append((name, "refused %s" % getattr(refusal.error, "name", refusal.error)))
        session.poll_events()  # take events as they come, so the ACKs go out in the same place
    return outcomes


def record_scenario(url, transcript_path, tap=None, **connect_options):
    """Connect to `url`, run the scenario recording every frame; returns a dict (status, steps, error).

    tap: a second recorder that sees the same frames (the bench's LastFrames)."""
    connect_options.setdefault("timeout", ANSWER_TIMEOUT_S)
    recorder = TranscriptRecorder(str(transcript_path), meta={"url": url})
    try:
        with connect(url, host_session_id=HOST_SESSION_ID, transcript=recorder if tap is None else Tee(recorder, tap),
                     **connect_options) as session:
            if not session.test.available:
                return {"status": "skipped", "error": "the target is not in test mode: the scenario "
                        "needs TC_RESET to start both sides from the same state", "steps": []}
            return {"status": "ran", "error": None, "steps": run_scenario(session)}
    except (HarnessError, OSError) as error:  # a board that stops answering mid-scenario: no HELLO answer either
        return {"status": "error", "error": "%s: %s" % (type(error).__name__, error), "steps": []}
    finally:
        recorder.close()


def _directions(entries):
    """(the host's requests, everything the pump sent): what the diff compares."""
    requests = [e for e in entries if e["dir"] != PUMP_TO_HOST and e.get("kind") != "ACK"]
    answers = [e for e in entries if e["dir"] == PUMP_TO_HOST]
    return requests, answers


def _without_leading_noise(entries):
    """Entries from the first decoded frame on: bytes a board printed while booting are not the scenario's."""
    entries = list(entries)
    first = next((i for i, e in enumerate(entries) if e.get("kind") is not None), len(entries))
    noise = [e for e in entries[:first] if e["dir"] == PUMP_TO_HOST]
    return entries[first:], sum(len(e["wire"]) // 2 for e in noise)


def clock_tolerance_s(*transcripts):
    """How far apart the two sides' pump-clock stamps may be: the clock's resolution plus the
    longest transcript's span in seconds (each pump clock started at 0 with the scenario's reset)."""
    spans = [max([e["t"] for e in entries] or [0]) - min([e["t"] for e in entries] or [0]) for entries in transcripts]
    return CLOCK_TOLERANCE_S + math.ceil(max(spans or [0]))


def compare(reference_path, target_path, ignore=IGNORED_FIELDS):
    """(differences, noise bytes, within tolerance, tolerance s): readable differences between the two
    transcripts (a = emulator, b = target), and the pump-clock stamps that differ within the tolerance.

    Each line starts with the direction; a#N / b#N count that direction's frames (host ACKs left out).
    """
    reference, _ = _without_leading_noise(read_transcript(reference_path))
    target, noise_bytes = _without_leading_noise(read_transcript(target_path))
    tolerance_s = clock_tolerance_s(reference, target)
    differences, tolerated = [], []
    for label, a, b in zip(("host>pump", "pump>host"), _directions(reference), _directions(target)):
        found = compare_transcripts(a, b, ignore=ignore, tolerance_s=tolerance_s)
        differences += ["%s: %s" % (label, line) for line in found.differences]
        tolerated += ["%s: %s" % (label, line) for line in found.within_tolerance]
    return differences, noise_bytes, tolerated, tolerance_s
