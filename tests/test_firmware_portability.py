"""The firmware stays portable to MicroPython: a static scan of firmware_mock, then every module imported under MicroPython.

The scan catches what MicroPython 1.27 lacks (dataclasses, enum, typing, functools, ...), stepped
slices (MicroPython's bytes have none), floats (a board's are single precision; doses must be
integers), and imports of the host packages (the firmware must stand alone on a board). The
second test imports each module inside the real interpreter (the WebAssembly port, through
firmware_mock/wasm_runner.mjs), compiles board/main.py there and drives BoardLoop.
"""

import ast
import pathlib
import shutil
import subprocess

import pytest

from pumpmock.harness.micropython_cmd import micropython_mjs

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware_mock"
RUNNER = FIRMWARE / "wasm_runner.mjs"
MICROPYTHON = micropython_mjs()
BOARD_FILES = sorted((FIRMWARE / "board").glob("*.py"))
PORTABLE = sorted(FIRMWARE.glob("*.py")) + BOARD_FILES
BANNED_MODULES = {
    # not in MicroPython 1.27
    "dataclasses", "enum", "typing", "typing_extensions", "abc", "functools", "itertools", "logging",
    "threading", "pathlib", "secrets", "hmac", "contextlib", "copy", "datetime", "decimal", "fractions",
    "statistics", "inspect", "weakref", "operator", "textwrap", "string",
    # CPython shells only
    "termios", "tty", "pty", "socket", "signal", "subprocess", "selectors",
}
HOST_PACKAGES = {"pumpmock", "protocol", "harness", "tests", "bench", "examples"}


def violations(path, banned=BANNED_MODULES, portable=True):
    """Every construct in the file that does not run the same on MicroPython, as readable lines.

    portable=False checks only that no host package is imported (for the CPython-only shells)."""
    tree = ast.parse(path.read_text(), str(path))
    found = []

    def where(node):
        return "%s:%d" % (path.name, node.lineno)

    for node in ast.walk(tree):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module]
        for module in modules:
            top = module.split(".")[0]
            if top in banned:
                found.append("%s imports %s (not on MicroPython)" % (where(node), module))
            if top in HOST_PACKAGES:
                found.append("%s imports %s (the firmware stands alone)" % (where(node), module))
        if not portable:
            continue
        if isinstance(node, ast.Slice) and node.step is not None:
            found.append("%s uses a stepped slice" % where(node))
        elif isinstance(node, ast.Constant) and isinstance(node.value, (float, complex)):
            found.append("%s has the float literal %r" % (where(node), node.value))
        elif isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, ast.Div):
            found.append("%s divides with / (a float); use //" % where(node))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float":
            found.append("%s calls float()" % where(node))
    return found


@pytest.mark.parametrize("path", PORTABLE, ids=lambda p: str(p.relative_to(FIRMWARE)))
def test_firmware_module_uses_only_what_micropython_has(path):
    assert violations(path) == []
    assert path.read_text().startswith('"""'), "%s: the first line says what the module is for" % path.name


def test_the_scan_finds_each_kind_of_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""x"""\nimport functools\nfrom protocol import catalog\nfrom enum import IntEnum\n'
                   'a = b"abc"[::2]\nb = 0.5\nc = 3 / 2\nc /= 2\nd = float(1)\n')
    found = violations(bad)
    assert len(found) == 8, found


@pytest.mark.skipif(shutil.which("node") is None or not MICROPYTHON.exists(),
                    reason="needs Node.js and the MicroPython WebAssembly package: `pumpmock micropython --setup`")
def test_every_firmware_module_imports_under_micropython():
    modules = sorted(p.stem for p in FIRMWARE.glob("*.py") if p.stem != "__init__")
    boards = [str(p) for p in BOARD_FILES]
    done = subprocess.run(["node", str(RUNNER), "--run", str(ROOT / "tests" / "mpy" / "check_imports.py"),
                           *modules, "--compile", *boards], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "on micropython 1.27.0: %d checks passed, 0 failed" % (len(modules) + len(boards) + 2) in done.stdout, done.stdout
