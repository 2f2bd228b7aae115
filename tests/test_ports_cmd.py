"""`pumpmock ports`: every serial port listed with the interlock's verdict and why; nothing opened."""

import json
import os
from types import SimpleNamespace

import pytest
import serial

from pumpmock.harness import cli, interlock


@pytest.fixture
def ports(monkeypatch, no_config):
    monkeypatch.setattr(serial, "serial_for_url", lambda *a, **k: pytest.fail("ports opened %r" % (a,)))
    listed = [SimpleNamespace(device=d, vid=v, pid=p, description=desc, manufacturer=None, hwid="")
              for d, v, p, desc in (("/dev/ttyACM0", 0x2E8A, 0x0005, "Board in FS mode"),
                                    ("/dev/ttyUSB3", 0x1234, 0x5678, "Acme Programmer Head"),
                                    ("/dev/ttyS0", None, None, "n/a"))]
    monkeypatch.setattr(interlock, "_comports", lambda: listed)
    return listed


def test_each_port_gets_its_verdict_and_the_reason(ports, capsys):
    assert cli.main(["ports"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("/dev/")}
    assert "allowed: USB 2e8a:0005, Raspberry Pi" in lines["/dev/ttyACM0"]
    assert "REFUSED: USB 1234:5678 (Acme Programmer Head) is not on pumpmock's allowlist" in lines["/dev/ttyUSB3"]
    assert "REFUSED: it is not a USB serial device pumpmock can identify" in lines["/dev/ttyS0"]
    assert "--allow-usb VID:PID" in out  # the way out, said once


def test_allow_options_show_what_a_run_with_them_would_open(ports, capsys):
    assert cli.main(["ports", "--json", "--allow-usb", "1234:5678", "--allow-port", "/dev/ttyS0"]) == 0
    rows = {row["device"]: row for row in json.loads(capsys.readouterr().out)}
    assert all(row["allowed"] for row in rows.values())
    assert rows["/dev/ttyUSB3"]["usb"] == "1234:5678" and rows["/dev/ttyS0"]["usb"] is None
    assert rows["/dev/ttyS0"]["why"] == "allowed by configuration"


def test_a_bad_allow_option_is_status_2(ports, capsys):
    assert cli.main(["ports", "--allow-usb", "pico"]) == 2
    assert "not a USB id 'pico'" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="pseudo-terminals are POSIX only")
def test_a_pseudo_terminal_is_listed_as_the_emulator(ports, monkeypatch, capsys):
    master, slave = os.openpty()
    try:
        path = os.ttyname(slave)
        monkeypatch.setattr(interlock, "_comports", lambda: [
            SimpleNamespace(device=path, vid=None, pid=None, description="", manufacturer=None, hwid="")])
        assert cli.main(["ports"]) == 0
        assert "allowed: a pseudo-terminal (the emulator)" in capsys.readouterr().out
    finally:
        os.close(master)
        os.close(slave)
