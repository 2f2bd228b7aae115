"""The bench's heap watch: every phase's TC_HEAP_INFO figures in the report, and a phase over a budget fails the run.

Budgets: harness/bench/heapwatch.py (bench/README.md, docs/PUMP_MODEL.md section 14). Against the
MicroPython runner the figures are the interpreter's own; on CPython the heap is "unknown" and
only the largest-buffer budget can be judged.
"""

import pathlib
import shutil

import pytest

from pumpmock.harness.bench import heapwatch
from pumpmock.harness.bench.fakeboard import MICROPYTHON_MJS
from pumpmock.harness.bench.run import BenchOptions, bench

RUNNER = pathlib.Path(__file__).resolve().parent.parent / "firmware_mock" / "wasm_runner.mjs"
MEMORY_PHASES = [heapwatch.FULL_LOG, heapwatch.LOG_DOWNLOAD, heapwatch.POWER_LOSS]
needs_micropython_runner = pytest.mark.skipif(not shutil.which("node") or not MICROPYTHON_MJS.exists(),
                                              reason="the MicroPython runner needs node and node_modules (npm ci)")


def quiet(_text):
    pass


def reading(free=100_000, low_free=90_000, used=150_000, peak=160_000, largest=240):
    return {"free_bytes": free, "low_free_bytes": low_free, "used_bytes": used, "peak_used_bytes": peak,
            "largest_buffer_bytes": largest}


def test_a_phase_within_every_budget_passes_and_each_crossed_budget_is_named():
    at_rest = reading(used=120_000)
    assert heapwatch.judge("fuzz", at_rest, reading())["status"] == "within budget"
    row = heapwatch.judge("fuzz", at_rest, reading(low_free=4_000, peak=120_000 + 65 * 1024, largest=513))
    assert row["status"] == "over budget"
    assert row["peak_growth_bytes"] == 65 * 1024
    assert [text.split(" ")[0] for text in row["over_budget"]] == ["held", "free", "one"], row["over_budget"]


def test_an_unknown_heap_is_no_failure_but_the_largest_buffer_is_still_judged():
    unknown = reading(free=0, low_free=0, used=0, peak=0)
    row = heapwatch.judge("checks", unknown, unknown)
    assert row["status"] == "within budget" and row["peak_growth_bytes"] is None and "unknown" in row["heap"]
    assert heapwatch.judge("checks", unknown, dict(unknown, largest_buffer_bytes=600))["status"] == "over budget"


def test_which_targets_start_a_new_pump_per_connection():
    assert heapwatch.new_pump_per_connection("exec://pumpmock micropython --test-mode")
    assert heapwatch.new_pump_per_connection("pumpmock://?clock=virtual")
    assert not heapwatch.new_pump_per_connection("pumpmock://bench?clock=virtual")
    assert not heapwatch.new_pump_per_connection("/dev/pts/4")


def test_the_bench_reads_every_phase_of_one_pump_and_fails_a_phase_over_a_tiny_budget(tmp_path):
    """The in-process emulator, shared across the bench's connections (a name): every phase is
    measured; CPython cannot tell its heap, the largest buffer is judged. A 100-byte buffer budget
    is crossed by every phase that saves, and the verdict is FAIL with the phase named."""
    options = BenchOptions(round_trips=10, log_entries=12, fuzz_seconds=0, only_checks=["identity", "prescription survives power loss"])
    within = bench("pumpmock://heapwatch-a?clock=virtual", tmp_path / "a", options, progress=quiet)
    heap = within["heap"]
    assert heap["status"] == "heap unknown", heap
    phases = {row["phase"]: row for row in heap["phases"]}
    assert set(phases) == {"conformance checks", "fuzz", "link measurements", "scenario diff"} | set(MEMORY_PHASES)
    for name in MEMORY_PHASES + ["conformance checks", "link measurements", "scenario diff"]:
        assert phases[name]["status"] == "within budget", phases[name]
        assert phases[name]["largest_buffer_bytes"] <= heapwatch.LARGEST_BUFFER_BUDGET, phases[name]
        assert (phases[name]["largest_buffer_bytes"] > 0) == (name != heapwatch.LOG_DOWNLOAD)  # it never saves
    assert within["memory"]["log_entries"] == 512
    assert not [f for f in within["findings"] if f.startswith("heap:")], within["findings"]
    assert "the heap watch" not in within["not_run"]  # an unknown heap is no omission: nothing could tell

    tiny = BenchOptions(round_trips=10, log_entries=12, fuzz_seconds=0, only_checks=["identity"],
                        heap_budgets={"largest_buffer_bytes": 100})
    over = bench("pumpmock://heapwatch-b?clock=virtual", tmp_path / "b", tiny, progress=quiet)
    assert over["heap"]["status"] == "over budget"
    assert over["verdict"] == "fail"
    assert any(f.startswith("heap: %s one buffer of" % heapwatch.FULL_LOG) for f in over["findings"]), over["findings"]
    summary = (tmp_path / "b" / "summary.txt").read_text()
    assert "heap (the firmware's TC_HEAP_INFO, per phase): over budget" in summary
    assert "over budget: one buffer of" in summary


@needs_micropython_runner
def test_the_memory_workload_under_micropython_reports_real_figures_within_budget(tmp_path):
    """`exec:` starts a new runner per connection, so only the memory workload (one session) is
    watched there; its figures are the interpreter's: a full log raises the used heap."""
    options = BenchOptions(round_trips=10, log_entries=12, fuzz_seconds=0, only_checks=["identity"], timeout_s=5)
    report = bench("exec:node %s --test-mode" % RUNNER, tmp_path, options, progress=quiet)
    heap = report["heap"]
    assert heap["status"] == "within budget", heap
    rows = {row["phase"]: row for row in heap["phases"]}
    for name in MEMORY_PHASES:
        row = rows[name]
        assert row["status"] == "within budget", row
        assert row["used_bytes"] > 0 and row["peak_used_bytes"] >= row["used_bytes"] and row["free_bytes"] > 0
        assert 0 < row["peak_growth_bytes"] <= heapwatch.PEAK_GROWTH_BUDGET, row
    assert rows[heapwatch.FULL_LOG]["used_bytes"] > rows[heapwatch.FULL_LOG]["at_rest_used_bytes"]  # the log's entries
    assert rows["conformance checks"]["status"] == "not measured"
    # The same figures against a budget a little under what this firmware needs: a FAIL.
    strict = dict(heapwatch.BUDGETS, peak_growth_bytes=rows[heapwatch.FULL_LOG]["peak_growth_bytes"] - 1)
    assert heapwatch.judge(heapwatch.FULL_LOG, {"used_bytes": rows[heapwatch.FULL_LOG]["at_rest_used_bytes"]},
                           {k: rows[heapwatch.FULL_LOG][k] for k in heapwatch.FIELDS}, strict)["status"] == "over budget"
