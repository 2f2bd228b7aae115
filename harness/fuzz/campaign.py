"""A fuzz campaign with a time budget: stateful (any URL) and mutation (in-process), failures saved as transcripts.

    result = run_campaign("pumpmock://?clock=virtual", budget_s=60, seed=1, examples_db="fuzz-db",
                          failures_dir="fuzz-failures")
    result["status"]          # "passed" or "failed"
    result["failures"]        # one line per distinct failure; the transcripts are in failures_dir

Each failure is the minimal example hypothesis shrank it to, saved as a transcript (JSON lines,
harness.transcript's format) with the program that produced it; `check_transcript` replays the
model over any transcript, so `replay()` of a saved failure on a fresh pump shows whether that
pump still has the defect. The example database directory (hypothesis's) can be copied or
shared between machines: a failure found anywhere is tried first everywhere.
"""

import collections
import functools
import os
import re
import time
import types

from hypothesis import HealthCheck, Phase, seed as hypothesis_seed, settings
from hypothesis.errors import Flaky, HypothesisException
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.internal.conjecture import engine
from hypothesis.reporting import with_reporter
from hypothesis.stateful import run_state_machine_as_test

from pumpmock.protocol.catalog import MESSAGES_BY_NAME
from pumpmock.protocol.framing import FrameDecoder

from ..errors import HarnessError
from ..transcript import TranscriptRecorder
from ..wire import HOST_TO_PUMP, PUMP_TO_HOST
from .model import REQUEST, parse_block
from .oracle import Checker, LostTrack, Violation, clock_report, frames_in

STATEFUL_BATCH = 25  # examples per hypothesis run: many short runs find more than one long one
FIRST_BATCH = 4  # until the time per example is known
MIN_SHRINK_S = 5.0  # a failure found at the end of the budget still gets this long to shrink
UNBOUNDED_SHRINK_S = 3600.0  # budget_s=None: only hypothesis's count of shrink steps bounds a shrink
# The campaign's promise: it ends within budget + overrun_s(budget). Past the budget it only
# finishes the exchange under way (a slow line's answer wait) or shrinks a late failure.
OVERRUN_FRACTION = 0.1
EXAMPLES_PER_BUDGET = 4  # on a slow target, steps per example are cut so that this many fit
SETUP_EXCHANGES = 4  # an example's reset, login and prescription before its first rule
MIN_STEPS = 3
WRAP_UP_S = 1.0  # of the overrun: saving transcripts, closing the link after the hard end
REPLAY_CLOCK_SLACK_MS = 3  # a replay's host clock and the pump's own, read to the ms at each end
TC_RESET = MESSAGES_BY_NAME["TC_RESET"].id  # a transcript is judged from its first reset on


# ---------------------------------------------------------------------------------------------
# Transcripts of failures, and checking any transcript against the model
# ---------------------------------------------------------------------------------------------
def save_record(record, path, meta):
    """Write a machine's byte record [(t s, direction, bytes)] as a transcript file."""
    start = record[0][0] if record else 0.0
    with TranscriptRecorder(path, meta=meta) as recorder:
        for t, direction, data in record:
            recorder.feed(direction, data, t - start)
    return path


def _writes(entries):
    """[(t, host bytes, [pump frames], t of the first answer, t of the last)]: consecutive host
    entries at one time are one write."""
    writes = []
    output = FrameDecoder()  # the pump's side, cut into frames
    for entry in entries:
        data = bytes.fromhex(entry["wire"])
        if entry["dir"] == HOST_TO_PUMP:
            if writes and writes[-1][0] == entry["t"] and not writes[-1][2]:
                writes[-1][1] += data
            else:
                writes.append([entry["t"], bytearray(data), [], None, None])
        elif entry["dir"] == PUMP_TO_HOST and writes:
            writes[-1][2].extend(frames_in(output, data))
            if writes[-1][3] is None:
                writes[-1][3] = entry["t"]
            writes[-1][4] = entry["t"]
    return writes


def check_transcript(entries, serial=None, capacity_ul=None, exact=True):
    """The first Violation the model finds in a transcript from its first TC_RESET on, or None."""
    header = getattr(entries, "header", {}) or {}
    meta = header.get("meta", {})
    serial = serial or meta.get("serial", "PM-000001")
    capacity_ul = capacity_ul or meta.get("capacity_ul", 20_000)
    checker = Checker(serial, capacity_ul)
    anchor = earliest = None
    writes = _writes(entries)
    # Recorded on a real clock, the pump timed its writes itself (TC_GET_CLOCK). Such a write is
    # judged at the ms the pump names (within a few ms of the host's reading), and the others a
    # few ms early, so the model is never ahead of the pump's next clock answer.
    timed = any(clock_report(bytes(data), frames) for _t, data, frames, _answered, _last in writes)
    for t, data, frames, answered, last in writes:
        data = bytes(data)
        since = earliest
        if anchor is None:
            resets = [f for f in map(parse_block, data.split(b"\x00")) if f and f[1] == REQUEST and f[2] == TC_RESET]
            if not resets:
                continue
            # On a real clock ms 0 is when the pump handled the reset: between its write and its
            # first answer (a pump still starting up, a child process say, handles it well after
            # the write; a descheduled host reads the answer well after the pump sent it).
            earliest = t
            anchor = answered if timed and answered is not None else t
            t = since = anchor  # the reset's own write defines ms 0: judged about its answer
        shell = round((t - anchor) * 1000)
        clock = clock_report(data, frames)
        if clock:
            # The pump handled the write between its sending and the last answer's arrival: on a
            # loaded machine that can be many ms after the host's reading; its clock answer pins it.
            # Later writes reach as far as the pump's clock can read: from the earliest moment
            # the reset can have been handled, its write.
            until = round((last - since) * 1000) if last is not None else shell
            lo, hi = shell - REPLAY_CLOCK_SLACK_MS, max(shell, until) + REPLAY_CLOCK_SLACK_MS
        else:  # the reset itself defines ms 0
            lo = hi = shell - REPLAY_CLOCK_SLACK_MS if timed and shell else shell
        try:
            checker.exchange(data, lo, hi, frames, exact=exact, events_in_any_order=True, clock=clock)
        except Violation as violation:
            return violation
        except LostTrack:
            return None
    return None


# ---------------------------------------------------------------------------------------------
# Stateful campaign
# ---------------------------------------------------------------------------------------------
def sized_steps(budget_s, round_trip_s):
    """Steps per example so that about EXAMPLES_PER_BUDGET examples fit the budget at the link's
    measured round trip (a slow board otherwise spends a whole budget inside one cut-short
    example, always hypothesis's first and simplest); never more than DEFAULT_STEPS."""
    from .stateful import DEFAULT_STEPS
    if round_trip_s <= 0:
        return DEFAULT_STEPS
    fit = int(budget_s / round_trip_s / EXAMPLES_PER_BUDGET) - SETUP_EXCHANGES
    return max(MIN_STEPS, min(DEFAULT_STEPS, fit))


def overrun_s(budget_s):
    """How far past budget_s a campaign may end: a tenth of it, at least MIN_SHRINK_S."""
    return max(budget_s * OVERRUN_FRACTION, MIN_SHRINK_S)


def _slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "failure"


def _exceptions(error):
    if isinstance(error, BaseExceptionGroup):
        out = []
        for inner in error.exceptions:
            out += _exceptions(inner)
        return out
    return [error]


def with_line_numbers(tb):
    """The traceback with a line number in every entry. On CPython 3.11 an alarm that lands on an
    instruction with no source line (a `with` block's cleanup) leaves tb_lineno None, and pytest
    then fails rendering the timeout with INTERNALERROR (a CI run lost the test that way); such an
    entry gets the frame's current line, or its function's first."""
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    if all(entry.tb_lineno is not None for entry in entries):
        return entries[0] if entries else None
    rebuilt = None
    for entry in reversed(entries):
        frame = entry.tb_frame
        line = entry.tb_lineno
        if line is None:
            line = frame.f_lineno or frame.f_code.co_firstlineno
        rebuilt = types.TracebackType(rebuilt, frame, entry.tb_lasti, line)
    return rebuilt


def run_stateful(url, budget_s=30.0, seed=0, examples_db=None, failures_dir=None, progress=None, steps=None,
                 max_examples=None, stats=None, ends_by=None, **connect_options):
    """Run the state machine against `url` until the budget or max_examples; returns a result dict.

    ends_by: time.monotonic() by which everything stops, a failure's shrink too (default: the
    budget + overrun_s(budget) from now, less WRAP_UP_S); a shrink cut there still reports its
    failure, the smallest example that failed by then.

    budget_s=None (with max_examples): no wall-clock bound at all, so the run is the same on a
    fast or a loaded machine: batches of fixed sizes up to max_examples examples, and a failure
    is shrunk as far as hypothesis's own count of shrink steps goes. For tests that assert what
    was found.
    """
    from . import stateful
    if budget_s is None and max_examples is None:
        raise ValueError("run_stateful: budget_s=None needs max_examples")
    unbounded = budget_s is None
    budget_s = float("inf") if unbounded else budget_s
    stats = stats if stats is not None else collections.Counter()
    failures, seen = [], set()
    harness_errors = []  # hypothesis's own errors: about this run, never findings about the pump
    started = time.monotonic()
    shown = [started]
    if ends_by is None and not unbounded:
        ends_by = started + budget_s + overrun_s(budget_s) - WRAP_UP_S

    def on_example():  # a few times a second, from inside a hypothesis run too
        now = time.monotonic()
        if now - shown[0] >= 0.25:
            shown[0] = now
            progress(stats, now - started, len(failures))

    # Opened before any example: a target that cannot be reached raises here (HarnessError or
    # OSError), once, instead of failing every example until the budget is spent.
    link = stateful.link_for(url, **connect_options)
    if steps is None and max_examples is None:  # a campaign by its budget alone (fuzz, bench)
        steps = sized_steps(budget_s, link.slowest_s)
    machine = stateful.machine_for(url, steps=steps or stateful.DEFAULT_STEPS, stats=stats, record=True,
                                   on_example=on_example if progress else None, **connect_options)
    machine.stop_on_runner_outcome = True
    stateful.PumpMachine.interrupted = None
    database = DirectoryBasedExampleDatabase(examples_db) if examples_db else None
    stopped = None
    batch = 0
    shrink_limit = engine.MAX_SHRINKING_SECONDS
    watch = stateful.runner_alarm_watched()
    watch.__enter__()
    try:
        while time.monotonic() - started < budget_s:
            if stateful.PumpMachine.interrupted is not None:
                raise stateful.PumpMachine.interrupted  # the alarm fired between hypothesis runs
            # Shrinking a long program can take minutes; the campaign's budget bounds it too
            # (hypothesis keeps this limit monkeypatchable for that). A cut-short shrink still
            # yields a failing, replayable example, only a longer one.
            engine.MAX_SHRINKING_SECONDS = UNBOUNDED_SHRINK_S if unbounded else \
                max(budget_s - (time.monotonic() - started), MIN_SHRINK_S)
            if max_examples is not None and stats["examples"] >= max_examples:
                break
            phases = [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink] if batch == 0 else \
                [Phase.generate, Phase.shrink]
            # The machine ends a run at the budget (BudgetSpent) unless the run failed: then the
            # count bounds what hypothesis does before it shrinks, so a slow target (a board, a
            # real clock) gets fewer examples per run.
            elapsed = time.monotonic() - started
            per_example = elapsed / stats["examples"] if stats["examples"] else 0.0
            count = FIRST_BATCH if not per_example else int(min(STATEFUL_BATCH, (budget_s - elapsed) / per_example))
            count = max(count, 1)
            if unbounded:  # the batch sizes of a fast machine, whatever this one's speed
                count = FIRST_BATCH if batch == 0 else STATEFUL_BATCH
            if max_examples is not None:
                count = min(count, max_examples - stats["examples"])
            # Unbounded (deterministic) runs stop at the first failure: hypothesis would otherwise
            # go on looking for other bugs until 10 s of wall time had passed, so how many examples
            # it tried, and so what it shrank, would depend on the machine's speed.
            run_settings = settings(max_examples=count, stateful_step_count=steps or stateful.DEFAULT_STEPS,
                                    deadline=None, database=database, phases=phases, print_blob=False,
                                    suppress_health_check=list(HealthCheck), report_multiple_bugs=not unbounded)
            # hypothesis digests the factory's source for its database key: a class's source is
            # found by parsing its whole module (~20 ms a run), a partial's lookup fails at once
            # and falls back to the name, which is all the dynamically made class gave anyway.
            factory = functools.partial(machine)
            factory.__name__ = machine.__name__
            stateful.PumpMachine.final_records = []
            stateful.PumpMachine.first_failure = stateful.PumpMachine.last_failure = None
            machine.deadline, machine.run_failed, machine.hard_end = started + budget_s, False, ends_by
            try:
                # Failures are collected below, not printed (nor hypothesis's note on a cut-short shrink).
                with with_reporter(lambda _text: None):
                    run_state_machine_as_test(hypothesis_seed(seed * 1_000_003 + batch)(factory), settings=run_settings)
            except stateful.BudgetSpent:
                # The budget is spent: the loop ends. If that cut a shrink (the hard end), the
                # smallest example that failed so far is the finding, shrunk or not.
                last = stateful.PumpMachine.last_failure
                if machine.run_failed and last is not None:
                    last["error"].add_note("(not fully shrunk: the campaign's end, budget + overrun_s, cut the shrink)")
                    entry = _failure_entry(last["error"], last, url, seed, failures_dir, len(failures) + 1)
                    if entry["key"] not in seen:
                        seen.add(entry["key"])
                        failures.append(entry)
            except stateful.Interrupted:
                # pytest-timeout's alarm (or pytest.exit) arrived inside an example: the test ends
                # now, with the runner's own exception, not after hypothesis shrank it as a failure.
                raise stateful.PumpMachine.interrupted from None
            except Exception as error:  # every failure the run shrank, as one exception or a group
                records = list(stateful.PumpMachine.final_records)
                found = _exceptions(error)
                first = stateful.PumpMachine.first_failure
                if isinstance(error, Flaky) and first is not None:
                    # Hypothesis could not run the failing example again to shrink it: the pump died
                    # for good, or on a real clock the rules drew differently the next time. The
                    # finding is the example as it first failed.
                    why = "the pump could not be reached again" if first["error"].category == stateful.GONE \
                        else "running it again went differently (the target's timing varies)"
                    first["error"].add_note("(as first seen, not shrunk: %s)" % why)
                    found, records = [first["error"]], [first]
                for failure in found:
                    if isinstance(failure, HypothesisException) and not isinstance(failure, BaseExceptionGroup):
                        harness_errors.append(_harness_error(failure))
                        continue
                    entry = _failure_entry(failure, _record_of(failure, records), url, seed,
                                           failures_dir, len(failures) + 1)
                    if entry["key"] not in seen:
                        seen.add(entry["key"])
                        failures.append(entry)
                stopped = _reconnect_if_gone(url, connect_options)
                if stopped:
                    break
            batch += 1
            if progress:
                progress(stats, time.monotonic() - started, len(failures))
    except BaseException as error:
        if stateful._is_runner_outcome(error):
            error.__traceback__ = with_line_numbers(error.__traceback__)
        raise
    finally:
        watch.__exit__(None, None, None)
        engine.MAX_SHRINKING_SECONDS = shrink_limit
        stateful.PumpMachine.interrupted = None
        stateful.close_links()
    seconds = time.monotonic() - started
    note = None
    if not stats["steps"] and not failures:
        # Not one rule ran (the reset and setup of the first example took the whole budget): no
        # verdict on the pump, and no failure either.
        note = ("the target is too slow for one example in %.0f s (%d exchanges): no fuzzing was done, this is not "
                "a pass; give a longer budget" % (seconds, stats["exchanges"]))
    return {"mode": "stateful", "note": note, "url": url, "seed": seed, "seconds": round(seconds, 2),
            "examples": stats["examples"], "cases": stats["steps"], "steps": stats["steps"],
            "exchanges": stats["exchanges"], "unjudged_writes": stats["unjudged_writes"],
            "unjudged_split_writes": stats["unjudged_split_writes"], "cases_per_s": round(stats["steps"] / seconds, 1) if seconds else 0.0,
            "failures": failures, "harness_errors": harness_errors, "stopped": stopped}


def unjudged_line(result):
    """One line for the writes a campaign left unjudged (bench/FUZZING.md, "Slow targets")."""
    return ("%d write(s) left unjudged (%d past SPLIT_WRITE_TRIES): the model could not place them in their "
            "window, so each ended its example with no verdict; not a finding, but that much less fuzzing"
            % (result.get("unjudged_writes", 0), result.get("unjudged_split_writes", 0)))


def overran_line(result):
    """One line for a campaign that ended past budget + overrun_s (result["overran_s"])."""
    return ("OVERRAN: the campaign ended %.1f s past its %g s budget + %g s overrun (campaign.overrun_s): an answer "
            "wait or a shrink outlasted the promise on this target" % (result["overran_s"], result["budget_s"],
                                                                      overrun_s(result["budget_s"])))


def _record_of(failure, records):
    """The byte record of the example that raised `failure` (hypothesis may report several
    failures in another order than it ran their final examples)."""
    for record in records:
        if record.get("error") is failure:
            return record
    for record in records:
        if str(record.get("error")) == str(failure):
            return record
    return None


def _reconnect_if_gone(url, connect_options):
    """After a failed run: reopen the link if the run left it broken (the pump crashed and came
    back, say). Returns why the campaign must stop when the pump cannot be reached, else None."""
    from . import stateful
    try:
        stateful.link_for(url, **connect_options)
    except (HarnessError, OSError) as gone:
        return "the pump cannot be reached any more: %s" % gone
    return None


def _harness_error(error):
    """One line for an error of hypothesis's own (inconsistent data generation on a target whose
    timing varies, say): the run could not go on as planned, and that says nothing of the pump."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return "hypothesis %s: %s" % (type(error).__name__, first)


def _failure_entry(error, record, url, seed, failures_dir, number):
    category = getattr(error, "category", type(error).__name__)
    message = str(error)
    program = "\n".join(getattr(error, "__notes__", []))
    entry = {"mode": "stateful", "category": category, "message": message, "program": program,
             "key": (category, message.splitlines()[0][:120] if message else ""), "transcript": None,
             "steps": record["steps"] if record else None}
    if failures_dir and record:
        os.makedirs(failures_dir, exist_ok=True)
        base = os.path.join(failures_dir, "stateful-%d-%s" % (number, _slug(category)))
        meta = {"url": url, "serial": record["serial"], "capacity_ul": record["capacity_ul"], "seed": seed,
                "category": category, "message": message, "program": program, "steps": record["steps"]}
        entry["transcript"] = save_record(record["record"], base + ".jsonl", meta)
        with open(base + ".txt", "w", encoding="utf-8") as handle:
            handle.write("%s\n\n%s\n\nreplay: pumpmock fuzz --replay %s URL\n" % (message, program, base + ".jsonl"))
    return entry


# ---------------------------------------------------------------------------------------------
# The whole campaign (pumpmock fuzz, pumpmock bench)
# ---------------------------------------------------------------------------------------------
def in_process(url):
    return url.startswith("pumpmock://")


def run_campaign(url, budget_s=60.0, seed=0, test_mode=None, examples_db=None, failures_dir=None, progress=None,
                 modes=None, steps=None, **connect_options):
    """Fuzz `url` for budget_s: mutation fuzzing in-process when the URL is the emulator, then stateful.

    Returns {"status": "passed"|"failed"|"not available", "examples", "cases", "seconds", "seed",
    "failures": [one line each], "results": [per mode], "transcripts": [...], "unjudged_writes",
    "unjudged_split_writes" (writes the model could not place: bench/FUZZING.md, "Slow targets")}.
    """
    from . import mutation
    connect_options = {k: v for k, v in connect_options.items() if v is not None}
    modes = list(modes or (["mutation", "stateful"] if in_process(url) else ["stateful"]))
    if test_mode is False and "stateful" in modes:
        modes.remove("stateful")
        if not modes:
            return {"status": "not available", "seed": seed, "reason": "the pump is not in test mode: stateful "
                    "fuzzing needs TC_RESET before every example (flash it with --test-mode)"}
    results = []
    started = time.monotonic()
    shares = {"mutation": 0.25, "stateful": 1.0}
    for index, mode in enumerate(modes):
        left = budget_s - (time.monotonic() - started)
        share = left if index == len(modes) - 1 else left * shares[mode]
        if mode == "mutation":
            results.append(mutation.run_mutation(budget_s=share, seed=seed, failures_dir=failures_dir,
                                                 progress=progress, url=url))
        else:
            results.append(run_stateful(url, budget_s=share, seed=seed, examples_db=examples_db,
                                        failures_dir=failures_dir, progress=progress, steps=steps,
                                        ends_by=started + budget_s + overrun_s(budget_s) - WRAP_UP_S,
                                        **connect_options))
    failures = [f for result in results for f in result["failures"]]
    notes = [r["note"] for r in results if r.get("note")]
    status = "failed" if failures else "not available" if notes and len(notes) == len(results) else "passed"
    seconds = time.monotonic() - started
    # Past its promise the verdict still stands, but the campaign says so: a caller that planned
    # on budget + overrun_s (the bench, a CI job) must hear why it waited longer.
    overran_s = round(seconds - budget_s - overrun_s(budget_s), 1)
    return {"status": status, "seed": seed, **({"reason": "; ".join(notes)} if status == "not available" else {}),
            "seconds": round(seconds, 2), "budget_s": budget_s,
            **({"overran_s": overran_s} if overran_s > 0 else {}),
            "examples": sum(r.get("examples", r.get("cases", 0)) for r in results),
            "cases": sum(r["cases"] for r in results),
            "unjudged_writes": sum(r.get("unjudged_writes", 0) for r in results),
            "unjudged_split_writes": sum(r.get("unjudged_split_writes", 0) for r in results),
            "failures": ["%s [%s]: %s%s" % (f["mode"], f["category"], f["message"].splitlines()[0],
                                            " -> %s" % f["transcript"] if f.get("transcript") else "")
                         for f in failures],
            "transcripts": [f["transcript"] for f in failures if f.get("transcript")],
            "results": [{k: v for k, v in r.items() if k != "failures"} | {"failures": len(r["failures"])}
                        for r in results],
            "harness_errors": [e for result in results for e in result.get("harness_errors", [])], "notes": notes,
            "details": failures}
