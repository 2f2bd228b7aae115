"""Shared benchmark plumbing: timing loops, machine info, and the JSON result file."""

import json
import os
import pathlib
import platform
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def machine():
    return {"python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "machine": platform.machine(), "system": platform.system(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}


def rate(function, seconds=0.5, batch=100):
    """Calls per second of `function`, running it in batches for about `seconds` (best of 3)."""
    best = 0.0
    for _ in range(3):
        calls = 0
        start = time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for _ in range(batch):
                function()
            calls += batch
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, calls / (now - start))
    return best


def write(name, results):
    """Print results as aligned lines and write bench/results/<name>.json."""
    RESULTS.mkdir(exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
               "results": results}
    path = RESULTS / ("%s.json" % name)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    width = max(len(key) for key in results)
    for key, value in results.items():
        shown = "%.1f" % value if isinstance(value, float) else value
        print("%-*s  %s" % (width, key, shown))
    print("wrote %s" % path)
    return payload


def served(flag_args):
    """Start `pumpmock serve --test-mode FLAGS` in a child; returns (process, where to connect)."""
    process = subprocess.Popen([sys.executable, "-m", "pumpmock.harness.cli", "serve", "--test-mode", *flag_args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    where = process.stdout.readline().strip()
    if not where:
        process.kill()
        raise RuntimeError("pumpmock serve printed no address: %s" % process.stderr.read())
    return process, where
