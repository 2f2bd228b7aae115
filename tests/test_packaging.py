"""pumpmock installs under one import root: nothing imports the repository folders by their bare names.

In the checkout, protocol/, harness/ and firmware_mock/ are also importable as top-level packages
(the cwd is on sys.path), so a stray `from protocol import x` works here and breaks in the wheel,
or loads a second copy of a module beside pumpmock.protocol's. The wheel itself is checked from
outside by .ci/as-user.
"""

import ast
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
BARE = {"protocol", "harness", "firmware_mock"}
# Code that runs where the firmware is the top-level package firmware_mock: on a board, under
# MicroPython in the WebAssembly runner, and these scripts that run there too.
BOARD_SIDE = ("firmware_mock/", "tests/mpy/")


def _python_files():
    names = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    return [name for name in names if not name.startswith(BOARD_SIDE) and not name.startswith(".ci/user-project/")]


def _bare_imports(source):
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] in BARE]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in BARE:
                found.append((node.lineno, node.module))
    return found


def test_no_host_module_imports_a_repository_folder_by_its_bare_name():
    offenders = ["%s:%d imports %s" % (name, line, module)
                 for name in _python_files()
                 for line, module in _bare_imports((ROOT / name).read_text(encoding="utf-8"))]
    assert not offenders, "use the pumpmock. names:\n" + "\n".join(offenders)


def test_the_scan_finds_a_bare_import():
    assert _bare_imports("from protocol.codes import Role\nimport harness\nfrom . import x\n") == [
        (1, "protocol.codes"), (2, "harness")]


def test_the_user_project_imports_its_own_protocol_package():
    """.ci/user-project has a package called protocol of its own: that is the point of it."""
    source = (ROOT / ".ci" / "user-project" / "app.py").read_text(encoding="utf-8")
    assert _bare_imports(source) == [(6, "protocol")]
