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
