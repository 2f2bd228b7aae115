"""One clinic scenario over every transport the harness opens by URL: the same pump state at the end.

In-process (virtual and wall clock), `pumpmock serve --pty` and `--tcp` in a child process (a
tty and a socket the client reads through their descriptors), and the MicroPython firmware
behind exec://. Each run starts with a test-control reset, so each ends in the same state.
"""

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import harness
from test_client_inprocess import scenario

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "firmware_mock" / "wasm_runner.mjs"
HAVE_RUNNER = shutil.which("node") is not None and (ROOT / "node_modules").is_dir()


def served(flag):
    """`pumpmock serve --test-mode FLAG` in a child; (process, first line it prints)."""
    process = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", "--test-mode", *flag],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    first = []
    reader = threading.Thread(target=lambda: first.append(process.stdout.readline().strip()), daemon=True)
    reader.start()
    reader.join(timeout=20)
    if not first or not first[0]:
        process.kill()
        pytest.fail("pumpmock serve printed nothing: %s" % process.communicate(timeout=10)[1])
    return process, first[0]


@pytest.fixture(params=["pumpmock-virtual", "pumpmock-real", "pty", "tcp", "micropython"])
def url(request):
    kind = request.param
    if kind == "pumpmock-virtual":
        yield "pumpmock://?clock=virtual"
        return
    if kind == "pumpmock-real":
        yield "pumpmock://"
        return
    if kind == "micropython":
        if not HAVE_RUNNER:
            pytest.skip("node or node_modules missing (.ci/setup runs npm ci)")
        yield "exec://node %s --test-mode" % RUNNER
        return
    if kind == "pty" and not hasattr(os, "openpty"):
        pytest.skip("pseudo-terminals exist only on POSIX")
    process, where = served(["--pty"] if kind == "pty" else ["--tcp", "0"])
    try:
        yield where if kind == "pty" else "socket://" + where
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=5)


@pytest.fixture(scope="module")
def expected():
    with harness.connect("pumpmock://?clock=virtual") as session:
        return scenario(session)


def test_every_transport_carries_the_same_scenario(url, expected):
    with harness.connect(url, timeout=2) as session:
        got = scenario(session)
    # Doses and volumes: basal delivery on a wall clock adds a little with every ms the run takes.
    assert (got.boluses_delivered, got.filled_ul, got.removed_ul) == \
        (expected.boluses_delivered, expected.filled_ul, expected.removed_ul)
    assert got.delivered_ug >= expected.delivered_ug
