"""pumpmock.harness.proxy: relaying between two ports through link faults (in-process pipes and pseudo-terminals)."""

import argparse
import os
import socket
import threading
import time

import pytest
import serial

from pumpmock.harness.client import PumpSession
from pumpmock.harness.errors import NotAMockError, UsbDeviceNotAllowed
from pumpmock.harness.faults import FaultModel
from pumpmock.harness.proxy import LinkProxy, PtyPort, add_arguments, main, run_proxy
from pumpmock.harness.transcript import read_transcript
from pumpmock.protocol import REQUEST, FrameDecoder, encode_message
from pumpmock.protocol.examples import EXAMPLES

posix_only = pytest.mark.skipif(not hasattr(os, "openpty"), reason="pseudo-terminals are POSIX only")


class PipeEnd:
    """One end of an in-process byte pipe, pyserial-like and thread-safe."""

    def __init__(self, inbox, outbox, ready):
        self._inbox, self._outbox, self._ready = inbox, outbox, ready
        self.timeout = 0.25
        self.is_open = True

    def write(self, data):
        with self._ready:
            self._outbox += data
            self._ready.notify_all()
        return len(data)

    def read(self, size=1):
        with self._ready:
            self._ready.wait_for(lambda: len(self._inbox) >= size or not self.is_open, self.timeout)
            data = bytes(self._inbox[:size])
            del self._inbox[:size]
            return data

    @property
    def in_waiting(self):
        with self._ready:
            return len(self._inbox)

    def close(self):
        self.is_open = False


def pipe():
    ready, one, two = threading.Condition(), bytearray(), bytearray()
    return PipeEnd(one, two, ready), PipeEnd(two, one, ready)


class AnsweringPump(PipeEnd):
    """A fake pump port: every HELLO written to it is answered with the mock's identity."""

    def __init__(self):
        super().__init__(bytearray(), bytearray(), threading.Condition())
        self._decoder = FrameDecoder()

    def write(self, data):
        answers = b"".join(encode_message(EXAMPLES["HELLO"][1], frame.seq) for frame in self._decoder.feed(data)
                           if not isinstance(frame, Exception) and frame.kind == REQUEST and frame.msg_id == 0x01)
        with self._ready:
            self._inbox += answers  # what this port's reader gets
            self._ready.notify_all()
        return len(data)


# ---- in-process --------------------------------------------------------------------------------------
def test_a_clean_proxy_is_transparent_both_ways():
    app, proxy_a = pipe()
    proxy_b, pump = pipe()
    with LinkProxy(proxy_a, proxy_b, FaultModel(), poll_s=0.02) as proxy:
        app.write(b"to the pump\x00")
        pump.timeout = app.timeout = 1.0
        assert pump.read(12) == b"to the pump\x00"
        pump.write(b"to the host\x00")
        assert app.read(12) == b"to the host\x00"
    assert proxy.stats["to_pump"]["bytes_out"] == 12 and proxy.stats["to_host"]["bytes_out"] == 12
    assert not proxy.running


def test_the_reference_client_gets_through_a_faulty_proxy():
    app, proxy_a = pipe()
    model = FaultModel.parse("drop=0.25,corrupt=0.1,duplicate=0.1,unit=frame,seed=9")
    with LinkProxy(proxy_a, AnsweringPump(), model, poll_s=0.02) as proxy:
        session = PumpSession(app, timeout=0.05, retries=30)
        for _ in range(8):
            assert session.hello().banner == "NOT FOR CLINICAL USE"
    hit = proxy.stats["to_pump"]["frames_hit"] + proxy.stats["to_host"]["frames_hit"]
    assert hit > 0 and session.stats["retransmissions"] > 0


def test_delay_applies_through_the_proxy():
    app, proxy_a = pipe()
    proxy_b, pump = pipe()
    with LinkProxy(proxy_a, proxy_b, "delay=30ms", poll_s=0.02):
        start = time.monotonic()
        app.write(b"x")
        pump.timeout = 1.0
        assert pump.read(1) == b"x"
        assert 0.029 <= time.monotonic() - start < 0.5


def test_stop_is_prompt():
    _, proxy_a = pipe()
    proxy_b, _ = pipe()
    proxy = LinkProxy(proxy_a, proxy_b, "", poll_s=0.05).start()
    assert proxy.running
    start = time.monotonic()
    proxy.stop()
    assert not proxy.running and time.monotonic() - start < 0.5


def test_a_failing_port_stops_the_proxy_and_says_why():
    class Broken(PipeEnd):
        def read(self, size=1):
            raise OSError("unplugged")

    _, proxy_a = pipe()
    proxy = LinkProxy(proxy_a, Broken(bytearray(), bytearray(), threading.Condition()), "", poll_s=0.02).start()
    deadline = time.monotonic() + 2
    while proxy.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not proxy.running and "unplugged" in str(proxy.error)


# ---- pseudo-terminals ---------------------------------------------------------------------------------
@posix_only
def test_an_app_on_a_pseudo_terminal_reaches_the_pump_through_faults():
    with PtyPort() as pty:
        model = FaultModel.parse("drop=0.2,unit=frame,seed=4")
        with LinkProxy(pty, AnsweringPump(), model, poll_s=0.02) as proxy:
            app = serial.serial_for_url(pty.path, timeout=0.2)
            try:
                session = PumpSession(app, timeout=0.15, retries=20)
                for _ in range(5):
                    assert session.hello().magic == b"PMCK"
            finally:
                app.close()
    assert proxy.stats["to_pump"]["bytes_in"] > 0 and proxy.error is None


@posix_only
def test_run_proxy_until_stopped(tmp_path):
    ready, stop, result = threading.Event(), threading.Event(), {}

    def on_ready(proxy):
        result["path"] = proxy.port_a.path
        ready.set()

    def run():
        result["stats"] = run_proxy("pty", "pumpmock://", "delay=5ms", stop, transcript=tmp_path / "pump.jsonl",
                                    on_ready=on_ready)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(5)
    with serial.serial_for_url(result["path"], timeout=1.0) as app:
        session = PumpSession(app, timeout=0.5)
        assert session.hello().magic == b"PMCK"
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert result["stats"]["to_pump"]["bytes_out"] == result["stats"]["to_pump"]["bytes_in"] > 0
    entries = read_transcript(tmp_path / "pump.jsonl")  # the proxy's own handshake came before the tap
    assert [(e.dir, e.name) for e in entries] == [("host>pump", "HELLO"), ("pump>host", "HELLO")]


def test_run_proxy_refuses_a_pump_side_that_only_echoes():
    """loop:// hears its own HELLO: not the mock, so nothing is relayed and no pty is made."""
    with pytest.raises(NotAMockError):
        run_proxy("pty", "loop://", "", threading.Event(), on_ready=lambda proxy: pytest.fail("relaying started"))


@posix_only
def test_run_proxy_sends_a_plain_tcp_listener_nothing_but_hello():
    """Issue 12: `pumpmock proxy pty socket://127.0.0.1:P` relayed an app's bytes to any listener."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    received = bytearray()

    def accept():
        connection, _ = listener.accept()
        connection.settimeout(3)
        try:
            while True:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                received.extend(chunk)
        except OSError:
            pass
        finally:
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = "socket://127.0.0.1:%d" % listener.getsockname()[1]
    try:
        with pytest.raises(NotAMockError, match="no answer to HELLO"):
            run_proxy("pty", url, "", threading.Event(), on_ready=lambda proxy: pytest.fail("relaying started"))
    finally:
        thread.join(10)
        listener.close()
    frames = FrameDecoder().feed(bytes(received))
    assert frames and {(f.kind, f.msg_id) for f in frames} == {(REQUEST, 0x01)}  # HELLO (retried), nothing else


def test_run_proxy_refuses_a_hardware_port_off_the_allowlist(monkeypatch, tmp_path):
    monkeypatch.delenv("PUMPMOCK_ALLOW_PORTS", raising=False)
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("PUMPMOCK_CONFIG", str(tmp_path / "empty.toml"))
    with pytest.raises(UsbDeviceNotAllowed):
        run_proxy("loop://", "/dev/null", "", threading.Event())


def test_the_proxy_command_refuses_a_refused_side_with_status_2(monkeypatch, capsys, tmp_path):
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("PUMPMOCK_CONFIG", str(tmp_path / "empty.toml"))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert main(parser.parse_args(["pty", "spy:///dev/null"])) == 2
    assert "refusing /dev/null" in capsys.readouterr().err
    assert main(parser.parse_args(["pty", "nope://x"])) == 2
    assert "unknown URL scheme nope://" in capsys.readouterr().err
    assert main(parser.parse_args(["pty", "--allow-usb", "*:*"])) == 2
    assert "--allow-usb: not a USB id '*:*'" in capsys.readouterr().err


def test_the_proxy_command_refuses_a_bad_fault_spec(capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert main(parser.parse_args(["pty", "--faults", "currupt=1%"])) == 2
    assert "unknown key 'currupt'" in capsys.readouterr().err
    args = parser.parse_args(["pty"])
    assert args.pump_side == "pumpmock://" and args.faults == "" and args.transcript is None


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="pseudo-terminals exist only on POSIX")
def test_the_proxy_command_stopped_by_sigterm_still_reports_its_statistics():
    """A script's trap or `kill` sends SIGTERM, not Ctrl-C: the numbers of the run must not be lost."""
    import signal
    import subprocess
    import sys
    proxy = subprocess.Popen([sys.executable, "-m", "pumpmock.harness.cli", "proxy", "pty"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        path = proxy.stdout.readline().strip()  # its first line, once it is ready
        assert path.startswith("/dev/"), path
        with serial.Serial(path, timeout=1) as port:
            from pumpmock.protocol.messages import HelloRequest
            port.write(encode_message(HelloRequest(1, 1), 1))
            assert port.read_until(b"\x00")  # one frame each way, to count
        proxy.send_signal(signal.SIGTERM)
        _out, err = proxy.communicate(timeout=30)
    finally:
        if proxy.poll() is None:
            proxy.kill()
            proxy.wait()
    assert proxy.returncode == 0, err
    assert "to_pump:" in err and "to_host:" in err, err
