"""Fuzzing benchmark: mutation cases/s in-process, stateful steps/s in-process and over a pty.

Targets (issue 6): mutation fuzzing >= 20,000 cases/s in-process; stateful steps >= 1,000/s
in-process and >= 300/s over a pty. A step is one rule of the state machine: at least one
command to the pump, every answer checked against the model, the safety invariants after it.
For scale, the same run measures hypothesis's fuzz_one_input on a trivial target (what a
hand-rolled @given fuzzer would start from) and reports the mutation fuzzer as a multiple of
it, and the stateful machine in-process on a real clock (pumpmock://?clock=real: the oracle's
real-clock work without the pty).

    python -m bench.perf_fuzz [--quick]
"""

import argparse
import os
import sys
import time

from hypothesis import given, settings, strategies as st

from bench.common import served, write
from pumpmock.harness.fuzz.campaign import run_stateful
from pumpmock.harness.fuzz.mutation import run_mutation

TARGETS = {"mutation_cases_per_s": 20_000, "stateful_in_process_steps_per_s": 1_000,
           "stateful_pty_steps_per_s": 300}


def hypothesis_fuzz_one_input_per_s(seconds):
    """Cases/s of hypothesis's fuzz_one_input on a target that does nothing but look at its bytes."""
    @settings(database=None)
    @given(st.binary(max_size=64))
    def trivial(data):
        len(data)

    fuzz = trivial.hypothesis.fuzz_one_input
    seeds = [os.urandom(64) for _ in range(512)]
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for buffer in seeds:
            fuzz(buffer)
        done += len(seeds)
    return done / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a CI smoke test)")
    args = parser.parse_args(argv)
    seconds = 1.0 if args.quick else 8.0
    results = {}

    mutation = run_mutation(budget_s=seconds, seed=1)
    results["mutation_cases_per_s"] = mutation["cases_per_s"]
    results["mutation_failures"] = len(mutation["failures"])
    baseline = hypothesis_fuzz_one_input_per_s(min(seconds, 3.0))
    results["hypothesis_fuzz_one_input_trivial_per_s"] = round(baseline, 1)
    results["mutation_vs_fuzz_one_input_ratio"] = round(mutation["cases_per_s"] / baseline, 2)

    stateful = run_stateful("pumpmock://?clock=virtual", budget_s=seconds, seed=1)
    results["stateful_in_process_steps_per_s"] = stateful["cases_per_s"]
    results["stateful_in_process_exchanges_per_s"] = round(stateful["exchanges"] / stateful["seconds"], 1)
    results["stateful_in_process_steps_per_example"] = round(stateful["steps"] / max(stateful["examples"], 1), 1)
    results["stateful_in_process_failures"] = len(stateful["failures"])

    real_clock = run_stateful("pumpmock://?clock=real", budget_s=seconds, seed=1)
    results["stateful_in_process_real_clock_steps_per_s"] = real_clock["cases_per_s"]
    results["stateful_in_process_real_clock_failures"] = len(real_clock["failures"])

    if hasattr(os, "openpty"):
        process, path = served(["--pty"])
        try:
            over_pty = run_stateful(path, budget_s=seconds, seed=1, timeout=1.0)
        finally:
            process.terminate()
            process.wait(timeout=10)
        results["stateful_pty_steps_per_s"] = over_pty["cases_per_s"]
        results["stateful_pty_exchanges_per_s"] = round(over_pty["exchanges"] / over_pty["seconds"], 1)
        results["stateful_pty_failures"] = len(over_pty["failures"])
        results["stateful_pty_vs_in_process_ratio"] = round(
            over_pty["cases_per_s"] / stateful["cases_per_s"], 3) if stateful["cases_per_s"] else 0.0

    for name, target in TARGETS.items():
        if name in results:
            results[name.replace("_per_s", "_target_met")] = results[name] >= target
    write("perf_fuzz", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
