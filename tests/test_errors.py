"""The refusal exceptions in harness/errors.py: one plain class per catalog error code."""

import ast
import pathlib

import pytest

from pumpmock.harness import errors
from pumpmock.protocol.codes import Error
from pumpmock.protocol.messages import Nak

ERRORS_FILE = pathlib.Path(errors.__file__)


def _class_name(code):
    return "".join(part.title() for part in code.name.split("_")) + "Error"


def _refusal_classes_in_source():
    """{class name: code name} for every `class X(PumpRefusedError)` statement in the file."""
    found = {}
    for node in ast.parse(ERRORS_FILE.read_text()).body:
        if isinstance(node, ast.ClassDef) and [ast.unparse(b) for b in node.bases] == ["PumpRefusedError"]:
            codes = [ast.unparse(stmt.value) for stmt in node.body
                     if isinstance(stmt, ast.Assign) and [ast.unparse(t) for t in stmt.targets] == ["code"]]
            assert node.name not in found, "%s is defined twice" % node.name
            found[node.name] = codes
    return found


def test_every_error_code_has_exactly_one_class_statement_named_after_it():
    in_source = _refusal_classes_in_source()
    expected = {_class_name(code): ["Error.%s" % code.name] for code in Error}
    assert in_source == expected


def test_the_file_makes_no_classes_at_run_time():
    """No type(name, bases, dict) and no globals() writes: every public name is a statement."""
    calls = [(ast.unparse(node.func), len(node.args)) for node in ast.walk(ast.parse(ERRORS_FILE.read_text()))
             if isinstance(node, ast.Call)]
    assert not [call for call in calls if call[0] == "globals" or call == ("type", 3)]


@pytest.mark.parametrize("code", list(Error), ids=lambda code: code.name)
def test_refusal_maps_each_code_to_its_class(code):
    cls = getattr(errors, _class_name(code))
    assert errors.REFUSALS[code] is cls
    assert cls.code is code and cls.__module__ == "pumpmock.harness.errors"
    assert cls.__doc__.startswith("NAK %s: " % code.name)
    refused = errors.refusal(Nak(msg_id=0x20, code=int(code), subject=0, limit_value=0, actual_value=0))
    assert type(refused) is cls and isinstance(refused, errors.PumpRefusedError)
    assert refused.error is code and code.name in str(refused)


def test_an_unknown_code_is_still_a_refusal():
    refused = errors.refusal(Nak(msg_id=0x20, code=200, subject=0, limit_value=0, actual_value=0))
    assert type(refused) is errors.PumpRefusedError and refused.error == 200
