"""Run every benchmark (bench/perf_*.py), print issue 15's figures against their targets, write one report.

    python -m bench [--quick] [--only codec,transport] [--report-only] [--markdown]

Each perf script runs in its own process (so one's warm caches don't flatter another), prints
its numbers and writes bench/results/<name>.json; this collects them with the machine info
into bench/results/report.json, then prints one table: each figure issue 15 names, CPython's
value, MicroPython's beside it where there is one, the target and whether it is met. The exit
status is 1 when a target is missed or a script failed (0 with --report-only). Figures come
from the scripts that ran: with --only, the others show as not run.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

from bench.common import RESULTS, machine

HERE = pathlib.Path(__file__).resolve().parent


class Figure:
    """One line of the table: where the value is in the results, and the target (None: reported only)."""

    def __init__(self, label, path, target=None, at_most=False, micropython=None, unit="", scale=1, note=""):
        self.label, self.path, self.target, self.at_most = label, path, target, at_most
        self.micropython, self.unit, self.scale, self.note = micropython, unit, scale, note

    def value(self, benchmarks, path=None):
        path = path or self.path
        if path is None:
            return None
        node = benchmarks.get(path[0], {}).get("results")
        for key in path[1:]:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node * self.scale if isinstance(node, (int, float)) and not isinstance(node, bool) else None

    def met(self, value):
        if self.target is None or value is None:
            return None
        return value <= self.target if self.at_most else value >= self.target


FIGURES = [
    Figure("firmware core, GET_STATUS/s in-process", ("perf_firmware", "get_status_requests_per_s"), 250_000,
           micropython=("perf_micropython", "inside_pump_receive_per_s")),
    Figure("reference client, round trips/s in-process", ("perf_transport", "inprocess", "round_trips_per_s"),
           100_000, micropython=("perf_micropython", "end_to_end_ping_pong_per_s"),
           note="MicroPython: through the runner's stdio"),
    Figure("stream decode, status frames/s", ("perf_codec", "stream_decode_frames_per_s"), 300_000),
    Figure("stream decode / construct compiled parse, same payload", ("perf_codec", "stream_vs_construct_compiled_ratio"),
           2.0, unit="x"),
    Figure("pty round trip, polling off, % of a raw pty echo that does not poll",
           ("perf_transport", "pty_no_busy_poll_vs_raw_echo_pct"), 70, unit="%"),
    Figure("busy-poll default / polling off, hog on every CPU, TCP", ("perf_polling", "tcp_loaded", "default_vs_off"),
           0.9, unit="x"),
    Figure("busy-poll default / polling off, hog on every CPU, pty", ("perf_polling", "pty_loaded", "default_vs_off"),
           0.9, unit="x"),
    Figure("busy-poll default / best setting, idle, TCP", ("perf_polling", "tcp_idle", "default_vs_best"), 0.9, unit="x"),
    Figure("busy-poll default / best setting, idle, pty", ("perf_polling", "pty_idle", "default_vs_best"), 0.9, unit="x"),
    Figure("spawned pump's first HELLO answer, s", ("perf_transport", "stdio_first_hello", "median_s"), 0.3,
           at_most=True, micropython=("perf_micropython", "startup_to_first_answer_ms"),
           note="serve --stdio; MicroPython: the runner; the target is for an idle machine"),
    Figure("serve --tcp, round trips/s (default polling)", ("perf_transport", "tcp", "round_trips_per_s")),
    Figure("serve --rfc2217, round trips/s", ("perf_transport", "rfc2217", "round_trips_per_s")),
    Figure("serve --stdio behind exec:, round trips/s", ("perf_transport", "stdio", "round_trips_per_s")),
    Figure("serve --tcp --faults (a clean fault line), round trips/s", ("perf_transport", "tcp_faults_none", "round_trips_per_s")),
    Figure("serve --tcp --faults 1% corrupt/drop/duplicate, round trips/s",
           ("perf_transport", "tcp_faults_1pct", "round_trips_per_s"), note="20 ms client timeout"),
    Figure("test suite on 2 cores, minutes", None, 5, at_most=True, note="not measured here: the time of .ci/run"),
]
# The MicroPython startup figure is in ms; the table shows seconds.
_MICROPYTHON_SCALE = {"startup_to_first_answer_ms": 0.001}


def scripts():
    return sorted(p.stem for p in HERE.glob("perf_*.py"))


def _shown(value, unit):
    if value is None:
        return "-"
    if unit == "x":
        return "%.2fx" % value
    if unit == "%":
        return "%.0f %%" % value
    if abs(value) >= 1000:
        return "{:,.0f}".format(value)
    return "%.3g" % value


def table(benchmarks):
    """Rows (label, CPython, MicroPython, target, verdict) and the number of targets missed."""
    rows, missed = [], 0
    for figure in FIGURES:
        value = figure.value(benchmarks)
        micro = None
        if figure.micropython:
            micro = figure.value(benchmarks, figure.micropython)
            if micro is not None:
                micro *= _MICROPYTHON_SCALE.get(figure.micropython[-1], 1)
        met = figure.met(value)
        if figure.target is None:
            verdict = "reported" if value is not None else "not run"
            target = "-"
        else:
            target = ("<= " if figure.at_most else ">= ") + _shown(figure.target, figure.unit)
            if figure.path is None:
                verdict = "not measured"
            elif value is None:
                verdict = "not run"
            else:
                verdict = "met" if met else "NOT MET"
                missed += not met
        rows.append((figure.label, _shown(value, figure.unit), _shown(micro, figure.unit), target, verdict))
    return rows, missed


def notes():
    return ["%s: %s" % (figure.label, figure.note) for figure in FIGURES if figure.note]


HEADER = ("figure (issue 15)", "CPython", "MicroPython", "target", "")


def print_table(rows, out=sys.stdout):
    widths = [max(len(row[i]) for row in rows + [HEADER]) for i in range(len(HEADER))]
    for row in [HEADER] + rows:
        print("  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                        for i, (cell, width) in enumerate(zip(row, widths))).rstrip(), file=out)


def markdown_table(rows):
    lines = ["| " + " | ".join(HEADER[:4]) + " | met |", "|---|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run every pumpmock benchmark, print issue 15's figures "
                                                 "against their targets and write one JSON report.")
    parser.add_argument("--quick", action="store_true", help="pass --quick to scripts that accept it")
    parser.add_argument("--only", help="comma-separated names, e.g. codec,transport")
    parser.add_argument("--report-only", action="store_true",
                        help="exit 0 even when a target is missed (a script that fails still fails)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown too")
    args = parser.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else None
    report = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "load_average_1min_at_start": round(os.getloadavg()[0], 2), "benchmarks": {}}
    failed = []
    for name in scripts():
        if wanted and name.removeprefix("perf_") not in wanted:
            continue
        command = [sys.executable, "-m", "bench." + name]
        source = (HERE / (name + ".py")).read_text()
        if args.quick and "--quick" in source:
            command.append("--quick")
        print("== %s" % " ".join(command[2:]), flush=True)
        started = time.perf_counter()
        run = subprocess.run(command, cwd=HERE.parent)
        result_file = RESULTS / (name + ".json")
        entry = {"exit_status": run.returncode, "seconds": round(time.perf_counter() - started, 2)}
        if run.returncode == 0 and result_file.exists():
            entry["results"] = json.loads(result_file.read_text())["results"]
        else:
            failed.append(name)
        report["benchmarks"][name] = entry
    report["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    rows, missed = table(report["benchmarks"])
    report["issue_15"] = [dict(zip(("figure", "cpython", "micropython", "target", "verdict"), row)) for row in rows]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print()
    print("%d CPUs, load average %.2f at the start and %.2f at the end (1 min)"
          % (report["machine"]["cpus"], report["load_average_1min_at_start"], report["load_average_1min_at_end"]))
    print_table(rows)
    for line in notes():
        print("  - " + line)
    if args.markdown:
        print()
        print(markdown_table(rows))
    print("wrote %s" % (RESULTS / "report.json"))
    for name in failed:
        print("%s failed (exit status %d)" % (name, report["benchmarks"][name]["exit_status"]))
    if missed:
        print("%d target%s not met" % (missed, "" if missed == 1 else "s"))
    if failed:
        return 1
    return 0 if args.report_only or not missed else 1


if __name__ == "__main__":
    sys.exit(main())
