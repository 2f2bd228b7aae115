"""Issue 12, bad input: every entry point checks its input once, up front, and says in one line
what is wrong, with the documented exit status (2 for pumpmock commands, a pytest usage error
under the plugin): no traceback, no silent misreading, nothing opened."""

import json
import os
from types import SimpleNamespace

import pytest
import serial

from pumpmock import harness
from pumpmock.harness import cli, interlock
from pumpmock.protocol import encode_message
from pumpmock.protocol.examples import EXAMPLES


pytestmark = pytest.mark.usefixtures("no_config")  # tests/conftest.py: no allowlist from this machine


@pytest.fixture
def board_uart(monkeypatch):
    """/dev/ttyS0 listed as a port with no USB identity; any open fails the test (none may happen)."""
    monkeypatch.setattr(interlock, "_comports", lambda: [
        SimpleNamespace(device="/dev/ttyS0", vid=None, pid=None, description="ttyS0", manufacturer=None, hwid="PNP0501")])
    monkeypatch.setattr(serial, "serial_for_url", lambda *a, **k: pytest.fail("opened %r" % (a,)))


@pytest.fixture
def transcript(tmp_path):
    """A valid one-request transcript's lines, and a writer for variants of it."""
    hello = encode_message(EXAMPLES["HELLO"][0], 1).hex()
    lines = [json.dumps({"transcript": 1, "meta": {}}),
             json.dumps({"t": 0.0, "dir": "host>pump", "wire": hello})]

    def write(*body):
        path = tmp_path / "session.jsonl"
        path.write_text("\n".join(body) + "\n")
        return str(path)

    return lines, write


def one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert err and "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


# ---- URLs and their options ----------------------------------------------------------------------
@pytest.mark.parametrize("command", [["check"], ["fuzz", "--budget", "1s"], ["replay", "SESSION"]])
@pytest.mark.parametrize("url,complaint", [
    ("nope://x", "unknown URL scheme nope://"),
    ("pumpmock://?baud=-1", "baud must be a whole number"),
    ("pumpmock://?faults=corrupt%3D200%25", "bad value for 'corrupt'"),
    ("pumpmock://?hostile=bogus%3D1", "unknown key 'bogus'"),
    ("pumpmock://?serial=" + "X" * 40, "serial must be 1 to 16 printable ASCII characters"),
    ("socket://127.0.0.1:99999", "port from 1 to 65535"),
    ("exec:", "exec:// needs a command"),
    ("cp2110://0001:0004:00", "refusing cp2110://"),
    # a board's path in an emulator URL would test the emulator in the board's name
    ("pumpmock:///dev/ttyUSB0", "no path is taken ('/dev/ttyUSB0'): pumpmock:// is the in-process emulator"),
    ("pumpmock://bench/dev/ttyACM0?seed=1", "no path is taken"),
    ("pumpmock://?clock=virtual#board", "no #fragment is taken"),
])
def test_a_bad_url_is_one_line_and_status_2_everywhere(command, url, complaint, capsys, transcript):
    lines, write = transcript
    argv = [write(*lines) if word == "SESSION" else word for word in command] + [url]
    assert cli.main(argv) == 2
    assert complaint in one_line_error(capsys)


@pytest.mark.parametrize("url", ["spy:///dev/ttyS0", "hwgrep://ttyS0", "alt:///dev/ttyS0", "/dev/ttyS0"])
@pytest.mark.parametrize("command", [["check"], ["fuzz", "--budget", "1s"], ["replay", "SESSION"], ["proxy", "pty"],
                                     ["bench", "--report-dir", "REPORT", "--port"]])
def test_hardware_behind_any_scheme_is_refused_by_every_command_before_it_is_opened(
        command, url, board_uart, capsys, transcript, tmp_path):
    """Issue 12: `pumpmock check spy:///dev/ttyS0` and `hwgrep://ttyS0` opened it and sent HELLO."""
    lines, write = transcript
    argv = [write(*lines) if word == "SESSION" else str(tmp_path / "r") if word == "REPORT" else word
            for word in command] + [url]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "refusing /dev/ttyS0" in err and "--allow-port /dev/ttyS0" in err and "Traceback" not in err


def test_a_mistyped_port_is_no_such_port_listing_the_ports_there_are(board_uart, capsys):
    assert cli.main(["check", "/dev/ttyNOPE"]) == 2
    err = one_line_error(capsys)
    assert "no such port /dev/ttyNOPE; serial ports here: /dev/ttyS0" in err and "--allow-port" not in err


@pytest.mark.parametrize("command", ["check", "fuzz", "replay", "proxy", "bench", "flash", "ports"])
def test_allow_usb_and_allow_port_are_taken_wherever_a_port_is_opened(command):
    """Issue 12: the refusal suggested --allow-port, which only flash and bench accepted."""
    parser = cli.build_parser(command)
    words = {"check": [], "fuzz": [], "replay": ["t.jsonl"], "proxy": ["pty"], "bench": ["--port", "/dev/ttyACM0"],
             "flash": ["--port", "/dev/ttyACM0"], "ports": []}[command]
    args = parser.parse_args([command, *words, "--allow-usb", "1234:5678", "--allow-port", "/dev/ttyS0"])
    assert args.allow_usb == ["1234:5678"] and args.allow_port == ["/dev/ttyS0"]


def test_an_allowed_port_is_let_through_by_allow_port(board_uart, monkeypatch, capsys):
    opened = []
    monkeypatch.setattr(interlock, "_serial_for_url", lambda url, **options: opened.append(url) or
                        (_ for _ in ()).throw(serial.SerialException("stand-in: not opened")))
    assert cli.main(["check", "/dev/ttyS0", "--allow-port", "/dev/ttyS0"]) == 2
    assert opened == [os.path.realpath("/dev/ttyS0")]  # past the interlock, to the (stubbed) open
    assert "stand-in: not opened" in capsys.readouterr().err


# ---- the allowlist's configuration ---------------------------------------------------------------
@pytest.mark.parametrize("config,environ,complaint", [
    ("[interlock\n", {}, "not valid TOML"),
    ('[interlock]\nallow_ports = "/dev/ttyS0"\n', {}, "allow_ports must be a list of strings"),
    ('[interlok]\nallow_ports = ["/dev/ttyS0"]\n', {}, r"unknown section [interlok]"),
    ("", {"PUMPMOCK_ALLOW_USB": "*:*"}, "PUMPMOCK_ALLOW_USB: not a USB id '*:*'"),
])
def test_a_bad_allowlist_configuration_is_one_line_and_status_2(config, environ, complaint, tmp_path,
                                                                 monkeypatch, capsys):
    path = tmp_path / "config.toml"
    path.write_text(config)
    monkeypatch.setenv("PUMPMOCK_CONFIG", str(path))
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    for argv in (["check"], ["ports"], ["fuzz", "--budget", "1s"]):
        assert cli.main(argv) == 2
        assert complaint in one_line_error(capsys)


def test_a_missing_config_file_named_by_pumpmock_config_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PUMPMOCK_CONFIG", str(tmp_path / "nope.toml"))
    assert cli.main(["check"]) == 2
    assert "nope.toml does not exist" in one_line_error(capsys)


# ---- command-line values -------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["check", "--timeout", "-1"], ["check", "--baud", "fast"], ["check", "--baud", "0"],
                                  ["fuzz", "--steps", "0"], ["fuzz", "--timeout", "nan"], ["replay", "t", "--baud", "x"]])
def test_bad_numbers_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert "error: argument --" in capsys.readouterr().err


def test_a_check_that_does_not_exist_is_a_usage_error(capsys):
    assert cli.main(["check", "--only", "no-such-check"]) == 2
    assert "no check named no-such-check" in one_line_error(capsys)


# ---- transcripts: never replayed as "equivalent" when they are not a whole session ----------------
@pytest.mark.parametrize("variant,complaint", [
    ("no dir", "'dir' must be"),
    ("list", "a JSON list, not an object"),
    ("non-hex wire", "'wire' must be the frame's bytes in hex"),
    ("no t", "'t' must be seconds"),
    ("empty", "no host>pump frames: nothing to replay"),
    ("header only", "no host>pump frames: nothing to replay"),
    ("truncated", "the last line is cut short"),
])
def test_a_transcript_that_is_not_a_whole_session_is_refused_not_equivalent(variant, complaint, transcript, capsys):
    lines, write = transcript
    entry = json.loads(lines[1])
    body = {"no dir": [lines[0], json.dumps({k: v for k, v in entry.items() if k != "dir"})],
            "list": [lines[0], json.dumps([entry])],
            "non-hex wire": [lines[0], json.dumps(dict(entry, wire="zz-not-hex"))],
            "no t": [lines[0], json.dumps({k: v for k, v in entry.items() if k != "t"})],
            "empty": [""],
            "header only": [lines[0]],
            "truncated": lines + [lines[1][:25]]}[variant]
    path = write(*body)
    assert cli.main(["replay", path]) == 2
    assert complaint in one_line_error(capsys)
    assert cli.main(["fuzz", "--replay", path]) == 2
    assert complaint in one_line_error(capsys)


def test_a_whole_hand_written_transcript_replays(transcript, capsys):
    """t, dir and wire are enough: the rest is decoded from the wire."""
    lines, write = transcript
    assert cli.main(["replay", write(*lines)]) == 1  # the emulator answers; the original recorded no answer
    assert "only in b" in capsys.readouterr().out


def test_decode_refuses_a_bad_transcript_line_with_status_2(transcript, capsys):
    lines, write = transcript
    assert cli.main(["decode", write(lines[0], json.dumps([1, 2]))]) == 2
    assert "a JSON list, not an object" in one_line_error(capsys)


# ---- the pytest plugin: a usage error, once --------------------------------------------------------
@pytest.mark.parametrize("option,complaint", [
    ("--pump-url=foo://bar", "unknown URL scheme foo://"),
    ("--pump-url=pumpmock://?baud=-1", "baud must be a whole number"),
    ("--pump-baud=fast", "--pump-baud 'fast'"),
    ("--pump-oracles=nosuch", "no oracle named nosuch"),
    ("--pump-faults=currupt=1%", "unknown key 'currupt'"),
    ("--pump-allow-usb=*:*", "not a USB id '*:*'"),
])
def test_bad_plugin_options_are_one_usage_error_not_a_failure_per_test(pytester, option, complaint):
    """Issue 12: --pump-url foo://bar gave a 300-line traceback per test, --pump-baud fast an
    INTERNALERROR, --pump-oracles nosuch failed every test."""
    pytester.makepyfile("def test_one(programmer):\n    pass\n\ndef test_two(programmer):\n    pass\n")
    result = pytester.runpytest(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = "\n".join(result.errlines + result.outlines)
    assert complaint in text and "INTERNALERROR" not in text and "Traceback" not in text


def test_a_misspelt_oracle_in_a_marker_is_a_usage_error(pytester):
    pytester.makepyfile("import pytest\n\n@pytest.mark.pump_oracles('dose_limit')\n"
                        "def test_one(programmer):\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no oracle named dose_limit" in "\n".join(result.errlines + result.outlines)


def test_the_plugin_refuses_hardware_off_the_allowlist_at_start(pytester, monkeypatch):
    monkeypatch.setattr(interlock, "_comports", lambda: [])
    pytester.makepyfile("def test_one(programmer):\n    pass\n")
    result = pytester.runpytest_inprocess("--pump-url=spy:///dev/null")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "refusing /dev/null" in "\n".join(result.errlines + result.outlines)


def test_a_hostile_key_given_twice_is_refused_not_last_one_wins():
    from pumpmock.harness.hostile import HostileSpec
    with pytest.raises(ValueError, match="'all' is given twice"):
        HostileSpec.parse("all=100%,all=0")
    with pytest.raises(harness.BadUrlError, match="'all' is given twice"):
        harness.open_port("pumpmock://?hostile=all%3D1%2Call%3D0")
    with pytest.raises(harness.BadUrlError, match="seed is given 2 times"):
        harness.open_port("pumpmock://?seed=1&seed=2")
