"""`pumpmock serve --tcp` / `--rfc2217` keep the port for the client that holds it (issue 12).

A newcomer is told "port busy" in one line and closed, the holder untouched; a holder that closes,
half-closes or resets frees the port at once; one silent past the idle limit is replaced and its
session ends. Every read here has a timeout; nothing asserts how fast the machine is.
"""

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest
import serial

from pumpmock import harness
from pumpmock.harness import servers as serve
from pumpmock.harness.errors import UnauthorizedError
from pumpmock.protocol import MAGIC
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Error, Role
from pumpmock.protocol.framing import RESPONSE

from test_serve import _hijack, _log_in, connect_tcp, served, serial_link, socket_link  # noqa: F401 (served: a fixture)
from targets import start, stop

BUSY = b"pumpmock serve: port busy: pumpmock serve at "
KINDS = {"tcp": (serve.TcpServer, "socket://"), "rfc2217": (serve.Rfc2217Server, "rfc2217://")}


def read_to_end(sock, timeout_s=5):
    """Everything the server sends until it closes (a reset counts as the end)."""
    sock.settimeout(timeout_s)
    got = b""
    while True:
        try:
            data = sock.recv(4096)
        except (ConnectionResetError, socket.timeout):
            return got
        if not data:
            return got
        got += data


def wait_until(condition, timeout_s=5):
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_newcomer_is_told_busy_and_the_holder_goes_on(served, kind):
    server_class, scheme = KINDS[kind]
    server = served(server_class(serve.make_pump(test_mode=True)))
    url = scheme + server.address
    with harness.connect(url, role=Role.CLINICIAN, timeout=2) as holder:
        for _attempt in range(4):  # a newcomer that retries in a loop
            with pytest.raises(harness.PortBusyError) as refused:
                harness.connect(url, timeout=2, retries=1)
            line = str(refused.value)
            assert line.startswith("port busy: pumpmock serve at %s is held by another client since " % server.address)
            assert "\n" not in line
            assert holder.status().role == Role.CLINICIAN  # still logged in, same connection
    assert (server.connections, server.refused, server.replaced) == (1, 4, 0)


def test_busy_reaches_a_client_whose_port_is_read_byte_by_byte(served, tmp_path):
    """A socket:// port behind a transcript tap is read through pyserial, a byte a read: the line is
    still told, not a "socket disconnected" after its first bytes went to the frame decoder."""
    server = served(serve.TcpServer(serve.make_pump(test_mode=True)))
    url = "socket://" + server.address
    with harness.connect(url, timeout=2):
        with pytest.raises(harness.PortBusyError, match="^port busy: pumpmock serve at "):
            harness.connect(url, timeout=2, retries=1, transcript=str(tmp_path / "wire.jsonl"))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_raw_socket_newcomer_reads_the_busy_line_then_the_end(served, kind, monkeypatch):
    monkeypatch.setattr(serve, "LEAVING_LINGER_S", 1.0)  # RFC 2217 keeps a refused line open that long
    server_class, scheme = KINDS[kind]
    server = served(server_class(serve.make_pump(test_mode=True)))
    with serial.serial_for_url(scheme + server.address, timeout=0.5) as port:
        holder = serial_link(port)
        assert holder.request(m.HelloRequest(1, 1))[0].kind == RESPONSE
        with connect_tcp(server.address) as newcomer:
            newcomer.settimeout(5)
            first = b""
            while b"\n" not in first:  # told at once, before it says anything
                data = newcomer.recv(4096)
                assert data, "closed before the line"
                first += data
            assert BUSY in first
            newcomer.sendall(b"hello?")  # an answer to its first bytes, then the end
            assert BUSY in read_to_end(newcomer)
        assert holder.request(m.HelloRequest(1, 1))[0].kind == RESPONSE


def test_the_reference_client_turns_busy_into_one_line_through_pumpmock_check():
    process, address = start("--tcp", "0", "--test-mode")
    try:
        with connect_tcp(address) as holder:
            assert socket_link(holder).request(m.HelloRequest(1, 1))[0].kind == RESPONSE
            done = subprocess.run([sys.executable, "-m", "pumpmock.harness.cli", "check", "socket://" + address],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 2, done.stdout + done.stderr
            assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
            assert "port busy: pumpmock serve at %s is held by another client since" % address in done.stderr
            assert socket_link(holder).request(m.HelloRequest(1, 1))[0].kind == RESPONSE
    finally:
        assert stop(process) == 0


def _second_client(address):
    """What a second client that connects and says HELLO gets: "busy" (the one line), or what else came."""
    with connect_tcp(address) as sock:
        sock.settimeout(5)
        sock.sendall(m.encode_message(m.HelloRequest(0xB0B, 1), 0x55))
        got = b""
        while b"\n" not in got and b"\x00" not in got:  # the busy line ends in LF; a frame in 0x00
            try:
                data = sock.recv(4096)
            except (ConnectionResetError, socket.timeout):
                break
            if not data:
                break
            got += data
    return "busy" if got.startswith(BUSY) else "got in: %r" % got[:80]


def test_one_check_run_holds_the_line_from_its_first_check_to_its_last():
    """`pumpmock check socket://...` opens the served line once: a second client that tries to
    connect at any moment of the run is told "port busy", and the checks pass as on their own."""
    from pumpmock.harness.checks import CHECKS

    process, address = start("--tcp", "0", "--test-mode")
    try:
        check = subprocess.Popen([sys.executable, "-m", "pumpmock.harness.cli", "check", "socket://" + address],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            os.set_blocking(check.stdout.fileno(), False)
            out = bytearray()

            def checks_done():
                """Checks reported so far (a check's line is printed before the run goes on)."""
                try:
                    out.extend(os.read(check.stdout.fileno(), 65536))
                except BlockingIOError:
                    pass
                return len(re.findall(rb"^  (?:PASS|FAIL|skip)  ", out, re.M))

            tries = []
            deadline = time.monotonic() + 120
            while check.poll() is None and time.monotonic() < deadline:
                done = checks_done()
                if done == 0:  # not connected yet, surely: nothing to hold
                    time.sleep(0.01)
                    continue
                if done == len(CHECKS):
                    break  # the last check is over: the run may let go of the line now
                outcome = _second_client(address)
                # One that got in after the last check's line was printed came after the run let go.
                if outcome != "busy" and checks_done() == len(CHECKS):
                    break
                tries.append(outcome)
                time.sleep(0.02)
            _rest, err = check.communicate(timeout=120)
        finally:
            if check.poll() is None:
                check.kill()
                check.wait(timeout=10)
        out = out.decode() + _rest.decode()
        assert check.returncode == 0, out + err.decode()
        assert re.search(r"^fail +0$", out, re.M), out
        assert len(tries) >= 5, "the run was too short to try a second client during it: %s" % out
        assert set(tries) == {"busy"}, [t for t in tries if t != "busy"][:3]
    finally:
        assert stop(process) == 0


class GatedPump:
    """A pump whose receive can be held, so the test decides what the server sees in one round."""

    def __init__(self, pump):
        self.pump = pump
        self.hold = threading.Event()
        self.entered = threading.Event()
        self.release = threading.Event()

    def receive(self, data, now_ms):
        if self.hold.is_set():
            self.hold.clear()
            self.entered.set()
            self.release.wait(10)
        return self.pump.receive(data, now_ms)

    def __getattr__(self, name):
        return getattr(self.pump, name)


def _close(sock):
    sock.close()


def _reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
    sock.close()


def _half_close(sock):
    sock.shutdown(socket.SHUT_WR)


@pytest.mark.parametrize("leave", [_close, _reset, _half_close], ids=["close", "reset", "half-close"])
def test_a_holder_that_goes_frees_the_port_at_once(served, leave):
    """The holder goes and the newcomer connects while the server is busy, so it sees both in one
    round: the holder's end is read first, and the newcomer is served, never told busy."""
    pump = GatedPump(serve.make_pump(test_mode=True))
    server = served(serve.TcpServer(pump))
    holder = connect_tcp(server.address)
    try:
        _log_in(socket_link(holder))
        pump.hold.set()
        holder.sendall(m.encode_message(m.GetStatusRequest(), 0x99)[:4])  # no answer: no write finds it gone
        assert pump.entered.wait(10), "the server never took the holder's bytes"
        leave(holder)
        with connect_tcp(server.address) as newcomer:
            newcomer.sendall(m.encode_message(m.HelloRequest(7, 1), 0x77))
            pump.release.set()
            link = socket_link(newcomer)
            frames = link.frames_until(lambda got: any(f.seq == 0x77 for f in got))
            assert [f.kind for f in frames if f.seq == 0x77] == [RESPONSE]
            assert _hijack(link) == [Error.UNAUTHORIZED] * 2  # the holder's login went with it
        if leave is _half_close:
            assert read_to_end(holder) == b""  # closed by the server, and never told busy
    finally:
        pump.release.set()
        holder.close()
    assert (server.connections, server.refused) == (2, 0)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_silent_holder_past_the_idle_limit_is_replaced_and_its_session_ends(served, kind):
    server_class, scheme = KINDS[kind]
    server = served(server_class(serve.make_pump(test_mode=True), idle_limit_s=0.3))
    url = scheme + server.address
    with harness.connect(url, role=Role.CLINICIAN, timeout=2, retries=1) as holder:
        time.sleep(0.5)  # silent: no byte for longer than the limit
        with harness.connect(url, timeout=2) as newcomer:
            assert newcomer.identity.magic == MAGIC
            with pytest.raises(UnauthorizedError):  # a new connection: none of the holder's role
                newcomer.status()
            with pytest.raises(harness.PortError, match="^session ended: pumpmock serve at .* gave this connection "
                                                        "to a newcomer after"):
                holder.status()
    assert (server.connections, server.replaced) == (2, 1)


def test_a_raw_holder_that_connects_and_sends_nothing_is_replaced_after_the_limit(served):
    server = served(serve.TcpServer(serve.make_pump(test_mode=True), idle_limit_s=0.3))
    with connect_tcp(server.address) as silent:
        time.sleep(0.5)
        with connect_tcp(server.address) as late:
            assert m.decode_message(socket_link(late).request(m.HelloRequest(3, 1))[0]).magic == MAGIC
        assert read_to_end(silent).startswith(b"pumpmock serve: session ended: ")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_served_connection_has_tcp_keepalive_on(served, kind):
    """A holder whose machine vanished without a FIN is found dead by the OS (keepalive probes go
    unanswered) and freed like one that reset, with no newcomer or idle limit needed. Not waited
    for here: the options on the server's end of the connection are read back."""
    server_class, scheme = KINDS[kind]
    server = served(server_class(serve.make_pump(test_mode=True)))
    with harness.connect(scheme + server.address, timeout=2):  # answered: the server accepted it
        held = server.client
        assert held.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
        tuned = {"TCP_KEEPIDLE": serve.KEEPALIVE_IDLE_S, "TCP_KEEPINTVL": serve.KEEPALIVE_INTERVAL_S,
                 "TCP_KEEPCNT": serve.KEEPALIVE_PROBES,
                 "TCP_USER_TIMEOUT": serve.KEEPALIVE_IDLE_S * 1000 + serve.KEEPALIVE_INTERVAL_S * serve.KEEPALIVE_PROBES * 1000}
        for name, value in tuned.items():
            if hasattr(socket, name):  # Linux has them all; elsewhere the OS's own timing stands
                assert held.getsockopt(socket.IPPROTO_TCP, getattr(socket, name)) == value, name
        if sys.platform.startswith("linux"):
            assert all(hasattr(socket, name) for name in tuned)


def test_refused_connections_linger_bounded(served, monkeypatch):
    """A newcomer that connects in a loop and never reads or closes holds no more than
    MAX_LEAVING descriptors, each at most LEAVING_LINGER_S; the holder is served throughout."""
    monkeypatch.setattr(serve, "LEAVING_LINGER_S", 1.0)
    server = served(serve.TcpServer(serve.make_pump(test_mode=True)))
    with connect_tcp(server.address) as holder:
        link = socket_link(holder)
        assert link.request(m.HelloRequest(1, 1))[0].kind == RESPONSE
        newcomers = [connect_tcp(server.address) for _ in range(serve.MAX_LEAVING + 4)]
        try:
            assert wait_until(lambda: server.refused == len(newcomers))
            assert len(server._leaving) <= serve.MAX_LEAVING
            assert link.request(m.HelloRequest(1, 1))[0].kind == RESPONSE
            assert wait_until(lambda: not server._leaving), "a refused connection outlived its linger"
            for newcomer in newcomers:  # each was told, then closed
                assert BUSY in read_to_end(newcomer)
        finally:
            for newcomer in newcomers:
                newcomer.close()


@pytest.mark.parametrize("value", ["-1", "-0.5", "nan", "inf", "soon"])
def test_serve_idle_limit_is_checked_up_front_in_one_line(value):
    done = subprocess.run([sys.executable, "-m", "pumpmock.harness.cli", "serve", "--tcp", "0", "--idle-limit", value],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2  # a usage error (pumpmock --help)
    assert done.stderr == ("pumpmock serve: --idle-limit %s: give seconds, zero or more (0: an idle holder is "
                           "never replaced)\n" % value), done.stderr
    assert done.stdout == ""  # nothing served


def test_serve_idle_limit_0_never_replaces_a_silent_holder():
    process, address = start("--tcp", "0", "--idle-limit", "0")
    try:
        with connect_tcp(address) as holder:
            assert socket_link(holder).request(m.HelloRequest(1, 1))[0].kind == RESPONSE
            time.sleep(0.3)  # silent for a while: no limit to be past
            with connect_tcp(address) as newcomer:
                newcomer.sendall(b"?")
                told = read_to_end(newcomer)
            assert told.startswith(BUSY) and b"this server never replaces it" in told, told
            assert socket_link(holder).request(m.HelloRequest(1, 1))[0].kind == RESPONSE
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "1 client(s) served, 1 newcomer(s) told \"port busy\", 0 silent client(s) replaced" in err


def test_serve_help_says_what_idle_limit_0_means():
    done = subprocess.run([sys.executable, "-m", "pumpmock.harness.cli", "serve", "--help"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    assert "0: an idle holder is never replaced" in " ".join(done.stdout.split())


def test_a_notice_split_over_reads_is_raised_whole():
    """The line may come in parts (a slow network): the client reads it to its end, briefly."""
    from pumpmock.harness.portio import read_fd

    ours, server_end = socket.socketpair()
    try:
        server_end.sendall(b"pumpmock serve: port busy: pumpmock serve at H:1 is held")
        later = threading.Timer(0.2, lambda: server_end.sendall(b" by another client since 00:00:00 UTC\r\n"))
        later.start()
        with pytest.raises(harness.PortBusyError) as busy:
            for _read in range(3):
                read_fd(ours.fileno(), 2)
        later.join(5)
        assert str(busy.value) == "port busy: pumpmock serve at H:1 is held by another client since 00:00:00 UTC"
    finally:
        ours.close()
        server_end.close()


def test_serve_says_on_stop_how_many_it_refused():
    process, address = start("--tcp", "0")
    with connect_tcp(address) as holder:
        assert socket_link(holder).request(m.HelloRequest(1, 1))[0].kind == RESPONSE
        with connect_tcp(address) as newcomer:
            newcomer.sendall(b"?")
            assert BUSY in read_to_end(newcomer)
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "1 client(s) served, 1 newcomer(s) told \"port busy\", 0 silent client(s) replaced" in err


def _lose_the_line_in_the_first_check(monkeypatch, busy_at_reopen):
    """The first check's line goes away under it (as when a server drops the connection); the
    run's next open of the line is planted busy, or left alone. Returns the URLs opened."""
    from pumpmock.harness import check_cmd, checks
    opened = []
    real_connect = checks.connect

    def connect(url, **options):
        opened.append(url)
        if len(opened) == 2 and busy_at_reopen:
            raise harness.PortBusyError("port busy: pumpmock serve at 127.0.0.1:1 is held by another client")
        return real_connect(url, **options)

    first = checks.CHECKS[0]
    monkeypatch.setattr(checks, "connect", connect)  # the run's own opens
    monkeypatch.setattr(check_cmd, "connect", connect)  # the command's first
    monkeypatch.setattr(first, "function", lambda session: session.port.close())
    return opened


def test_pumpmock_check_says_cannot_check_when_its_lost_line_was_taken(monkeypatch, capsys):
    """The line is held for the whole run, but one that was lost is opened again, and another
    client may have it by then. That is no verdict on the pump: one line, exit 2 (cannot check),
    not a check marked FAIL and exit 1."""
    from pumpmock.harness import check_cmd, cli
    opened = _lose_the_line_in_the_first_check(monkeypatch, busy_at_reopen=True)
    status = cli.main(["check", "pumpmock://"])
    out, err = capsys.readouterr()
    assert status == 2, err
    assert err.count("\n") == 1 and "cannot check pumpmock://: port busy" in err, err
    assert check_cmd.MARKS["fail"] not in out
    assert len(opened) == 2


def test_pumpmock_check_opens_a_lost_line_again_and_goes_on(monkeypatch, capsys):
    opened = _lose_the_line_in_the_first_check(monkeypatch, busy_at_reopen=False)
    from pumpmock.harness import cli
    status = cli.main(["check", "pumpmock://"])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert len(opened) == 2  # once at the start, once after the line was lost: not once a check


def test_a_team_suite_on_a_busy_server_says_so_in_one_line_per_test(pytester):
    """--pump-url at a server another client holds: each test that needs the line errors with the
    busy line alone, not a 60-line traceback around it; the holder keeps its session."""
    pytester.makepyfile(test_team="""
        def test_reference_client(programmer):
            programmer.status()

        def test_app_line(pump_port, pump):
            pump.status()
    """)
    process, address = start("--tcp", "0", "--test-mode")
    try:
        with connect_tcp(address) as holder:
            assert socket_link(holder).request(m.HelloRequest(1, 1))[0].kind == RESPONSE
            result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "--pump-url", "socket://" + address)
            result.assert_outcomes(errors=2)
            text = result.stdout.str()
            busy = "pumpmock: port busy: pumpmock serve at %s is held by another client" % address
            # each test's error section says it (the summary repeats it unless it cuts lines short)
            assert text.count(busy) >= 2, text
            assert "Traceback" not in text and "portio.py" not in text, text
            assert socket_link(holder).request(m.HelloRequest(1, 1))[0].kind == RESPONSE
    finally:
        assert stop(process) == 0
