"""The bench's fuzz campaign with a hard time limit: harness.fuzz.campaign in a child process, stopped if it overruns.

    result = run_bounded(url, budget_s=60, seed=1, test_mode=True, failures_dir="report/fuzz-failures")

The campaign promises to end within its budget plus campaign.overrun_s(budget) (the exchange
under way, the shrink of a late failure), and the bench holds it to exactly that promise: the
one rule, in one place. The campaign runs in its own process (and process group: an exec:
target's children go with it), which says when it starts (so the child's start-up is not
counted against it, as it is not in `pumpmock fuzz`), and is stopped at budget + overrun_s
after that. A stopped campaign is reported as such (status "stopped", or "failed" with the
failing examples it had saved as transcripts by then), never as a pass and never silently.

    python -m pumpmock.harness.bench.fuzzing SPEC_JSON     # the child: runs the campaign, prints its result as JSON
"""

import importlib.util
import json
import os
import pathlib
import signal
import queue
import subprocess
import sys
import threading
import time

CAMPAIGN_MODULE = "pumpmock.harness.fuzz.campaign"
_RESULT_MARK = "pumpmock-fuzz-result "
_START_MARK = "pumpmock-fuzz-started"
STARTUP_S = 60.0  # the child's interpreter and imports, before the campaign's clock starts


def available(module=CAMPAIGN_MODULE):
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def limit_s(budget_s):
    """How long after it starts the bench lets a campaign run: its own promise, campaign.overrun_s."""
    from pumpmock.harness.fuzz.campaign import overrun_s
    return budget_s + overrun_s(budget_s)


def run_bounded(url, budget_s, seed, test_mode, failures_dir, timeout_s=None, baudrate=None,
                allow_usb=(), allow_ports=(), campaign_module=CAMPAIGN_MODULE):
    """Run the campaign against `url` in a child process, stopped limit_s(budget_s) after it starts.

    campaign_module: the module whose run_campaign is called (tests put a slow one here).

    Returns the campaign's result dict (status passed / failed / not available), or status
    "stopped" (it overran; failures it saved are listed) or "error" (the child failed).
    """
    if not available(campaign_module):
        return {"status": "not available", "reason": "pumpmock.harness.fuzz has no campaign API in this version of "
                "pumpmock, so no fuzzing was done (this is not a pass)"}
    spec = {"url": url, "budget_s": budget_s, "seed": seed, "test_mode": test_mode,
            "failures_dir": str(failures_dir), "timeout_s": timeout_s, "baudrate": baudrate,
            "allow_usb": list(allow_usb), "allow_ports": list(allow_ports), "module": campaign_module}
    limit = limit_s(budget_s)
    posix = os.name == "posix"
    child = subprocess.Popen([sys.executable, "-m", "pumpmock.harness.bench.fuzzing", json.dumps(spec)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=posix)
    lines, errors = queue.Queue(), []
    readers = [threading.Thread(target=_lines_into, args=(child.stdout, lines), daemon=True),
               threading.Thread(target=lambda: errors.append(child.stderr.read()), daemon=True)]
    for reader in readers:
        reader.start()
    out = []
    started = None
    try:
        started = _wait_for_start(child, lines, out)
        if started is None:
            _stop(child, posix)
            return {"status": "error", "seed": seed, "reason": "the fuzz campaign did not start within %g s"
                    % STARTUP_S}
        child.wait(timeout=max(started + limit - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        _stop(child, posix)
        saved = sorted(str(p) for p in pathlib.Path(failures_dir).glob("*.jsonl"))
        return {"status": "failed" if saved else "stopped", "seed": seed,
                "seconds": round(time.monotonic() - started, 1), "limit_s": round(limit, 1),
                "transcripts": saved, "failures": ["a failing example saved before the stop: %s" % p for p in saved],
                "reason": "the campaign overran: it was still running %.1f s after it started, past its %g s budget "
                          "+ %g s overrun (campaign.overrun_s), and was stopped there"
                          % (time.monotonic() - started, budget_s, limit - budget_s)}
    finally:
        for reader in readers:
            reader.join(timeout=5)
    while not lines.empty():
        out.append(lines.get())
    for line in out:
        if line and line.startswith(_RESULT_MARK):
            return json.loads(line[len(_RESULT_MARK):])
    err = "".join(errors)
    return {"status": "error", "seed": seed, "reason": "the fuzz campaign exited %d without a result: %s"
            % (child.returncode, (err.strip().splitlines() or ["no output"])[-1][:300])}


def _lines_into(stream, lines):
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)  # the child closed its output


def _wait_for_start(child, lines, out):
    """time.monotonic() when the child said its campaign starts; None if it did not within STARTUP_S."""
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            return None
        if line is None:  # it exited before starting: its result or error is read as usual
            return time.monotonic()
        if line == _START_MARK:
            return time.monotonic()
        out.append(line)


def _stop(child, posix):
    if posix:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it ended on its own just now
    else:
        child.kill()
    child.wait()


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
    print(_START_MARK, flush=True)  # the parent's limit counts from here
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
