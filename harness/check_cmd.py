"""Run the built-in conformance checks against a target and print a summary table.

The target is a URL (default: the in-process emulator): a device path such as /dev/ttyACM0
(checked against the USB allowlist first), exec:COMMAND, socket://HOST:PORT or pumpmock://?....
The exit status is 0 when no check failed, 1 when one did, 2 when the arguments are wrong or
the target could not be checked at all (it cannot be opened, the interlock refuses it, or it
fails the handshake). --allow-usb / --allow-port add your own board to the allowlist.
"""

import json
import sys

from . import DEFAULT_URL, connect
from .checks import CHECKS, run_checks
from .cli import baud_rate, positive_seconds
from .errors import HarnessError
from .interlock import PortBusyError, add_allow_arguments, allowlist_from_args

MARKS = {"pass": "PASS", "fail": "FAIL", "skip": "skip"}


def add_arguments(parser):
    parser.add_argument("url", nargs="?", default=DEFAULT_URL, help="target URL (default: %(default)s)")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this check (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    parser.add_argument("--timeout", type=positive_seconds, default=None, help="response timeout in seconds")
    parser.add_argument("--baud", type=baud_rate, default=115200, help="line rate for hardware ports")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON (for a CI dashboard)")
    add_allow_arguments(parser)


def main(args):
    if args.list:
        for item in CHECKS:
            print("%-50s %s" % (item.name, item.doc.splitlines()[0] if item.doc else ""))
        return 0
    unknown = [name for name in args.only or () if name not in {item.name for item in CHECKS}]
    if unknown:
        print("pumpmock check: no check named %s (pumpmock check --list names them)" % ", ".join(unknown),
              file=sys.stderr)
        return 2
    try:
        allowlist = allowlist_from_args(args)
    except ValueError as error:
        print("pumpmock check: %s" % error, file=sys.stderr)
        return 2
    print("pumpmock check %s" % args.url)
    options = {k: v for k, v in dict(timeout=args.timeout, baudrate=args.baud, allowlist=allowlist).items()
               if v is not None}
    # The line is opened here once, its handshake the reachability test, and held until the last
    # check is done: closed and opened again, a served line is free for another client in between.
    line, problem = opened(args.url, **options)
    if problem:
        print("pumpmock check: cannot check %s: %s" % (args.url, problem), file=sys.stderr)
        return 2

    def progress(result):
        print("  %s  %-50s %6.2fs  %s" % (MARKS[result.status], result.check.name, result.seconds,
                                           result.detail), flush=True)

    try:
        results = run_checks(args.url, args.only, progress=progress, session=line, **options)
    except PortBusyError as error:  # the held line was lost mid-run and another client has it now
        print("pumpmock check: cannot check %s: %s" % (args.url, error), file=sys.stderr)
        return 2
    finally:
        line.close()
    counts = {status: sum(1 for r in results if r.status == status) for status in MARKS}
    if args.json:
        write_json(args.json, args.url, results, counts)
    print("\n%-10s %s" % ("result", "checks"))
    for status in ("pass", "fail", "skip"):
        print("%-10s %d" % (status, counts[status]))
    failed = [r for r in results if r.status == "fail"]
    if failed:
        print("\nFAILED: " + ", ".join(r.check.name for r in failed))
    elif not results:
        print("\nno check matched", file=sys.stderr)
        return 1
    return 1 if failed else 0


def opened(url, **options):
    """(session, None) with `url` open and its handshake passed, or (None, why no check could run)."""
    try:
        return connect(url, **options), None
    except (HarnessError, OSError) as error:  # OSError: pyserial could not open the port
        return None, str(error) or type(error).__name__


def write_json(path, url, results, counts):
    report = {"url": url, "counts": counts, "passed": counts["fail"] == 0 and bool(results),
              "checks": [{"name": r.check.name, "status": r.status, "detail": r.detail,
                          "seconds": round(r.seconds, 3)} for r in results]}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
