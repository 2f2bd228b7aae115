"""The bench report: one JSON document and a readable summary of it, written to a report directory.

    write_report(report, "bench-report")   # bench-report/report.json and bench-report/summary.txt

The JSON is the record (every number, every check, every difference); the summary is what a
person reads first: the verdict, what failed, and the link numbers with what they mean.
"""

import json
import os
import pathlib
import platform
import sys

REPORT_VERSION = 1


def machine():
    """The host that ran the bench (the board's side is in the report's target section)."""
    return {"python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "system": platform.system(), "release": platform.release(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()}


def write_report(report, directory):
    """Write report.json and summary.txt into `directory`; returns their paths."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "report.json"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    summary_path = directory / "summary.txt"
    summary_path.write_text(summary(report) + "\n")
    return json_path, summary_path


def summary(report):
    """The report as readable text."""
    target = report["target"]
    lines = ["pumpmock bench report", "=" * 21, "",
             "verdict: %s" % report["verdict"].upper() + (
                 " (nothing failed; not run: %s)" % ", ".join(report["not_run"]) if report["verdict"] == "incomplete" else ""),
             "target:  %s (%s)" % (target["port"], target.get("kind", "?")),
             "         %s" % target.get("interlock", ""),
             ]
    identity = target.get("identity")
    if identity:
        lines.append("         HELLO: serial %s, firmware %s, test mode %s"
                     % (identity["serial"], identity["firmware_version"], "ON" if identity["test_mode"] else "OFF"))
    lines.append("host:    %(system)s %(machine)s, Python %(python)s" % report["machine"])
    lines.append("took:    %.1f s" % report.get("seconds", 0))
    if report.get("findings"):
        lines += ["", "findings:"] + ["  - %s" % f for f in report["findings"]]
    lines += _died(report.get("died"))

    checks = report.get("checks") or {}
    lines += ["", "conformance checks: %s" % checks.get("status", "not run")]
    for result in checks.get("results", []):
        lines.append("  %-4s %-50s %6.2fs  %s" % (result["status"].upper() if result["status"] != "skip" else "skip",
                                                   result["name"], result["seconds"], result["detail"]))

    lines += _heap(report.get("heap"), report.get("memory"))

    fuzz = report.get("fuzz") or {}
    lines += ["", "fuzz: %s" % fuzz.get("status", "not run")]
    for key in ("reason", "examples", "cases", "seconds", "seed"):
        if fuzz.get(key) is not None:
            lines.append("  %s: %s" % (key, fuzz[key]))
    if fuzz.get("unjudged_writes") is not None:  # writes the oracle could not place: bench/FUZZING.md
        lines.append("  unjudged writes: %d (%d past SPLIT_WRITE_TRIES)"
                     % (fuzz["unjudged_writes"], fuzz.get("unjudged_split_writes", 0)))
    for failure in fuzz.get("failures", []):
        lines.append("  - %s" % failure)
    for error in fuzz.get("harness_errors", []):
        lines.append("  note (not a finding about the pump): %s" % error)

    link = report.get("link") or {}
    lines += ["", "link: %s" % link.get("status", "not run")]
    if link.get("round_trips"):
        rt = link["round_trips"]
        latency = rt["latency_ms"]
        lines += ["  line rate:    %d baud = %.0f B/s (8N1)" % (link["baud"], link["line_rate_bytes_per_s"]),
                  "  round trips:  %d GET_STATUS, %.1f/s; latency ms p50 %.2f  p90 %.2f  p99 %.2f  max %.2f"
                  % (rt["count"], rt["round_trips_per_s"], latency["p50"], latency["p90"], latency["p99"], latency["max"]),
                  "                %.0f bytes a round trip = %.2f ms on the line at the line rate"
                  % (rt["wire_bytes_per_round_trip"], rt["wire_time_ms_per_round_trip"]),
                  "  histogram:    %s" % "  ".join("%s:%d" % item for item in rt["histogram_ms"].items())]
    if link.get("log_download"):
        log = link["log_download"]
        lines += ["  log download: %d entries in %.2f s: %.0f B/s of entries, %.0f B/s on the wire"
                  % (log["entries"], log["seconds"], log["entry_bytes_per_s"], log["wire_bytes_in_per_s"]),
                  "                line efficiency %.1f%% (entries), utilisation %.1f%% (all bytes)"
                  % (log["line_efficiency_pct"], log["line_utilisation_pct"])]
    if link.get("error"):
        lines.append("  error: %s" % link["error"])
    for note in link.get("notes", []):
        lines.append("  note: %s" % note)

    scenario = report.get("transcript_diff") or {}
    lines += ["", "transcript diff (emulator vs target, same scenario): %s" % scenario.get("status", "not run")]
    if scenario.get("error"):
        lines.append("  %s" % scenario["error"])
    if scenario.get("target_transcript"):
        lines.append("  transcripts: %s, %s" % (scenario["emulator_transcript"], scenario["target_transcript"]))
    differences = scenario.get("differences", [])
    for line in differences[:40]:
        lines.append("  %s" % line)
    if len(differences) > 40:
        lines.append("  ... %d more in report.json and diff.txt" % (len(differences) - 40))
    tolerated = scenario.get("within_tolerance") or []
    if tolerated:
        lines.append("  %d pump-clock stamp(s) within tolerance (%s s: the clock's resolution and how long the "
                     "run took), not counted:" % (len(tolerated), scenario.get("clock_tolerance_s")))
        lines += ["    %s" % line for line in tolerated[:10]]
        if len(tolerated) > 10:
            lines.append("    ... %d more in report.json and diff.txt" % (len(tolerated) - 10))
    return "\n".join(lines)


def _kb(value):
    return "?" if value is None else "%.1f KB" % (value / 1024)


def _heap(heap, memory):
    """The summary's lines for the heap watch: one row per phase, with the budgets."""
    if not heap:
        return []
    budgets = heap["budgets"]
    lines = ["", "heap (the firmware's TC_HEAP_INFO, per phase): %s" % heap["status"],
             "  budgets: at most %s above the phase's at-rest figure, at least %s free, one buffer at most %d B"
             % (_kb(budgets["peak_growth_bytes"]), _kb(budgets["low_free_bytes"]), budgets["largest_buffer_bytes"])]
    if heap.get("reason"):
        lines.append("  %s" % heap["reason"])
    if memory and memory.get("status") not in (None, "ran"):
        lines.append("  memory workload: %s (%s)" % (memory["status"], memory.get("reason", "")))
    for row in heap["phases"]:
        if row["status"] == "not measured":
            lines.append("  %-28s not measured: %s" % (row["phase"], row["reason"]))
            continue
        if row.get("heap"):
            heap_text = "heap %s" % row["heap"]
        else:
            heap_text = "used at rest %s, peak %s (+%s), lowest free %s" % (
                _kb(row["at_rest_used_bytes"]), _kb(row["peak_used_bytes"]), _kb(row["peak_growth_bytes"]),
                _kb(row["low_free_bytes"]))
        lines.append("  %-28s %s; largest buffer %d B  %s" % (row["phase"], heap_text, row["largest_buffer_bytes"],
                                                             row["status"].upper()))
        lines += ["      over budget: %s" % crossed for crossed in row["over_budget"]]
    return lines


def _died(death):
    """The summary's lines for a target that stopped answering (none when it did not)."""
    if not death:
        return []
    lines = ["", "TARGET STOPPED ANSWERING during %s" % death["during"],
             "  last answer: %s (%s s into the run)" % (death["last_answer_at"] or "never",
                                                        death["last_answer_after_s"]),
             "  noticed:     %s (%s s into the run): %s" % (death["noticed_at"], death["noticed_after_s"],
                                                            death["error"])]
    crash = death.get("crash") or {}
    if crash.get("status") == "read":
        lines.append("  the firmware's traceback (/pumpmock_crash.txt on the board):")
        lines += ["    %s" % line for line in crash["text"].splitlines()]
    elif crash:
        lines.append("  crash file: %s (%s)" % (crash.get("status"), crash.get("reason")))
    if death.get("last_frames"):
        lines.append("  the last frames (seconds into the run):")
        lines += ["    %s" % line for line in death["last_frames"]]
    return lines
