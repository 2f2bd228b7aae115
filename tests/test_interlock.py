"""The never-a-real-implant interlock: every scheme sorted by what it reaches, hardware vetted on the
device actually opened, the allowlist's configuration read strictly, and the handshake."""

import os
from types import SimpleNamespace

import pytest
import serial

from pumpmock import harness
from pumpmock.harness import interlock
from pumpmock.harness.interlock import Allowlist, check_port, parse_usb_id

posix_only = pytest.mark.skipif(not hasattr(os, "openpty"), reason="pseudo-terminals are POSIX only")


def fake_ports(*ports):
    return lambda: [SimpleNamespace(device=d, vid=v, pid=p, description=desc, manufacturer=None, hwid="n/a")
                    for d, v, p, desc in ports]


@pytest.fixture
def opened(monkeypatch):
    """Every pyserial open, recorded and never done: a refusal must come before any of them."""
    calls = []
    monkeypatch.setattr(serial, "serial_for_url", lambda *a, **k: calls.append(a) or pytest.fail("opened %r" % (a,)))
    return calls


@pytest.fixture
def pty_pair():
    """Pseudo-terminals as stand-ins for devices: [(master fd, slave path)], closed afterwards."""
    made = []

    def make():
        master, slave = os.openpty()
        made.append((master, slave))
        return master, os.ttyname(slave)

    yield make
    for master, slave in made:
        os.close(master)
        os.close(slave)


# ---- the allowlist decision --------------------------------------------------------------------
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
    assert "--allow-usb" in message and "--pump-allow-usb" in message and "config.toml" in message


def test_a_port_without_usb_identity_is_refused_unless_allowed_by_path():
    ports = fake_ports(("/dev/ttyS0", None, None, "n/a"))
    with pytest.raises(harness.UsbDeviceNotAllowed, match="--allow-port /dev/ttyS0"):
        check_port("/dev/ttyS0", Allowlist(), comports=ports, pty=lambda p: False)
    assert "allowed by configuration" in check_port("/dev/ttyS0", Allowlist(ports=["/dev/ttyS0"]),
                                                    comports=ports, pty=lambda p: False)


def test_a_mistyped_port_is_no_such_port_with_the_ports_there_are():
    """Issue 12: /dev/ttyNOPE was told to allowlist itself."""
    ports = fake_ports(("/dev/ttyACM0", 0x2E8A, 0x0005, "Pico"), ("/dev/ttyUSB1", 0x0403, 0x6001, "FTDI"))
    with pytest.raises(harness.NoSuchPortError, match="no such port /dev/ttyNOPE; serial ports here: "
                                                       "/dev/ttyACM0, /dev/ttyUSB1") as info:
        check_port("/dev/ttyNOPE", Allowlist(), comports=ports)
    assert "allow" not in str(info.value).split(";")[0]


def test_a_deliberately_added_board_is_allowed(tmp_path):
    ports = fake_ports(("/dev/ttyACM3", 0x1234, 0x5678, "my own board"))
    config = tmp_path / "config.toml"
    config.write_text('[interlock]\nallow_usb = ["1234:5678"]\n')
    allowlist = Allowlist.load(environ={}, config_path=config)
    assert "allowed by configuration" in check_port("/dev/ttyACM3", allowlist, comports=ports,
                                                    pty=lambda p: False)
    from_env = Allowlist.load(environ={"PUMPMOCK_ALLOW_USB": "1234:*"}, config_path=os.devnull)
    assert from_env.describe(0x1234, 0x9999) == "allowed by configuration"


def test_a_pseudo_terminal_is_the_emulator_and_allowed(pty_pair):
    _master, path = pty_pair()
    assert "pseudo-terminal" in check_port(path, Allowlist(), comports=fake_ports())


def test_usb_ids_parse_strictly():
    assert parse_usb_id("2E8A:0005") == (0x2E8A, 0x0005)
    assert parse_usb_id("2e8a:*") == (0x2E8A, None)
    for bad in ("pico", "*:*", "12345:1", "2e8a:0005:1", ""):
        with pytest.raises(ValueError, match="VID:PID"):
            parse_usb_id(bad)


# ---- the allowlist's configuration: an error, never silently empty ------------------------------
@pytest.mark.parametrize("text,complaint", [
    ('[interlock\nallow_usb = ["1234:5678"]\n', "not valid TOML"),
    ('[interlok]\nallow_usb = ["1234:5678"]\n', r"unknown section \[interlok\]"),
    ('[interlock]\nallow_usbs = ["1234:5678"]\n', "unknown key allow_usbs under"),
    ('[interlock]\nallow_ports = "/dev/ttyS0"\n', "allow_ports must be a list of strings"),
    ('[interlock]\nallow_usb = [1234]\n', "allow_usb must be a list of strings"),
    ('[interlock]\nallow_usb = ["pico"]\n', "allow_usb: not a USB id 'pico'"),
    ('interlock = 3\n', "interlock must be a section"),
])
def test_a_config_file_that_does_not_say_what_was_meant_is_an_error(tmp_path, text, complaint):
    """Issue 12: a bad TOML traced back; allow_ports = "/dev/ttyS0" was split into characters; a
    misspelt section was ignored."""
    config = tmp_path / "config.toml"
    config.write_text(text)
    with pytest.raises(harness.InterlockConfigError, match=complaint):
        Allowlist.load(environ={}, config_path=config)


def test_a_config_file_named_but_missing_is_an_error_the_default_one_is_not(tmp_path, monkeypatch):
    with pytest.raises(harness.InterlockConfigError, match="does not exist.*PUMPMOCK_CONFIG"):
        Allowlist.load(environ={"PUMPMOCK_CONFIG": str(tmp_path / "nope.toml")})
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/pumpmock/config.toml: the defaults
    assert Allowlist.load(environ={}).usb == interlock.COMMODITY_USB


def test_environment_entries_are_checked_and_named():
    """Issue 12: PUMPMOCK_ALLOW_USB='*:*' raised a traceback."""
    with pytest.raises(harness.InterlockConfigError, match="PUMPMOCK_ALLOW_USB: not a USB id '[*]:[*]'"):
        Allowlist.load(environ={"PUMPMOCK_ALLOW_USB": "*:*"}, config_path=os.devnull)
    with pytest.raises(harness.InterlockConfigError, match="--allow-usb: not a USB id 'x'"):
        Allowlist.load(usb=["x"], environ={}, config_path=os.devnull)
    allowed = Allowlist.load(environ={"PUMPMOCK_ALLOW_PORTS": "/dev/ttyS0, /dev/ttyS1"}, config_path=os.devnull)
    assert allowed.ports == {os.path.realpath("/dev/ttyS0"), os.path.realpath("/dev/ttyS1")}


# ---- every scheme sorted by what it reaches ------------------------------------------------------
@pytest.mark.parametrize("url,kind", [
    ("pumpmock://?clock=virtual", interlock.EMULATOR), ("loop://", interlock.EMULATOR),
    ("exec://pumpmock micropython --test-mode", interlock.CHILD),
    ("socket://127.0.0.1:5000", interlock.NETWORK), ("rfc2217://farm.example:7000", interlock.NETWORK),
    ("/dev/ttyACM0", interlock.HARDWARE), ("spy:///dev/ttyACM0", interlock.HARDWARE),
    ("alt:///dev/ttyACM0?class=PosixPollSerial", interlock.HARDWARE), ("hwgrep://ACM", interlock.HARDWARE),
])
def test_each_scheme_is_known_for_what_it_reaches(url, kind):
    assert interlock.kind_of(url) == kind


def test_a_network_line_to_another_host_is_allowed_and_vetted_by_the_handshake(opened):
    target = harness.vet_url("socket://farm.example:5000")
    assert target.kind == interlock.NETWORK and "handshake" in target.reason
    with pytest.raises(harness.BadUrlError, match="port from 1 to 65535"):
        harness.vet_url("socket://127.0.0.1:99999")


@pytest.mark.parametrize("url", ["/dev/ttyUSB7", "spy:///dev/ttyUSB7", "spy:///dev/ttyUSB7?color",
                                 "alt:///dev/ttyUSB7?class=PosixPollSerial", "hwgrep://USB7", "hwgrep://Acme"])
def test_every_scheme_that_reaches_hardware_is_vetted_before_anything_opens(url, monkeypatch, opened, no_config):
    """Issue 12: spy://, alt://, hwgrep:// opened hardware unchecked and sent HELLO four times."""
    monkeypatch.setattr(interlock, "_comports", fake_ports(("/dev/ttyUSB7", 0x1234, 0x5678, "Acme Programmer Head")))
    with pytest.raises(harness.UsbDeviceNotAllowed, match="1234:5678"):
        harness.open_port(url)
    with pytest.raises(harness.UsbDeviceNotAllowed):
        harness.connect(url)
    assert opened == []


def test_a_motherboard_uart_behind_spy_is_refused(monkeypatch, opened, no_config):
    monkeypatch.setattr(interlock, "_comports", fake_ports(("/dev/ttyS0", None, None, "n/a")))
    for url in ("spy:///dev/ttyS0", "hwgrep://ttyS0", "alt:///dev/ttyS0"):
        with pytest.raises(harness.UsbDeviceNotAllowed, match="refusing /dev/ttyS0"):
            harness.open_port(url)
    assert opened == []


def test_cp2110_and_schemes_pumpmock_does_not_know_are_refused(tmp_path, monkeypatch, opened):
    with pytest.raises(harness.SafetyInterlockError, match="CP2110"):
        harness.open_port("cp2110://0001:0004:00")
    package = tmp_path / "acme_handlers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "protocol_acme.py").write_text("Serial = None  # a third-party handler pumpmock knows nothing of\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(serial, "protocol_handler_packages", serial.protocol_handler_packages + ["acme_handlers"])
    with pytest.raises(harness.SafetyInterlockError, match="cannot tell what a acme:// line reaches"):
        harness.open_port("acme://head0")
    with pytest.raises(harness.BadUrlError, match="unknown URL scheme nope://"):
        harness.open_port("nope://x")
    assert opened == []


# ---- the device opened is the device vetted ------------------------------------------------------
@posix_only
def test_a_link_re_pointed_between_the_check_and_the_open_still_opens_the_device_vetted(
        tmp_path, monkeypatch, pty_pair, no_config):
    """Issue 12: check_port resolved a symlink, serial_for_url opened the unresolved path."""
    vetted_master, vetted = pty_pair()
    other_master, other = pty_pair()  # stands in for /dev/ttyS0
    link = tmp_path / "ttyBOARD"
    link.symlink_to(vetted)
    real_check = interlock.check_port

    def check_then_re_point(path, *args, **kwargs):
        reason = real_check(path, *args, **kwargs)
        link.unlink()
        link.symlink_to(other)
        return reason

    monkeypatch.setattr(interlock, "check_port", check_then_re_point)
    port = harness.open_port(str(link), handshake=False, timeout=0.1)
    try:
        assert os.fstat(port.fd).st_rdev == os.stat(vetted).st_rdev
        port.write(b"\x00ping")
        os.set_blocking(vetted_master, False)
        os.set_blocking(other_master, False)
        assert os.read(vetted_master, 16) == b"\x00ping"
        with pytest.raises(BlockingIOError):
            os.read(other_master, 16)
    finally:
        port.close()


@posix_only
def test_a_descriptor_that_is_not_the_device_vetted_is_closed_before_a_byte_is_sent(monkeypatch, pty_pair, no_config):
    vetted_master, vetted = pty_pair()
    other_master, other = pty_pair()
    handed = []

    def open_the_other(url, **options):  # as if the node were replaced between the check and the open
        handed.append(serial.Serial(other, **options))
        return handed[-1]

    monkeypatch.setattr(interlock, "_serial_for_url", open_the_other)
    with pytest.raises(harness.SafetyInterlockError, match="not the one checked.*nothing was sent"):
        harness.open_port(vetted)
    assert handed and not handed[0].is_open
    os.set_blocking(other_master, False)
    with pytest.raises(BlockingIOError):
        os.read(other_master, 16)


@posix_only
def test_a_port_opens_exclusively_so_a_second_run_hears_port_busy(pty_pair, no_config):
    _master, path = pty_pair()
    first = harness.open_port(path, handshake=False)
    try:
        with pytest.raises(harness.PortBusyError, match="port busy: %s" % path):
            harness.open_port(path, handshake=False)
    finally:
        first.close()
    harness.open_port(path, handshake=False).close()  # free again once the first run closed it


@posix_only
def test_hwgrep_opens_the_device_it_matched_and_skip_busy_takes_the_next(monkeypatch, pty_pair, no_config):
    _m1, first = pty_pair()
    _m2, second = pty_pair()
    monkeypatch.setattr(interlock, "_comports", fake_ports((first, None, None, "bench pty"),
                                                           (second, None, None, "bench pty")))
    ordered = sorted([first, second])
    port = harness.open_port("hwgrep://bench pty", handshake=False)
    try:
        assert port.vetted.device == ordered[0]
        with pytest.raises(harness.PortBusyError):
            harness.open_port("hwgrep://bench pty", handshake=False)
        other = harness.open_port("hwgrep://bench pty&skip_busy", handshake=False)
        assert other.vetted.device == ordered[1]
        other.close()
    finally:
        port.close()
    with pytest.raises(harness.NoSuchPortError, match="no serial port matches hwgrep://nothing-like-it"):
        harness.open_port("hwgrep://nothing-like-it")
    with pytest.raises(harness.BadUrlError, match="unknown option 'colour'"):
        harness.open_port("hwgrep://bench&colour")


def test_open_port_runs_the_interlock_before_touching_a_device(monkeypatch, opened):
    monkeypatch.setattr("pumpmock.harness.interlock._comports", fake_ports(("/dev/ttyUSB7", 0x1234, 0x5678, "x")))
    with pytest.raises(harness.UsbDeviceNotAllowed, match="1234:5678"):
        harness.open_port("/dev/ttyUSB7", allowlist=Allowlist())
    assert opened == []


# ---- the vetted connection is the one that gets the bytes ------------------------------------------
def test_open_vetted_port_hands_back_the_connection_that_passed_the_handshake(monkeypatch):
    """Issue 12: open_vetted_port vetted one connection, closed it and opened another (for exec://
    a new child that never did the handshake)."""
    opens = []
    real = serial.serial_for_url
    monkeypatch.setattr(serial, "serial_for_url", lambda *a, **k: opens.append(a[0]) or real(*a, **k))
    port = harness.open_vetted_port("pumpmock://?clock=virtual")
    try:
        assert opens == ["pumpmock://?clock=virtual"]
        assert port.link.pump.host_session_id is not None  # this pump answered the HELLO
    finally:
        port.close()


def test_a_line_that_is_not_the_mock_is_closed_at_open():
    with pytest.raises(harness.NotAMockError, match="no answer to HELLO"):
        harness.open_port("loop://", timeout=0.05)


def test_a_child_behind_exec_is_started_once_and_that_child_gets_the_replay(monkeypatch, tmp_path):
    """Issue 12: for exec:// the replayed bytes went to a new child that never did the handshake."""
    import sys

    from pumpmock.harness.transcript import read_transcript, replay
    from pumpmock.protocol.codes import Role
    recorded = tmp_path / "session.jsonl"
    with harness.connect("pumpmock://?clock=virtual", role=Role.CLINICIAN, transcript=str(recorded)) as session:
        session.status()
    opens = []
    real = serial.serial_for_url
    monkeypatch.setattr(serial, "serial_for_url", lambda *a, **k: opens.append(a[0]) or real(*a, **k))
    port = harness.open_vetted_port("exec:%s -m pumpmock.harness.cli serve --stdio --test-mode" % sys.executable,
                                    timeout=2)
    try:
        child = port.process.pid
        again = replay(read_transcript(recorded), port, timeout_s=2)
        assert port.process.pid == child and len(opens) == 1
    finally:
        port.close()
    assert [e.name for e in again if e.dir == "pump>host"][:2] == ["HELLO", "AUTH_CHALLENGE"]
