"""Every kind of target the harness opens by URL, as a context manager that yields the URL.

In-process (virtual and wall clock), `pumpmock serve --pty`, `--tcp`, `--rfc2217` and `--stdio`
in a child process, and the MicroPython firmware behind exec://. Shared by the tests that run one thing over them all.
Every target is a seeded test run (seed 0, like pumpmock://): the fuzz oracle predicts nonces.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pumpmock.harness.micropython_cmd import package_found

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "firmware_mock" / "wasm_runner.mjs"
HAVE_RUNNER = shutil.which("node") is not None and package_found() is not None
KINDS = ["pumpmock-virtual", "pumpmock-real", "pty", "tcp", "rfc2217", "stdio", "micropython"]
SCHEMES = {"pty": "", "tcp": "socket://", "rfc2217": "rfc2217://"}


def start(*args):
    """`pumpmock serve ARGS` in a child; (process, the first line it prints: where to connect)."""
    process = subprocess.Popen([sys.executable, "-m", "pumpmock.harness.cli", "serve", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    ready = []
    reader = threading.Thread(target=lambda: ready.append(process.stdout.readline().strip()), daemon=True)
    reader.start()
    reader.join(timeout=20)
    if not ready or not ready[0]:
        process.kill()
        process.wait(timeout=5)
        pytest.fail("serve printed no address within 20 s: %s" % process.stderr.read())
    return process, ready[0]


def stop(process, how=signal.SIGTERM):
    """Signal `pumpmock serve` to stop; its exit status (killed if it does not stop within 10 s)."""
    process.send_signal(how)
    try:
        return process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
        process.stdout.close()
        process.stderr.close()


@contextlib.contextmanager
def target(kind):
    """The URL of a test-mode pump of this kind, up for as long as the block runs (skips where it cannot be)."""
    if kind == "pumpmock-virtual":
        yield "pumpmock://?clock=virtual"
        return
    if kind == "pumpmock-real":
        yield "pumpmock://"
        return
    if kind == "stdio":
        yield "exec://%s -m pumpmock.harness.cli serve --test-mode --seed 0 --stdio" % sys.executable
        return
    if kind == "micropython":
        if not HAVE_RUNNER:
            pytest.skip("node or the MicroPython npm package missing (.ci/setup installs it)")
        yield "exec://node %s --test-mode" % RUNNER
        return
    if kind == "pty" and not hasattr(os, "openpty"):
        pytest.skip("pseudo-terminals exist only on POSIX")
    process, where = start("--test-mode", "--seed", "0", *(["--pty"] if kind == "pty" else ["--" + kind, "0"]))
    try:
        yield SCHEMES[kind] + where
    finally:
        stop(process)
