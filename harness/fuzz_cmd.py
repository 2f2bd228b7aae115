"""`pumpmock fuzz`: fuzz a pump for a time budget; every failure saved as a minimal, replayable transcript.

    pumpmock fuzz                                   the in-process emulator, 60 s, seed 0
    pumpmock fuzz "exec:pumpmock micropython --test-mode" --budget 5m --seed 7
    pumpmock fuzz /dev/ttyACM0 --examples-db fuzz-db   a board; the database can be shared
    pumpmock fuzz --replay fuzz-failures/stateful-1-....jsonl [URL]   does it still fail?

Against the in-process emulator a quarter of the budget goes to mutation fuzzing of the
firmware core (malformed and mutated frames straight into its parser), the rest to model-based
stateful fuzzing (hypothesis) through the URL; any other target gets stateful fuzzing only,
which needs test mode (TC_RESET before each example). Failures are shrunk by hypothesis and
saved in --failures DIR. The same seed and budget give the same cases against the same pump.
Exit status: 0 nothing found, 1 failures found (or a replay still fails), 2 bad arguments, an
unreadable, empty or truncated --replay transcript, or a target refused or out of reach,
3 nothing could be fuzzed (no test mode). --allow-usb / --allow-port add your own board.
"""

import json
import re
import sys
import time

from . import DEFAULT_URL, normalize_url
from .cli import baud_rate, positive_int, positive_seconds
from .interlock import add_allow_arguments, allowlist_from_args

DEFAULT_BUDGET = "60s"
DEFAULT_FAILURES_DIR = "fuzz-failures"
BAR_WIDTH = 24
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_budget(text):
    """'90', '90s', '5m', '1.5h' -> seconds (ValueError otherwise)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text or "")
    if not match or float(match.group(1)) <= 0:
        raise ValueError("--budget %r: give a positive duration such as 60s, 5m or 1h" % text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def add_arguments(parser):
    parser.add_argument("url", nargs="?", default=DEFAULT_URL,
                        help="the target (default %(default)s: the in-process emulator)")
    parser.add_argument("--budget", default=DEFAULT_BUDGET, metavar="TIME",
                        help="how long to fuzz: 90, 90s, 5m, 1h (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="the campaign's seed (default 0)")
    parser.add_argument("--examples-db", metavar="DIR",
                        help="hypothesis's example database: failures found before are tried first; "
                             "copy or share it between machines")
    parser.add_argument("--failures", default=DEFAULT_FAILURES_DIR, metavar="DIR",
                        help="where failing examples are saved as transcripts (default %(default)s)")
    parser.add_argument("--mode", action="append", choices=["mutation", "stateful"],
                        help="only this kind of fuzzing (repeatable; mutation needs the in-process emulator)")
    parser.add_argument("--steps", type=positive_int, metavar="N", help="rules per stateful example (default 25)")
    parser.add_argument("--timeout", type=positive_seconds, metavar="S", help="read timeout per answer, for slow targets")
    parser.add_argument("--baud", type=baud_rate, metavar="N", help="baud rate of a serial target")
    parser.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    parser.add_argument("--replay", metavar="TRANSCRIPT",
                        help="replay a saved failure against URL and say whether it still fails")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_allow_arguments(parser)


class ProgressBar:
    """One line on stderr, redrawn in place on a terminal, or a line every tenth of the budget."""

    def __init__(self, budget_s, stream=None, enabled=True):
        self.budget_s = budget_s
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.next_line_s = 0.0
        self.offset_s = 0.0  # time spent in earlier modes, so the bar covers the whole campaign
        self.started = time.monotonic()

    def __call__(self, stats, elapsed_s, failures):
        if not self.enabled:
            return
        total = time.monotonic() - self.started
        if not self.tty and total < self.next_line_s:
            return
        self.next_line_s = total + self.budget_s / 10
        done = min(total / self.budget_s, 1.0) if self.budget_s else 1.0
        filled = int(done * BAR_WIDTH)
        cases = stats.get("cases", stats.get("steps", 0))
        rate = cases / elapsed_s if elapsed_s else 0
        text = "[%s%s] %5.1f/%g s  %d cases (%.0f/s)  %d failure%s" % (
            "#" * filled, "." * (BAR_WIDTH - filled), total, self.budget_s, cases, rate, failures,
            "" if failures == 1 else "s")
        self.stream.write(("\r" + text) if self.tty else text + "\n")
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def summary(result):
    """The campaign's result as a table and a list of failures."""
    lines = ["", "%-9s %10s %10s %10s %9s" % ("mode", "cases", "cases/s", "seconds", "failures")]
    for part in result.get("results", []):
        lines.append("%-9s %10d %10.0f %10.1f %9d" % (part["mode"], part["cases"], part["cases_per_s"],
                                                      part["seconds"], part["failures"]))
    lines.append("")
    if result["status"] == "not available":
        lines.append("NOTHING FUZZED: %s" % result["reason"])
        if result.get("overran_s"):
            from .fuzz.campaign import overran_line
            lines.append(overran_line(result))
        return "\n".join(lines)
    distinct = result["failures"]
    lines.append("%s: %d distinct failure%s, seed %d" % (
        "FAILED" if distinct else "PASSED", len(distinct), "" if len(distinct) == 1 else "s", result["seed"]))
    for line in distinct:
        lines.append("  " + line)
    for line in result.get("harness_errors", []):
        lines.append("not a finding (the fuzzer's own error, the run went on): " + line)
    if result.get("unjudged_writes"):
        from .fuzz.campaign import unjudged_line
        lines.append(unjudged_line(result))
    if result.get("overran_s"):
        from .fuzz.campaign import overran_line
        lines.append(overran_line(result))
    for part in result.get("results", []):
        if part.get("stopped"):
            lines.append("stopped before the budget: %s" % part["stopped"])
    if distinct:
        lines.append("replay one: pumpmock fuzz --replay TRANSCRIPT [URL]")
    return "\n".join(lines)


def connect_options(args):
    options = {"allowlist": getattr(args, "allowlist", None)}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.baud is not None:
        options["baudrate"] = args.baud
    return options


def main(args):
    from . import vet_url
    from .errors import HarnessError
    url = normalize_url(args.url)
    try:  # every argument checked before anything opens: one line, status 2
        args.allowlist = allowlist_from_args(args)
        vet_url(url, args.allowlist)
    except (ValueError, HarnessError) as error:
        print("pumpmock fuzz: %s" % error, file=sys.stderr)
        return 2
    if args.replay:
        from .fuzz.replay import replay_failure
        try:
            verdict = replay_failure(args.replay, url, **connect_options(args))
        except (OSError, ValueError, HarnessError) as error:
            print("pumpmock fuzz: %s" % error, file=sys.stderr)
            return 2
        print(verdict.text)
        return 1 if verdict.fails else 0
    try:
        budget_s = parse_budget(args.budget)
    except ValueError as error:
        print("pumpmock fuzz: %s" % error, file=sys.stderr)
        return 2
    from .fuzz.campaign import in_process, run_campaign
    if args.mode and "mutation" in args.mode and not in_process(url):
        print("pumpmock fuzz: mutation fuzzing runs on the in-process emulator only (pumpmock://)", file=sys.stderr)
        return 2
    print("fuzzing %s for %g s, seed %d; failures go to %s" % (url, budget_s, args.seed, args.failures),
          file=sys.stderr, flush=True)
    bar = ProgressBar(budget_s, enabled=not args.quiet)
    try:
        result = run_campaign(url, budget_s=budget_s, seed=args.seed, examples_db=args.examples_db,
                              failures_dir=args.failures, progress=bar, modes=args.mode, steps=args.steps,
                              test_mode=_test_mode(url, connect_options(args)), **connect_options(args))
    except (HarnessError, OSError) as error:  # refused, or could not be opened or reached at all
        bar.close()
        print("pumpmock fuzz: cannot fuzz %s: %s" % (url, error), file=sys.stderr)
        return 2
    bar.close()
    print(summary(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({k: v for k, v in result.items() if k != "details"}, handle, indent=2, default=str)
    return {"passed": 0, "failed": 1}.get(result["status"], 3)


def _test_mode(url, options):
    """Whether the target accepts test control (its identity says so); the handshake also runs the interlock."""
    from . import connect
    with connect(url, **options) as session:
        return bool(session.identity.test_mode)
