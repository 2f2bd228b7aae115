"""The never-a-real-implant interlock: USB allowlist for hardware ports, and the handshake."""

from types import SimpleNamespace

import pytest

from pumpmock import harness
from pumpmock.harness.interlock import Allowlist, check_port, parse_usb_id


def fake_ports(*ports):
    return lambda: [SimpleNamespace(device=d, vid=v, pid=p, description=desc, manufacturer=None)
                    for d, v, p, desc in ports]


def test_a_pico_running_micropython_is_allowed():
    ports = fake_ports(("/dev/ttyACM0", 0x2E8A, 0x0005, "Board in FS mode"))
    reason = check_port("/dev/ttyACM0", Allowlist(), comports=ports, pty=lambda p: False)
    assert "2e8a:0005" in reason and "Raspberry Pi" in reason


def test_an_unknown_usb_device_is_refused_with_the_reason_and_the_way_out():
    ports = fake_ports(("/dev/ttyACM0", 0x1234, 0x5678, "Acme Programmer Head"))
    with pytest.raises(harness.UsbDeviceNotAllowed) as info:
        check_port("/dev/ttyACM0", Allowlist(), comports=ports, pty=lambda p: False)
    message = str(info.value)
    assert "1234:5678" in message and "Acme Programmer Head" in message
    assert "--allow-usb" in message and "config.toml" in message


def test_a_port_without_usb_identity_is_refused_unless_allowed_by_path():
    ports = fake_ports(("/dev/ttyS0", None, None, "n/a"))
    with pytest.raises(harness.UsbDeviceNotAllowed, match="--allow-port /dev/ttyS0"):
        check_port("/dev/ttyS0", Allowlist(), comports=ports, pty=lambda p: False)
    assert "allowed by configuration" in check_port("/dev/ttyS0", Allowlist(ports=["/dev/ttyS0"]),
                                                    comports=ports, pty=lambda p: False)


def test_a_deliberately_added_board_is_allowed(tmp_path):
    ports = fake_ports(("/dev/ttyACM3", 0x1234, 0x5678, "my own board"))
    config = tmp_path / "config.toml"
    config.write_text('[interlock]\nallow_usb = ["1234:5678"]\n')
    allowlist = Allowlist.load(environ={}, config_path=config)
    assert "allowed by configuration" in check_port("/dev/ttyACM3", allowlist, comports=ports,
                                                    pty=lambda p: False)
    from_env = Allowlist.load(environ={"PUMPMOCK_ALLOW_USB": "1234:*"}, config_path=tmp_path / "none")
    assert from_env.describe(0x1234, 0x9999) == "allowed by configuration"


def test_a_pseudo_terminal_is_the_emulator_and_allowed():
    import os
    master, slave = os.openpty()
    try:
        path = os.ttyname(slave)
        assert "pseudo-terminal" in check_port(path, Allowlist(), comports=fake_ports())
    finally:
        os.close(master)
        os.close(slave)


def test_open_port_runs_the_interlock_before_touching_a_device(monkeypatch):
    opened = []
    monkeypatch.setattr(harness.serial, "serial_for_url", lambda *a, **k: opened.append(a))
    monkeypatch.setattr("pumpmock.harness.interlock._comports", fake_ports(("/dev/ttyUSB7", 0x1234, 0x5678, "x")))
    with pytest.raises(harness.UsbDeviceNotAllowed, match="1234:5678"):
        harness.open_port("/dev/ttyUSB7", allowlist=Allowlist())
    assert opened == []


def test_usb_ids_parse_strictly():
    assert parse_usb_id("2E8A:0005") == (0x2E8A, 0x0005)
    assert parse_usb_id("2e8a:*") == (0x2E8A, None)
    with pytest.raises(ValueError, match="VID:PID"):
        parse_usb_id("pico")
