"""Run the bench against a board: conformance checks, a memory workload (a full event log, its
download, a power loss with it), a bounded fuzz campaign, link measurements, and the same scripted
scenario on the board and on the emulator, diffed; the firmware's heap read around every phase
(heapwatch.py). Writes a report.

    pumpmock bench --port /dev/ttyACM0                        # a board flashed with --test-mode
    pumpmock bench --port "exec:pumpmock micropython --test-mode"   # rehearsal
    pumpmock bench --port /dev/pts/5 --baud 115200            # rehearsal: emulator on a paced pty

A device path goes through the USB allowlist first, then the peer must answer HELLO as the mock;
either refusal stops the run before anything else is sent. Any URL the harness opens is accepted
too (exec:..., socket://..., pumpmock://...), which is how CI rehearses the bench without a board.

The report directory gets report.json (everything), summary.txt (readable), the two scenario
transcripts (emulator.jsonl, target.jsonl), diff.txt and target-session.jsonl (every frame the
bench exchanged with the target outside the fuzz campaign). Exit status: 0 (verdict pass) when
every section ran, no check failed, fuzzing found nothing, the transcripts agree and no phase
crossed a heap budget; 1 (fail) when something failed, the target stopping answering included; 2 when the target was refused or
never answered its first HELLO; 3 (incomplete) when nothing failed but a section could not run
(no test mode, no fuzzing available): never a pass by omission. Link findings (a 16 ms latency
timer, say) are reported but do not fail the run.

A target that stops answering mid-run ends the run with a report all the same: after every
section (and every failed check) the bench says HELLO; when a few in a row go unanswered, the
sections left are not run, and the report's "died" section has when the target died (its last
answer, and when the bench noticed), during which section, the last frames, and for a board on
a serial port the firmware's traceback from /pumpmock_crash.txt (read with mpremote).
"""

import datetime
import pathlib
import sys
import time

from serial import SerialException

from pumpmock.protocol.codes import Role

from .. import connect, is_device_path, normalize_url, vet_url
from ..checks import CHECKS, run_checks
from ..errors import HarnessError, SafetyInterlockError
from ..interlock import Allowlist, add_allow_arguments, is_pty
from . import fuzzing, heapwatch, liveness, measure, report as reporting, scenario
from .deploy import CRASH_FILE, MpremoteDeployer

DEFAULT_BAUD = 115200
DEFAULT_ROUND_TRIPS = 200
DEFAULT_LOG_ENTRIES = 240  # twenty READ_LOG pages
DEFAULT_FUZZ_SECONDS = 60
DEFAULT_FUZZ_SEED = 1


class BenchOptions:
    """What a bench run does; the defaults are a full bench run, `quick()` a CI rehearsal."""

    def __init__(self, baud=DEFAULT_BAUD, timeout_s=None, round_trips=DEFAULT_ROUND_TRIPS,
                 log_entries=DEFAULT_LOG_ENTRIES, fuzz_seconds=DEFAULT_FUZZ_SECONDS, fuzz_seed=DEFAULT_FUZZ_SEED,
                 only_checks=None, skip_checks=(), reference_url=scenario.EMULATOR_URL, allow_usb=(),
                 allow_ports=(), crash_reader=None, heap_budgets=None):
        self.baud = baud
        self.timeout_s = timeout_s
        self.round_trips = round_trips
        self.log_entries = log_entries
        self.fuzz_seconds = fuzz_seconds
        self.fuzz_seed = fuzz_seed
        self.only_checks = list(only_checks or [])
        self.skip_checks = list(skip_checks)
        self.reference_url = reference_url
        self.allow_usb = list(allow_usb)
        self.allow_ports = list(allow_ports)
        self.allowlist = Allowlist.load(usb=allow_usb, ports=allow_ports)  # ValueError for a malformed id
        # () -> the board's crash file text or None, asked when the target stopped answering;
        # None: mpremote on a serial device, nothing for other targets.
        self.crash_reader = crash_reader
        # The heap watch's budgets (heapwatch.BUDGETS; a test passes tiny ones to see a phase fail).
        self.heap_budgets = dict(heapwatch.BUDGETS, **(heap_budgets or {}))

    def connect_options(self):
        options = {"baudrate": self.baud, "allowlist": self.allowlist}
        if self.timeout_s is not None:
            options["timeout"] = self.timeout_s
        return options

    def crash_reader_for(self, url):
        if self.crash_reader is not None:
            return self.crash_reader
        if is_device_path(url) and not is_pty(url):
            return lambda: MpremoteDeployer(url, timeout_s=20).read_text(CRASH_FILE)
        return None


class Lifeline:
    """Whether the target still answers, asked between sections; the report's "died" once it does not."""

    def __init__(self, url, options, frames, started_wall, progress):
        self.url = url
        self.options = options
        self.frames = frames
        self.started_wall = started_wall
        self.progress = progress
        self.death = None

    def tapped(self):
        """Connect options that record into the run's LastFrames."""
        return dict(self.options.connect_options(), transcript=self.frames)

    def still_answers(self, section):
        """False (and self.death filled in) when the target no longer answers HELLO."""
        if self.death is not None:
            return False
        why = liveness.silent(self.url, self.options.connect_options())
        if why is None:
            return True
        self.progress("the target stopped answering during %s: %s" % (section, why))
        self.death = liveness.obituary(self.frames, self.started_wall, section, why,
                                       self.options.crash_reader_for(self.url))
        return False

    def not_run(self):
        return "the target stopped answering during %s" % self.death["during"]


def target_kind(url):
    if url.startswith("exec://"):
        return "exec (a child process's stdin/stdout)"
    if url.startswith("pumpmock://"):
        return "in-process emulator"
    if url.startswith(("socket://", "rfc2217://")):
        return "network"
    if is_device_path(url):
        return "pseudo-terminal" if is_pty(url) else "serial device"
    return url.split("://")[0]


def bench(port, report_dir, options=None, progress=print):
    """Run the bench against `port`; writes the report into `report_dir` and returns it (a dict).

    Raises SafetyInterlockError (the port is off the allowlist, or the peer is not the mock)
    before sending anything but HELLO.
    """
    options = options or BenchOptions()
    url = normalize_url(port)
    report_dir = pathlib.Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    started_wall = time.time()
    report = {"pumpmock_bench": reporting.REPORT_VERSION,
              "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": reporting.machine(),
              "target": {"port": port, "url": url, "kind": target_kind(url)},
              "findings": []}

    # 1. The interlock, then the handshake: nothing else is sent to a peer that fails either.
    report["target"]["interlock"] = vet_url(url, options.allowlist).reason  # hardware by any scheme: the allowlist
    with connect(url, **options.connect_options()) as session:
        identity = session.identity
    report["target"]["identity"] = {"serial": identity.serial, "firmware_version": "%d.%d" % (
        identity.firmware_version >> 8, identity.firmware_version & 0xFF), "test_mode": bool(identity.test_mode),
        "protocol_version": identity.protocol_version, "capacity_ul": identity.capacity_ul}
    progress("target %s: %s; HELLO from %s, test mode %s" % (port, report["target"]["interlock"], identity.serial,
                                                          "ON" if identity.test_mode else "OFF"))
    if not identity.test_mode:
        report["findings"].append("the target is not in test mode: checks that need test control, the "
                                  "fuzz campaign's resets and the scenario diff are skipped (flash with --test-mode)")

    frames = liveness.LastFrames(report_dir / "target-session.jsonl")
    lifeline = Lifeline(url, options, frames, started_wall, progress)
    # The firmware's heap, read around every section (where the target keeps one pump across
    # connections) and through the memory workload: a phase over its budget fails the run.
    heap = heapwatch.HeapWatch(url, lifeline.tapped(), budgets=options.heap_budgets,
                               available=bool(identity.test_mode))
    sections = (
        ("checks", "the conformance checks",
         lambda: heap.around("conformance checks", lambda: _checks(url, options, progress, lifeline)),
         lambda why: {"status": "not run", "reason": why, "counts": {"pass": 0, "fail": 0, "skip": 0},
                      "results": [], "not_run": [c.name for c in CHECKS]}),
        ("memory", "the memory workload", lambda: heap.memory_workload(progress),
         lambda why: {"status": "not run", "reason": why}),
        ("fuzz", "the fuzz campaign",
         lambda: heap.around("fuzz", lambda: _fuzz(url, options, progress, bool(identity.test_mode), report_dir)),
         lambda why: {"status": "not run", "reason": why}),
        ("link", "the link measurements",
         lambda: heap.around("link measurements", lambda: _link(url, options, progress, lifeline)),
         lambda why: {"status": "not run", "error": why}),
        ("transcript_diff", "the scenario",
         lambda: heap.around("scenario diff", lambda: _scenario(url, options, report_dir, progress, lifeline)),
         lambda why: {"status": "not run", "error": why, "differences": []}),
    )
    try:
        for key, title, run_section, skipped in sections:
            if lifeline.death is not None:
                report[key] = skipped(lifeline.not_run())
                continue
            try:
                report[key] = run_section()
            except Exception as error:  # noqa: BLE001 - a section that breaks is reported, never the end of the run
                report[key] = skipped("%s: %s" % (type(error).__name__, error))
                report[key]["status"] = "error"
            lifeline.still_answers(title)
    finally:
        frames.close()
    report["died"] = lifeline.death
    report["heap"] = heap.report()
    if lifeline.death is not None:
        death = lifeline.death
        report["findings"].insert(0, "the target stopped answering during %s (its last answer %s s into the run, "
                                     "noticed at %s s): %s" % (death["during"], death["last_answer_after_s"],
                                                               death["noticed_after_s"], death["error"]))

    failed_checks = [r["name"] for r in report["checks"]["results"] if r["status"] == "fail"]
    if failed_checks:
        report["findings"].append("conformance checks failed: " + ", ".join(failed_checks))
    if report["fuzz"]["status"] == "stopped":  # it fuzzed, but gave no verdict in the time it promised
        report["findings"].append("the fuzz campaign gave no verdict: %s" % report["fuzz"]["reason"])
    elif report["fuzz"]["status"] in ("not available", "error", "skipped", "not run"):
        report["findings"].append("no fuzzing was done: %s" % report["fuzz"]["reason"])
    if report["fuzz"]["status"] == "failed":
        report["findings"].append("fuzzing found %d failing example(s)" % len(report["fuzz"].get("failures", [])))
    if report["transcript_diff"]["status"] == "different":
        report["findings"].append("the target's transcript differs from the emulator's in %d place(s)"
                                  % len(report["transcript_diff"]["differences"]))
    for row in report["heap"]["phases"]:
        for crossed in row.get("over_budget", []):
            report["findings"].append("heap: %s %s" % (row["phase"], crossed))
    if report["memory"]["status"] == "error":
        report["findings"].append("the memory workload broke: %s" % report["memory"]["reason"])
    report["findings"] += report["link"].get("notes", [])
    failing = (failed_checks or lifeline.death is not None or report["fuzz"]["status"] in ("failed", "error")
               or report["transcript_diff"]["status"] in ("different", "error")
               or report["link"]["status"] == "error"
               or report["heap"]["status"] == "over budget" or report["memory"]["status"] == "error")
    # A section that could not run is not a pass: the verdict says so, and so does the exit status.
    not_run = [name for name, ran in (("fuzzing", report["fuzz"]["status"] in ("passed", "failed")),
                                      ("the scenario diff", report["transcript_diff"]["status"] in ("same", "different")),
                                      ("checks that need test control", identity.test_mode),
                                      ("the heap watch", not identity.test_mode
                                       or report["heap"]["status"] not in ("not available", "not measured")))
               if not ran]
    report["not_run"] = not_run
    report["verdict"] = "fail" if failing else "incomplete" if not_run else "pass"
    report["seconds"] = round(time.monotonic() - started, 2)
    json_path, summary_path = reporting.write_report(report, report_dir)
    report["files"] = {"json": str(json_path), "summary": str(summary_path)}
    return report


def _checks(url, options, progress, lifeline):
    selected = [c.name for c in CHECKS if (not options.only_checks or c.name in options.only_checks)
                and c.name not in options.skip_checks]

    def each(result):
        progress("  check %-4s %-50s %6.2fs %s" % (result.status, result.check.name, result.seconds, result.detail))

    progress("conformance checks (%d)" % len(selected))
    results = []
    for name in selected:  # one at a time: after a failure, whether the target is still there
        results += run_checks(url, [name], progress=each, **lifeline.tapped())
        if results[-1].status == "fail" and not lifeline.still_answers("the conformance checks"):
            break
    ran = {r.check.name for r in results}
    rows = [{"name": r.check.name, "status": r.status, "detail": r.detail, "seconds": round(r.seconds, 3)}
            for r in results]
    counts = {status: sum(1 for r in rows if r["status"] == status) for status in ("pass", "fail", "skip")}
    return {"status": "fail" if counts["fail"] else "pass", "counts": counts, "results": rows,
            "not_run": [c.name for c in CHECKS if c.name not in ran]}


def _fuzz(url, options, progress, test_mode, report_dir):
    """A bounded campaign through harness.fuzz's campaign API, when that API exists."""
    if options.fuzz_seconds <= 0:
        return {"status": "skipped", "reason": "--fuzz-seconds 0"}
    progress("fuzz campaign: %g s (stopped %g s after it starts), seed %d"
             % (options.fuzz_seconds, fuzzing.limit_s(options.fuzz_seconds), options.fuzz_seed))
    # Failing examples are saved as transcripts next to the report, to replay on a fixed board.
    return fuzzing.run_bounded(url, options.fuzz_seconds, options.fuzz_seed, test_mode, report_dir / "fuzz-failures",
                               timeout_s=options.timeout_s, baudrate=options.baud, allow_usb=options.allow_usb,
                               allow_ports=options.allow_ports)


def _link(url, options, progress, lifeline):
    progress("link: %d round trips, log download of %d entries at %d baud"
             % (options.round_trips, options.log_entries, options.baud))
    result = {"status": "measured", "baud": options.baud,
              "line_rate_bytes_per_s": measure.line_rate_bytes_per_s(options.baud)}
    try:
        with connect(url, **lifeline.tapped()) as session:
            if session.test.available:
                # A known state first: a fuzz campaign stopped mid-example can leave anything behind,
                # authentication locked out by forged MACs included.
                session.test.reset(seed=1)
            session.authenticate(Role.CLINICIAN)
            counter = measure.CountingPort.install(session)
            if url.startswith("pumpmock://") and "clock=virtual" in url:
                result["notes"] = ["the emulator runs on a virtual clock here: latencies are host CPU time, "
                                   "not a line's"]
            result["round_trips"] = measure.measure_round_trips(session, counter, options.round_trips, options.baud)
            result["log_download"] = measure.measure_log_download(session, counter, options.log_entries, options.baud)
    except Exception as error:  # a link that breaks under load is itself the finding
        result["status"] = "error"
        result["error"] = "%s: %s" % (type(error).__name__, error)
        return result
    result.setdefault("notes", [])
    result["notes"] += measure.link_findings(result["round_trips"], result["log_download"])
    return result


def _scenario(url, options, report_dir, progress, lifeline):
    progress("scenario on the emulator and on the target")
    emulator_path = report_dir / "emulator.jsonl"
    target_path = report_dir / "target.jsonl"
    section = {"emulator_url": options.reference_url, "emulator_transcript": str(emulator_path),
               "target_transcript": str(target_path), "ignored_fields": list(scenario.IGNORED_FIELDS)}
    reference = scenario.record_scenario(options.reference_url, emulator_path)
    target = scenario.record_scenario(url, target_path, tap=lifeline.frames, **options.connect_options())
    section["steps"] = {"emulator": _steps_text(reference), "target": _steps_text(target)}
    if target["status"] != "ran" or reference["status"] != "ran":
        failed = target if target["status"] != "ran" else reference
        section.update(status=failed["status"], error=failed["error"], differences=[])
        return section
    differences, noise_bytes, tolerated, tolerance_s = scenario.compare(emulator_path, target_path)
    (report_dir / "diff.txt").write_text("".join(line + "\n" for line in differences)
                                         + "".join("within tolerance: %s\n" % line for line in tolerated))
    section["differences"] = differences
    section["clock_tolerance_s"] = tolerance_s
    section["within_tolerance"] = tolerated
    section["noise_bytes_before_first_frame"] = noise_bytes
    section["status"] = "different" if differences else "same"
    return section


def _steps_text(outcome):
    return ["%s: %s" % step for step in outcome["steps"]]


# ---- pumpmock bench ------------------------------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("--port", required=True,
                        help="the board's serial port (/dev/ttyACM0, COM3), or any URL the harness opens "
                             "(exec:COMMAND, socket://HOST:PORT, pumpmock://...) to rehearse without a board")
    parser.add_argument("--report-dir", metavar="DIR",
                        help="where to write report.json, summary.txt and the transcripts "
                             "(default: bench-report-YYYYmmdd-HHMMSS in the current directory)")
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUD,
                        help="line rate: opens hardware ports at it, and is what efficiency is measured against")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="answer timeout in seconds (default: the protocol's 0.25 s)")
    parser.add_argument("--round-trips", type=int, default=DEFAULT_ROUND_TRIPS, metavar="N",
                        help="GET_STATUS round trips to time (default %(default)s)")
    parser.add_argument("--log-entries", type=int, default=DEFAULT_LOG_ENTRIES, metavar="N",
                        help="fill the event log to N entries and time its download (default %(default)s)")
    parser.add_argument("--fuzz-seconds", type=float, default=DEFAULT_FUZZ_SECONDS, metavar="S",
                        help="time budget of the fuzz campaign, stopped hard at its promised overrun past it "
                             "(campaign.overrun_s); 0 skips it "
                             "(default %(default)s)")
    parser.add_argument("--fuzz-seed", type=int, default=DEFAULT_FUZZ_SEED, metavar="N")
    parser.add_argument("--only-check", action="append", default=[], metavar="NAME",
                        help="run only this conformance check (repeatable; names: pumpmock check --list)")
    parser.add_argument("--skip-check", action="append", default=[], metavar="NAME",
                        help="do not run this conformance check (repeatable)")
    parser.add_argument("--reference", default=scenario.EMULATOR_URL, metavar="URL",
                        help="the emulator the scenario is compared with (default %(default)s)")
    add_allow_arguments(parser)


def main(args):
    unknown = [name for name in args.only_check + args.skip_check if name not in {c.name for c in CHECKS}]
    if unknown:
        print("pumpmock bench: no check named %s (see pumpmock check --list)" % ", ".join(map(repr, unknown)),
              file=sys.stderr)
        return 2
    try:
        options = BenchOptions(baud=args.baud, timeout_s=args.timeout, round_trips=args.round_trips,
                               log_entries=args.log_entries, fuzz_seconds=args.fuzz_seconds, fuzz_seed=args.fuzz_seed,
                               only_checks=args.only_check, skip_checks=args.skip_check,
                               reference_url=args.reference, allow_usb=args.allow_usb, allow_ports=args.allow_port)
    except ValueError as error:
        print("pumpmock bench: %s" % error, file=sys.stderr)
        return 2
    report_dir = args.report_dir or time.strftime("bench-report-%Y%m%d-%H%M%S")
    try:
        result = bench(args.port, report_dir, options, progress=lambda text: print(text, flush=True))
    except SafetyInterlockError as refusal:
        print("pumpmock bench: refused: %s" % refusal, file=sys.stderr)
        return 2
    except HarnessError as error:  # a bad URL, no such port, port busy, not reachable at all
        print("pumpmock bench: cannot open %s: %s" % (args.port, error), file=sys.stderr)
        return 2
    except (SerialException, OSError) as error:
        print("pumpmock bench: cannot open %s: %s" % (args.port, error), file=sys.stderr)
        return 2
    print()
    print(reporting.summary(result))
    print("\nwrote %s and %s" % (result["files"]["json"], result["files"]["summary"]))
    return {"pass": 0, "fail": 1, "incomplete": 3}[result["verdict"]]
