"""`pumpmock perf`: run every benchmark (bench/perf_*.py) and write bench/results/report.json.

The same as `python -m bench` in a source checkout, whose arguments it passes on:

    pumpmock perf                  # every benchmark, full length (minutes)
    pumpmock perf --quick          # short runs, as CI does
    pumpmock perf --only codec,transport

Each benchmark runs in its own process; the report holds every result and the machine's details.
"""

import pathlib
import subprocess
import sys

CHECKOUT = pathlib.Path(__file__).resolve().parent.parent.parent
BENCH_MAIN = CHECKOUT / "bench" / "__main__.py"


def add_arguments(parser):
    parser.add_argument("--quick", action="store_true", help="short runs of the scripts that accept --quick")
    parser.add_argument("--only", metavar="NAMES", help="comma-separated benchmark names, e.g. codec,transport")


def main(args):
    if not BENCH_MAIN.is_file():
        print("pumpmock perf: the benchmarks live in a source checkout (bench/ beside harness/), and %s "
              "is not there" % BENCH_MAIN, file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "bench"]
    if args.quick:
        command.append("--quick")
    if args.only:
        command += ["--only", args.only]
    # bench is a top-level package of the checkout, not installed: run it from there.
    return subprocess.run(command, cwd=CHECKOUT).returncode
