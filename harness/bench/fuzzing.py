"""The bench's fuzz campaign with a hard time limit: harness.fuzz.campaign in a child process, stopped if it overruns.

    result = run_bounded(url, budget_s=60, seed=1, test_mode=True, failures_dir="report/fuzz-failures")

The campaign checks its budget between batches of examples, and against a slow target (a board
at 115200 baud) one batch can take minutes. A bench run must end when it says it will, so the
campaign runs in its own process (and process group: an exec: target's children go with it) and
is stopped at budget + grace. Failing examples are saved as transcripts as they are found, so a
stopped campaign still reports the failures it had saved.

    python -m pumpmock.harness.bench.fuzzing SPEC_JSON     # the child: runs the campaign, prints its result as JSON
"""

import importlib.util
import json
import os
import pathlib
import signal
import subprocess
import sys

CAMPAIGN_MODULE = "pumpmock.harness.fuzz.campaign"
_RESULT_MARK = "pumpmock-fuzz-result "


def available(module=CAMPAIGN_MODULE):
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def grace_s(budget_s):
    """How far past its budget a campaign may run: a quarter more, at least 5 s, at most a minute."""
    return min(max(5.0, budget_s / 4), 60.0)


def run_bounded(url, budget_s, seed, test_mode, failures_dir, timeout_s=None, baudrate=None,
                allow_usb=(), allow_ports=(), campaign_module=CAMPAIGN_MODULE, grace=None):
    """Run the campaign against `url` in a child process for at most budget_s + grace_s(budget_s).

    campaign_module: the module whose run_campaign is called (tests put a slow one here);
    grace: seconds past the budget before the stop (default grace_s(budget_s)).

    Returns the campaign's result dict (status passed / failed / not available), or status
    "stopped" (it overran; failures it saved are listed) or "error" (the child failed).
    """
    if not available(campaign_module):
        return {"status": "not available", "reason": "pumpmock.harness.fuzz has no campaign API in this version of "
                "pumpmock, so no fuzzing was done (this is not a pass)"}
    spec = {"url": url, "budget_s": budget_s, "seed": seed, "test_mode": test_mode,
            "failures_dir": str(failures_dir), "timeout_s": timeout_s, "baudrate": baudrate,
            "allow_usb": list(allow_usb), "allow_ports": list(allow_ports), "module": campaign_module}
    grace = grace_s(budget_s) if grace is None else grace
    limit_s = budget_s + grace
    posix = os.name == "posix"
    child = subprocess.Popen([sys.executable, "-m", "pumpmock.harness.bench.fuzzing", json.dumps(spec)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=posix)
    try:
        out, err = child.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        if posix:
            os.killpg(child.pid, signal.SIGKILL)
        else:
            child.kill()
        child.communicate()
        saved = sorted(str(p) for p in pathlib.Path(failures_dir).glob("*.jsonl"))
        return {"status": "failed" if saved else "stopped", "seed": seed, "seconds": round(limit_s, 1),
                "transcripts": saved, "failures": ["a failing example saved before the stop: %s" % p for p in saved],
                "reason": "the campaign ran past its %g s budget (+%g s grace) and was stopped: it checks its "
                          "budget between batches of examples, and on a slow target one batch takes long"
                          % (budget_s, grace)}
    for line in out.splitlines():
        if line.startswith(_RESULT_MARK):
            return json.loads(line[len(_RESULT_MARK):])
    return {"status": "error", "seed": seed, "reason": "the fuzz campaign exited %d without a result: %s"
            % (child.returncode, (err.strip().splitlines() or ["no output"])[-1][:300])}


def main(argv=None):
    spec = json.loads((argv or sys.argv[1:])[0])
    import importlib

    from pumpmock import harness  # registers the pumpmock:// and exec:// schemes
    from pumpmock.harness.interlock import Allowlist
    campaign = importlib.import_module(spec["module"])
    options = {"allowlist": Allowlist.load(usb=spec["allow_usb"], ports=spec["allow_ports"])}
    if spec["timeout_s"] is not None:
        options["timeout"] = spec["timeout_s"]
    if spec["baudrate"] is not None:
        options["baudrate"] = spec["baudrate"]
    try:
        result = campaign.run_campaign(harness.normalize_url(spec["url"]), budget_s=spec["budget_s"],
                                       seed=spec["seed"], test_mode=spec["test_mode"],
                                       failures_dir=spec["failures_dir"], **options)
    except Exception as error:  # the campaign itself broke: say so, never a pass
        result = {"status": "error", "seed": spec["seed"], "reason": "%s: %s" % (type(error).__name__, error)}
    print(_RESULT_MARK + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
