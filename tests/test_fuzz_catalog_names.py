"""The fuzzers name messages as the catalog does: no raw message ids or frame kinds where names exist."""

import ast
import pathlib

import pytest

from pumpmock.harness import fuzz
from pumpmock.harness.fuzz import mutation
from pumpmock.protocol.catalog import MESSAGES_BY_ID, MESSAGES_BY_NAME

FUZZ_FILES = sorted(pathlib.Path(fuzz.__file__).parent.glob("*.py"))
# Calls whose first argument (or first two, for encode_frame: kind, msg_id) is a message id.
ID_ARGUMENTS = {"encode_frame": 2, "_sentinel_frame": 1, "self._event": 1}


def _int(node):
    return isinstance(node, ast.Constant) and type(node.value) is int


def raw_ids(source):
    """(line, text) of each place that writes a message id or a frame kind as a number."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ID_ARGUMENTS:
            found += [(node.lineno, ast.unparse(node)) for arg in node.args[:ID_ARGUMENTS[ast.unparse(node.func)]]
                      if _int(arg)]
        elif isinstance(node, ast.Compare) and "msg_id" in (ast.unparse(node.left),) + tuple(
                ast.unparse(c) for c in node.comparators):
            values = [node.left] + node.comparators
            values += [e for v in values if isinstance(v, ast.Tuple) for e in v.elts]
            if any(_int(v) for v in values):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            names += [e.id for t in node.targets if isinstance(t, ast.Tuple) for e in t.elts if isinstance(e, ast.Name)]
            if any(name in MESSAGES_BY_NAME for name in names) and any(_int(v) for v in ast.walk(node.value)):
                found.append((node.lineno, ast.unparse(node)))
    return found


@pytest.mark.parametrize("path", FUZZ_FILES, ids=lambda path: path.name)
def test_no_raw_message_ids(path):
    assert raw_ids(path.read_text()) == []


@pytest.mark.parametrize("snippet", [
    "wire = encode_frame(0, msg_id, seq)",
    "wire = encode_frame(REQUEST, 0x60, seq)",
    "if msg_id == 0x66: pass",
    "if msg_id in (0x21, 0x22): pass",
    "self._event(0x80, entry)",
    "TC_RESET = 0x60",
    "TC_RESET, TC_WARP_CLOCK = 0x60, 0x65",
])
def test_the_check_finds_each_kind_of_raw_id(snippet):
    assert raw_ids(snippet) != []


def test_the_mutation_sentinel_is_no_message():
    """The one id the fuzzers write as a number, on purpose: the pump must answer it UNKNOWN_MESSAGE."""
    assert mutation.SENTINEL_ID not in MESSAGES_BY_ID
