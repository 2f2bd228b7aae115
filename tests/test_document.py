"""The committed protocol document and firmware spec are what the catalog generates today."""

import subprocess
import sys

from pumpmock.protocol import document, firmware_gen
from pumpmock.protocol.catalog import ERROR, MESSAGES


def test_committed_protocol_document_is_up_to_date():
    assert document.TARGET.read_text() == document.render(), \
        "docs/PROTOCOL.md is stale: run python -m pumpmock.protocol.document"


def test_document_names_every_message_and_error_code():
    text = document.render()
    for message in MESSAGES:
        assert "### 0x%02x %s" % (message.id, message.name) in text
    for code in ERROR.codes:
        assert "`%s`" % code.name in text


def test_check_flag_reports_a_stale_document(tmp_path, monkeypatch):
    stale = tmp_path / "PROTOCOL.md"
    stale.write_text("old")
    monkeypatch.setattr(document, "TARGET", stale)
    assert document.main(["--check"]) == 1
    stale.write_text(document.render())
    assert document.main(["--check"]) == 0


def test_committed_firmware_spec_is_up_to_date():
    assert firmware_gen.TARGET.read_text() == firmware_gen.render(), \
        "firmware_mock/spec.py is stale: run python -m pumpmock.protocol.firmware_gen"


def test_print_flag_writes_the_document_to_stdout():
    out = subprocess.run([sys.executable, "-m", "pumpmock.protocol.document", "--print"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.startswith("# pumpmock protocol v1")


def test_committed_enum_and_message_classes_are_what_the_catalog_generates():
    from pumpmock.protocol import classes_gen
    assert classes_gen.stale() == [], "run python -m pumpmock.protocol.classes_gen"


def test_every_public_class_is_a_class_statement_of_its_module():
    """Issue 14: no name made at run time (globals().update): each is written in the file."""
    import ast
    from pumpmock.protocol import classes_gen, codes, messages
    for module, names in ((codes, [e.__name__ for e in codes.ENUMS.values()]),
                          (messages, [c.__name__ for c in messages.CLASSES.values()]
                           + [layout.cls.__name__ for layout in messages.LAYOUTS_BY_STRUCT.values()])):
        source = open(module.__file__).read()
        assert "globals()" not in source
        statements = {node.name for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}
        assert set(names) <= statements, set(names) - statements
    assert len(messages.CLASSES) == len(classes_gen.message_classes())


def test_classes_gen_check_reports_a_stale_file(tmp_path, monkeypatch):
    from pumpmock.protocol import classes_gen
    stale = tmp_path / "codes.py"
    text = classes_gen.CODES.read_text()
    stale.write_text(text.replace("    MORPHINE = 1", "    MORPHINE = 9"))
    monkeypatch.setattr(classes_gen, "TARGETS", ((stale, classes_gen.render_codes),))
    assert classes_gen.main(["--check"]) == 1
    assert classes_gen.main([]) == 0
    assert stale.read_text() == text
    assert classes_gen.main(["--check"]) == 0
