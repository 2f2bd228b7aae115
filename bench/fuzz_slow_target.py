"""Is a planted defect found on a slow target, and within what budget? (issue 16)

The emulator behind the line tests/test_fuzz_slow_target.py rehearses (9600 baud, 250 ms each
way, 100 ms jitter: about 1.3 exchanges a second) with one defect planted in the firmware (a
monkeypatch, never an edit), fuzzed by the stateful campaign for each budget and seed. Per run:
whether the defect was found, when the first failing example ended (before its shrink) and when
the shrunk finding was in (both seconds from the start), examples, rules run, exchanges and
writes left unjudged; per budget: how many seeds found it. The same for a clean firmware
(--defect none): any finding there is a false alarm.

    python -m bench.fuzz_slow_target [--budgets 30,60,120] [--seeds 1-5] [--defect refill|filled|dedup|none]
                                     [--steps N] [--quick]

--steps fixes the rules per example (default: the campaign sizes them from the round trip,
campaign.sized_steps). Results in bench/results/fuzz_slow_target.json (--name to change).
Wall time: about the sum of the budgets times the seeds, plus shrinking.
"""

import argparse
import contextlib
import statistics
import sys
import time
import urllib.parse

from bench.common import write
from pumpmock.firmware_mock import commands, dedup
from pumpmock.harness.fuzz import campaign, stateful

SLOW_LINE = "baud=9600,delay=250ms,jitter=100ms,seed=3"
DEFECTS = {
    # The old drug's withdrawn volume vanishes from the books at a refill: "SAFETY: volume not conserved".
    "refill": "SAFETY: volume not conserved",
    # The exactly-once cache never finds an answer: a retransmitted bolus is delivered again.
    "dedup": "SAFETY: exactly once",
    # Every refill books one µL less than it put in: hit by the refill of most examples' setup.
    "filled": "SAFETY: volume not conserved",
    "none": None,
}


def slow_url(line=SLOW_LINE):
    return "pumpmock://?clock=real&faults=%s" % urllib.parse.quote(line)


@contextlib.contextmanager
def planted(defect):
    """The firmware with `defect` patched in for the duration (the emulator runs in this process)."""
    if defect == "refill":
        owner, name = commands, "refill"
        clean = commands.refill

        def patched(model, drug, conc, volume_ul):
            withdrawn_before = model.removed_ul
            answer = clean(model, drug, conc, volume_ul)
            model.removed_ul = withdrawn_before  # the defect
            return answer
    elif defect == "filled":
        owner, name = commands, "refill"
        clean = commands.refill

        def patched(model, drug, conc, volume_ul):
            answer = clean(model, drug, conc, volume_ul)
            model.filled_ul -= 1  # the defect
            return answer
    elif defect == "dedup":
        owner, name = dedup.ExactlyOnceCache, "lookup"
        clean = dedup.ExactlyOnceCache.lookup

        def patched(cache, seq, msg_id, digest):
            return None  # the defect
    else:
        yield
        return
    setattr(owner, name, patched)
    try:
        yield
    finally:
        setattr(owner, name, clean)


def one_run(url, budget_s, seed, steps=None):
    """One campaign; the moments it first held a failing example and a shrunk finding."""
    marks = {"first_failing_example_s": None, "finding_s": None}

    def progress(_stats, elapsed, failures):
        if marks["first_failing_example_s"] is None and stateful.PumpMachine.first_failure is not None:
            marks["first_failing_example_s"] = round(elapsed, 1)
        if marks["finding_s"] is None and failures:
            marks["finding_s"] = round(elapsed, 1)

    started = time.monotonic()
    result = campaign.run_campaign(url, budget_s=budget_s, seed=seed, modes=["stateful"], progress=progress,
                                   steps=steps)
    part = result["results"][0]
    categories = sorted({line.split("[", 1)[1].split("]", 1)[0] for line in result["failures"]})
    return {"seed": seed, "status": result["status"], "seconds": round(time.monotonic() - started, 1),
            "categories": categories, **marks, "examples": part.get("examples", 0), "rules": part.get("steps", 0),
            "exchanges": part.get("exchanges", 0), "unjudged_writes": result.get("unjudged_writes", 0),
            "unjudged_split_writes": result.get("unjudged_split_writes", 0),
            "harness_errors": len(result.get("harness_errors", []))}


def seeds_from(text):
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(seed) for seed in text.split(",")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="30,60,120", help="seconds, comma-separated (default %(default)s)")
    parser.add_argument("--seeds", default="1-5", help="a range 1-5 or a list 1,4,9 (default %(default)s)")
    parser.add_argument("--defect", choices=sorted(DEFECTS), default="refill")
    parser.add_argument("--steps", type=int, default=None, help="rules per example (default: sized from the line)")
    parser.add_argument("--line", default=SLOW_LINE, help="the fault line (default %(default)s)")
    parser.add_argument("--name", default="fuzz_slow_target", help="results file name (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="one 12 s run, seed 1 (a smoke test of this script)")
    args = parser.parse_args(argv)
    budgets = [12.0] if args.quick else [float(b) for b in args.budgets.split(",")]
    seeds = [1] if args.quick else seeds_from(args.seeds)
    expected = DEFECTS[args.defect]
    url = slow_url(args.line)
    results = {"line": args.line, "defect": args.defect, "expected_category": expected, "steps": args.steps,
               "seeds": seeds}
    with planted(args.defect):
        for budget_s in budgets:
            runs = []
            for seed in seeds:
                run = one_run(url, budget_s, seed, args.steps)
                runs.append(run)
                print("budget %g s seed %d: %s" % (budget_s, seed, run), file=sys.stderr, flush=True)
            found = [r for r in runs if expected in r["categories"]] if expected else []
            others = [r for r in runs if set(r["categories"]) - {expected}]
            results["budget_%gs" % budget_s] = {
                "found": "%d/%d" % (len(found), len(runs)) if expected else "n/a",
                "other_findings": len(others),  # on a clean firmware (or another category): false alarms
                "finding_s_median": statistics.median([r["finding_s"] for r in found]) if found else None,
                "finding_s_max": max(r["finding_s"] for r in found) if found else None,
                "overrun_s_max": round(max(r["seconds"] - budget_s for r in runs), 1),
                "rules_per_run_median": statistics.median(r["rules"] for r in runs),
                "unjudged_writes_total": sum(r["unjudged_writes"] for r in runs),
                "runs": runs}
    write(args.name, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
