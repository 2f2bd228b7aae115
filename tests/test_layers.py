"""harness/ keeps the layers docs/ARCHITECTURE.md draws: every import points down, never up.

A new module goes in LAYERS here and in the picture there; a test fails until it does.
"""

import ast
import fnmatch
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Bottom first; a module may import its own layer and the ones below it.
LAYERS = (
    ("errors", ("harness/errors.py",)),
    ("lines and ports", ("harness/interlock.py", "harness/urlhandler/*", "harness/faults.py", "harness/faulty_port.py",
                         "harness/inprocess.py", "harness/portio.py", "harness/servers.py", "harness/mux.py",
                         "harness/hostile.py")),
    ("records", ("harness/wire.py", "harness/transcript.py")),
    ("session", ("harness/__init__.py", "harness/connection.py", "harness/client.py", "harness/testcontrol.py", "harness/plausibility.py")),
    ("checks", ("harness/checks.py", "harness/oracles.py", "harness/pytest_plugin.py", "harness/fuzz/*")),
    ("commands", ("harness/cli.py", "harness/*_cmd.py", "harness/soak.py", "harness/proxy.py", "harness/bench/*")),
)
HARNESS_FILES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "harness").glob("**/*.py"))


def layer_of(path):
    for index, (_name, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatch(path, pattern) for pattern in patterns):
            return index
    return None


def _file_of(module):
    """'harness.fuzz.model' -> 'harness/fuzz/model.py' (or the package's __init__.py), None if neither."""
    path = pathlib.Path(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if (ROOT / candidate).exists():
            return str(candidate)
    return None


def imported_files(path, source):
    """(line, repository file) of every harness, protocol or firmware_mock module `source` imports."""
    package = list(pathlib.Path(path).parts[:-1])  # a module's package, or an __init__.py's own
    found = []
    for node in ast.walk(ast.parse(source)):
        modules = []
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            modules = [base] + ["%s.%s" % (base, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pumpmock."):
            base = node.module[len("pumpmock."):]
            modules = [base] + ["%s.%s" % (base, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "pumpmock":
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name[len("pumpmock."):] for alias in node.names if alias.name.startswith("pumpmock.")]
        found += [(node.lineno, f) for f in map(_file_of, modules) if f is not None]
    return found


def upward_imports(path, source):
    here = layer_of(path)
    return ["%s:%d imports %s (%s, above %s)" % (path, line, target, LAYERS[layer_of(target)][0], LAYERS[here][0])
            for line, target in imported_files(path, source)
            if layer_of(target) is not None and layer_of(target) > here]


def test_every_harness_module_has_a_layer():
    assert [path for path in HARNESS_FILES if layer_of(path) is None] == [], \
        "add the module to LAYERS here and to the picture in docs/ARCHITECTURE.md"


@pytest.mark.parametrize("path", HARNESS_FILES)
def test_imports_point_down(path):
    assert upward_imports(path, (ROOT / path).read_text()) == []


def test_an_upward_import_is_found():
    assert upward_imports("harness/client.py", "from .checks import run_checks\n")
    assert upward_imports("harness/faults.py", "from pumpmock.harness.transcript import replay\n")
    assert upward_imports("harness/wire.py", "from pumpmock import harness\n")
    assert not upward_imports("harness/checks.py", "from .client import PumpSession\n")


def test_the_fuzz_model_is_independent_of_the_firmware():
    """It is the oracle's model: a bug it shared with firmware_mock could not be found."""
    imported = [target for _line, target in imported_files("harness/fuzz/model.py",
                                                           (ROOT / "harness/fuzz/model.py").read_text())]
    assert imported and not [target for target in imported if target.startswith("firmware_mock/")]


_IO_MODULES = {"select", "selectors", "socket", "serial", "threading", "time", "asyncio", "subprocess"}


def io_imports(source):
    """Modules of I/O, clocks or threads that `source` imports, by name (and harness modules that do I/O)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    io = found & _IO_MODULES
    harness_io = {target for _line, target in imported_files("harness/connection.py", source)
                  if target in ("harness/portio.py", "harness/client.py") or target.startswith("harness/urlhandler/")}
    return sorted(io | harness_io)


def test_the_host_connection_is_sans_io():
    """harness/connection.py is the firmware core's mirror: bytes and time are arguments, never fetched."""
    assert io_imports((ROOT / "harness/connection.py").read_text()) == []
    assert io_imports("import select\nfrom time import monotonic\nfrom .portio import reader_for\n") == [
        "harness/portio.py", "select", "time"]
