"""Run every benchmark (bench/perf_*.py) and write one report: bench/results/report.json.

    python -m bench [--quick] [--only codec,transport]

Each perf script runs in its own process (so one's warm caches don't flatter another), prints
its numbers and writes bench/results/<name>.json; this collects them with the machine info.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time

from bench.common import RESULTS, machine

HERE = pathlib.Path(__file__).resolve().parent


def scripts():
    return sorted(p.stem for p in HERE.glob("perf_*.py"))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run every pumpmock benchmark and write one JSON report.")
    parser.add_argument("--quick", action="store_true", help="pass --quick to scripts that accept it")
    parser.add_argument("--only", help="comma-separated names, e.g. codec,transport")
    args = parser.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else None
    report = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "benchmarks": {}}
    status = 0
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
            status = 1
        report["benchmarks"][name] = entry
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print("wrote %s" % (RESULTS / "report.json"))
    return status


if __name__ == "__main__":
    sys.exit(main())
