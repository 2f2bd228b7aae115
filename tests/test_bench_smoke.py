"""The benchmarks still run (quick mode) and write the report: they cannot rot unnoticed."""

import json
import subprocess
import sys

from bench.common import RESULTS


def test_bench_runner_writes_one_report_with_machine_info():
    run = subprocess.run([sys.executable, "-m", "bench", "--only", "codec", "--quick", "--report-only"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((RESULTS / "report.json").read_text())
    assert report["machine"]["cpus"] >= 1
    codec = report["benchmarks"]["perf_codec"]["results"]
    assert codec["stream_decode_frames_per_s"] > 0 and codec["decoder_largest_buffer_bytes"] <= 248


def test_the_fuzz_benchmark_measures_every_mode_and_finds_nothing_on_the_emulator():
    run = subprocess.run([sys.executable, "-m", "bench", "--only", "fuzz", "--quick", "--report-only"],
                         capture_output=True, text=True, timeout=110)
    assert run.returncode == 0, run.stdout + run.stderr
    fuzz = json.loads((RESULTS / "report.json").read_text())["benchmarks"]["perf_fuzz"]["results"]
    assert fuzz["mutation_cases_per_s"] > 0 and fuzz["stateful_in_process_steps_per_s"] > 0
    assert fuzz["mutation_failures"] == fuzz["stateful_in_process_failures"] == 0
    assert fuzz["hypothesis_fuzz_one_input_trivial_per_s"] > 0


def test_the_slow_target_fuzz_benchmark_runs_and_writes_its_numbers():
    """bench/fuzz_slow_target.py (a planted defect behind the slow line, per budget and seed)
    in its quick form: one 12 s campaign on a clean firmware (what a planted defect gives is
    tests/test_fuzz_slow_target.py's; a found one is shrunk to the hard end, 4 s more)."""
    run = subprocess.run([sys.executable, "-m", "bench.fuzz_slow_target", "--quick", "--defect", "none"],
                         capture_output=True, text=True, timeout=110)
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((RESULTS / "fuzz_slow_target.json").read_text())["results"]
    budget = results["budget_12s"]
    assert results["defect"] == "none" and len(budget["runs"]) == 1
    assert budget["other_findings"] == 0 and budget["runs"][0]["harness_errors"] == 0, budget
