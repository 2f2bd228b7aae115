"""Every kind of target the harness opens by URL, as a context manager that yields the URL.

In-process (virtual and wall clock), `pumpmock serve --pty`, `--tcp`, `--rfc2217` and `--stdio`
in a child process, and the MicroPython firmware behind exec://. Shared by the tests that run one thing over them all.
"""

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "firmware_mock" / "wasm_runner.mjs"
HAVE_RUNNER = shutil.which("node") is not None and (ROOT / "node_modules").is_dir()
KINDS = ["pumpmock-virtual", "pumpmock-real", "pty", "tcp", "rfc2217", "stdio", "micropython"]
SCHEMES = {"pty": "", "tcp": "socket://", "rfc2217": "rfc2217://"}
SERVE = [sys.executable, "-m", "harness.cli", "serve", "--test-mode"]


def served(flag):
    """`pumpmock serve --test-mode FLAG` in a child; (process, first line it prints)."""
    process = subprocess.Popen([*SERVE, *flag],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    first = []
    reader = threading.Thread(target=lambda: first.append(process.stdout.readline().strip()), daemon=True)
    reader.start()
    reader.join(timeout=20)
    if not first or not first[0]:
        process.kill()
        pytest.fail("pumpmock serve printed nothing: %s" % process.communicate(timeout=10)[1])
    return process, first[0]


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
        yield "exec://" + " ".join(SERVE + ["--stdio"])
        return
    if kind == "micropython":
        if not HAVE_RUNNER:
            pytest.skip("node or node_modules missing (.ci/setup runs npm ci)")
        yield "exec://node %s --test-mode" % RUNNER
        return
    if kind == "pty" and not hasattr(os, "openpty"):
        pytest.skip("pseudo-terminals exist only on POSIX")
    process, where = served(["--pty"] if kind == "pty" else ["--" + kind, "0"])
    try:
        yield SCHEMES[kind] + where
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=5)
