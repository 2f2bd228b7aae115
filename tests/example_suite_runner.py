"""Run the example suite (examples/tests) many times in one interpreter, once per app command.

tests/test_example_variants.py runs the suite against the example app and ~30 variants. A fresh
`python -m pytest` per run paid interpreter, pytest, hypothesis and pumpmock start-up every time
(seconds on a loaded machine, a third of the meta-test's time); this process pays it once.

Protocol (the parent drives it): one job per stdin line, JSON {"app": "<command>", "stop": bool,
"tests": [file names] (optional: those files of examples/tests only)};
for each, one stdout line, JSON {"code": <pytest exit code>, "output": "<what pytest printed>"}.
Each run gets what a fresh process would: PUMPMOCK_APP set to its command, the suite's own modules
(conftest, the test modules) forgotten afterwards so the next run imports them again, and its
own stdout/stderr (file descriptors 1 and 2, so fault handlers' output is kept too).
"""

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

EXAMPLES_TESTS = Path(__file__).resolve().parent.parent / "examples" / "tests"
EXAMPLES = str(EXAMPLES_TESTS.parent) + os.sep


def _from_examples(module):
    return (getattr(module, "__file__", None) or "").startswith(EXAMPLES)


def run_once(app_command, stop_at_first_failure, tests=None):
    """One run of the example suite against `app_command`: (exit code, output). `tests`: file names
    in examples/tests to run instead of all of them."""
    os.environ["PUMPMOCK_APP"] = app_command
    paths = [str(EXAMPLES_TESTS / name) for name in tests] if tests else [str(EXAMPLES_TESTS)]
    # pytest warns that the plugins the first run imported cannot be rewritten again: true, and no news
    args = paths + ["-q", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    args += ["-x"] if stop_at_first_failure else []
    saved_path = list(sys.path)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            code = int(pytest.main(args))
        except BaseException as error:  # a crash of one run is its result, not the runner's end
            print("example suite run crashed: %r" % (error,), flush=True)
            code = -1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            for fd in saved_fds:
                os.close(fd)
            # the next run imports conftest and the test modules afresh (module state, APP_COMMAND);
            # pytest, its plugins and pumpmock stay imported: that is the start-up shared
            for name in [name for name, module in list(sys.modules.items()) if _from_examples(module)]:
                del sys.modules[name]
            sys.path[:] = saved_path
        out.seek(0)
        output = out.read().decode("utf-8", "replace")
    return code, output


def main():
    os.environ.pop("PYTEST_ADDOPTS", None)  # the outer run's options are not the example suite's
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        code, output = run_once(job["app"], job["stop"], job.get("tests"))
        sys.stdout.write(json.dumps({"code": code, "output": output}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
