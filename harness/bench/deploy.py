"""Putting files on a MicroPython board: the Deployer interface, and mpremote behind it.

A Deployer does three things to a board: copy files onto it (`put`), run a piece of Python on
it and return what it printed (`run`), and hard-reset it so main.py starts (`reset`). Everything
else `pumpmock flash` needs (making directories, removing the test-mode marker, hashing what
landed) is Python sent through `run`, written here once, so the fake in harness.bench.fakeboard
exercises the same code a real board runs.

    deployer = MpremoteDeployer("/dev/ttyACM0")
    deployer.make_dirs(["firmware_mock"])
    deployer.put([("firmware_mock/core.py", "firmware_mock/core.py")])
    deployer.hashes(["firmware_mock/core.py"])     # {"firmware_mock/core.py": "ab12..."}

The snippets run on MicroPython: no f-strings, no pathlib, only os, hashlib and binascii.
mpremote is an optional dependency: `pip install 'pumpmock[bench]'` (or `pip install mpremote`).
"""

import importlib.util
import shutil
import subprocess
import sys

from ..errors import HarnessError

INSTALL_HINT = ("pumpmock flash needs mpremote (MicroPython's remote-control tool), an optional "
                "dependency: pip install 'pumpmock[bench]'   (or: pip install mpremote)")

# What mpremote prints when the board does not give it a REPL: the pump firmware's main.py
# turns Ctrl-C off (micropython.kbd_intr(-1)) so that 0x03 bytes in frames cannot stop it.
_NO_REPL_MARKERS = ("could not enter raw repl", "could not enter raw REPL")
NO_REPL_HELP = ("the board did not give mpremote a REPL. If it is already running the pump "
                "firmware, its main.py has Ctrl-C switched off so frames cannot interrupt it: "
                "see 'Flashing a board that already runs the pump' in bench/README.md")

CRASH_FILE = "pumpmock_crash.txt"  # the board's main.py writes a crash's traceback here, then falls back to the REPL

_HASH_PREFIX = "sha256"
_MISSING = "missing"


class DeployError(HarnessError):
    """A deployment step failed on the board or in the tool that talks to it."""


class Deployer:
    """The board-side operations `pumpmock flash` needs; subclasses implement put, run and reset."""

    port = None

    def put(self, pairs):
        """Copy each (local path, remote path) onto the board; remote directories must exist."""
        raise NotImplementedError

    def run(self, code):
        """Run Python `code` on the board; returns what it printed. DeployError if it raised."""
        raise NotImplementedError

    def reset(self):
        """Hard-reset the board, so it boots into main.py (the pump)."""
        raise NotImplementedError

    def identity_url(self):
        """Where to say HELLO once the board has restarted: its port."""
        return self.port

    # ---- built on run() --------------------------------------------------------------------
    def make_dirs(self, remote_dirs):
        """Create each directory (parents first); ones that exist are fine."""
        self.run(_MAKE_DIRS % (sorted(set(remote_dirs), key=lambda d: d.count("/")),))

    def remove(self, remote_paths):
        """Remove each file; ones that are not there are fine."""
        self.run(_REMOVE % (list(remote_paths),))

    def write_text(self, remote_path, text):
        """Create or replace a small text file on the board."""
        self.run(_WRITE % (remote_path, text))

    def read_text(self, remote_path, limit=4096):
        """The first `limit` bytes of a text file on the board, or None when it is not there.

        The board prints it in hex, so a traceback in the file is not taken for the snippet's own."""
        printed = self.run(_READ % (remote_path, limit))
        lines = [line.strip() for line in printed.splitlines() if line.strip()]
        if lines == [_MISSING]:
            return None
        if not lines or lines[0] != _PRESENT:
            raise DeployError("the board did not read %s; it printed: %.300s" % (remote_path, printed))
        try:
            data = b"".join(bytes.fromhex(line) for line in lines[1:])
        except ValueError:
            raise DeployError("the board sent %s garbled: %.300s" % (remote_path, printed)) from None
        return data.decode("utf-8", "replace").replace("\r\n", "\n").rstrip("\n")

    def hashes(self, remote_paths):
        """{remote path: sha256 hex, or None when the file is not on the board}, computed on the board."""
        printed = self.run(_HASHES % (list(remote_paths),))
        found = {}
        for line in printed.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == _HASH_PREFIX:
                found[parts[1]] = None if parts[2] == _MISSING else parts[2]
        unanswered = [path for path in remote_paths if path not in found]
        if unanswered:
            raise DeployError("the board did not hash %s; it printed: %.300s" % (", ".join(unanswered), printed))
        return found


# The snippets sent through run(). %r of a list of str is a valid MicroPython literal.
_MAKE_DIRS = """\
import os
for _d in %r:
    try:
        os.mkdir(_d)
    except OSError:
        pass
"""

_REMOVE = """\
import os
for _p in %r:
    try:
        os.remove(_p)
    except OSError:
        pass
"""

_WRITE = """\
_f = open(%r, 'w')
_f.write(%r)
_f.close()
"""

_PRESENT = "present"

# A file's bytes in hex, 128 a line, after a marker line (the crash file main.py writes: a traceback).
_READ = """\
import binascii
try:
    _f = open(%r, 'rb')
except OSError:
    print('missing')
else:
    print('present')
    _left = %d
    while _left > 0:
        _b = _f.read(128 if _left > 128 else _left)
        if not _b:
            break
        _left -= len(_b)
        print(binascii.hexlify(_b).decode())
    _f.close()
"""

# Hashing in 512-byte pieces: a small board has a few tens of kB of heap.
_HASHES = """\
import hashlib, binascii
for _p in %r:
    try:
        _f = open(_p, 'rb')
    except OSError:
        print('sha256', _p, 'missing')
        continue
    _h = hashlib.sha256()
    while True:
        _b = _f.read(512)
        if not _b:
            break
        _h.update(_b)
    _f.close()
    print('sha256', _p, binascii.hexlify(_h.digest()).decode())
"""


def find_mpremote():
    """The command that runs mpremote (a list), or None when it is not installed."""
    if importlib.util.find_spec("mpremote") is not None:
        return [sys.executable, "-m", "mpremote"]  # the one installed beside pumpmock
    path = shutil.which("mpremote")
    return [path] if path else None


class MpremoteDeployer(Deployer):
    """A board reached by mpremote on a serial port: one mpremote process per step.

    command: how to run mpremote (default: find_mpremote()); runner: subprocess.run or a fake
    with its signature; timeout_s bounds every step, so a board that stops answering cannot hang us.
    """

    def __init__(self, port, command=None, runner=subprocess.run, timeout_s=60):
        command = command or find_mpremote()
        if not command:
            raise DeployError(INSTALL_HINT)
        self.port = port
        self.command = list(command)
        self.runner = runner
        self.timeout_s = timeout_s

    def _mpremote(self, *args):
        argv = self.command + ["connect", self.port] + list(args)
        try:
            done = self.runner(argv, capture_output=True, text=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            raise DeployError("mpremote %s: no answer within %d s from %s" % (args[0], self.timeout_s, self.port)) from None
        except OSError as error:
            raise DeployError("cannot run %s: %s. %s" % (self.command[0], error, INSTALL_HINT)) from None
        output = (done.stdout or "") + (done.stderr or "")
        if done.returncode != 0:
            why = NO_REPL_HELP if any(m in output for m in _NO_REPL_MARKERS) else output.strip()[-600:]
            raise DeployError("mpremote %s on %s failed (exit %d): %s" % (args[0], self.port, done.returncode, why))
        return done.stdout or ""

    def put(self, pairs):
        # One mpremote process for all files ("+" ends each cp's argument list): every process
        # interrupts the board and soft-resets it, which costs about a second.
        args = []
        for local, remote in pairs:
            if args:
                args.append("+")
            args += ["fs", "cp", str(local), ":" + remote]
        if args:
            self._mpremote(*args)

    def run(self, code):
        output = self._mpremote("exec", code)
        if "Traceback (most recent call last)" in output:
            raise DeployError("the board raised running a deployment step: %s" % output.strip()[-600:])
        return output

    def reset(self):
        self._mpremote("reset")
