"""Runs that take minutes of mostly waiting (the meta-test's example-suite runs, a whole example
suite under the hostile profile), started as collection ends and run beside the rest of the suite.

A test module with such a run defines `background_work()` (blocking; returns what its tests need,
as JSON: lists, dicts, strings, numbers), `waits_for_background(item)` (its tests that need the
result; tests/conftest.py runs them last) and, if the work leaves a process behind when cut short,
`stop_in_background()`. Its tests get the result with `result(module_name)`.

Under pytest-xdist every worker collects every test but runs only some: the first worker (gw0)
does the work and writes the result to a directory named by the run's id, which any worker then
reads; gw0 ends its session only once the work is done. Without xdist it is one process.
"""

import json
import os
import tempfile
import threading
import time

_CONFIG = {}
_RUNS = {}  # module name -> {"thread": ..., "result": ... or "error": ...}, in the process doing the work


def configure(config):
    _CONFIG["config"] = config


def _worker_input():
    config = _CONFIG.get("config")
    return getattr(config, "workerinput", None) if config is not None else None


def _shared_path(name):
    worker = _worker_input()
    if worker is None:
        return None
    directory = os.path.join(tempfile.gettempdir(), "pumpmock-background-" + worker["testrunuid"])
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, name + ".json")


def does_the_work():
    """True in the one process that runs background work: the only one, or xdist's gw0."""
    worker = _worker_input()
    return worker is None or worker["workerid"] == "gw0"


def start(name, work):
    """Run work() in a thread, once per run; its result (or its error, as text) is kept, and under
    xdist written where every worker reads it."""
    if name in _RUNS or not does_the_work():
        return
    run = _RUNS[name] = {}

    def target():
        try:
            outcome = {"result": work()}
        except BaseException as error:  # reported by the tests that need it
            outcome = {"error": "%s: %s" % (type(error).__name__, error)}
        run.update(outcome)
        path = _shared_path(name)
        if path is not None:
            with open(path + ".part", "w", encoding="utf-8") as file:
                json.dump(outcome, file)
            os.replace(path + ".part", path)

    run["thread"] = threading.Thread(target=target, name="background-" + name, daemon=True)
    run["thread"].start()


def result(name, timeout_s):
    """The work's result, waited for at most timeout_s; its error raised as RuntimeError."""
    deadline = time.monotonic() + timeout_s
    run = _RUNS.get(name)
    if run is not None:
        run["thread"].join(timeout_s)
        outcome = run if not run["thread"].is_alive() else None
    else:
        path = _shared_path(name)
        if path is None:
            raise RuntimeError("background work %r was never started (was its test deselected at collection?)" % name)
        outcome = None
        while outcome is None and time.monotonic() < deadline:
            if os.path.exists(path):
                with open(path, encoding="utf-8") as file:
                    outcome = json.load(file)
            else:
                time.sleep(0.5)
    if outcome is None:
        raise RuntimeError("background work %r did not finish within %.0f s" % (name, timeout_s))
    if "error" in outcome:
        raise RuntimeError("background work %r failed: %s" % (name, outcome["error"]))
    return outcome["result"]


def wait_for_all(timeout_s):
    """At the end of the session of the process doing the work, under xdist: other workers may
    still be waiting for it."""
    deadline = time.monotonic() + timeout_s
    for run in list(_RUNS.values()):
        run["thread"].join(max(deadline - time.monotonic(), 0))
