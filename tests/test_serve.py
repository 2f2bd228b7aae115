"""pumpmock.harness.servers and `pumpmock serve`: the pump on a pseudo-terminal and on TCP, reached with the host codec over pyserial and sockets."""

import signal
import socket
import subprocess
import sys
import threading
import os
import time

import pytest
import serial

from pumpmock.protocol import BANNER, MAGIC, FrameDecoder
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Error, Fault
from pumpmock.protocol.framing import ACK, EVENT, NAK, RESPONSE, encode_frame

from pumpmock.harness import servers as serve
from targets import start, stop

# A holder replaced by a newcomer: silent (a sleep, which never ends early) past an idle limit well
# below it, on any clock's resolution. (Idle limit 0 means never replace.)
IDLE_S, SILENT_S = 0.01, 0.05

posix_only = pytest.mark.skipif(not hasattr(serve.os, "openpty"), reason="pseudo-terminals exist only on POSIX")


class Link:
    """Frames over anything with read-with-timeout: a pyserial port or a socket."""

    def __init__(self, read, write):
        self.read, self.write = read, write
        self.decoder = FrameDecoder()
        self.seq = 0x40

    def frames_until(self, wanted, timeout_s=5):
        deadline = time.monotonic() + timeout_s
        got = []
        while not wanted(got) and time.monotonic() < deadline:
            data = self.read()
            got += [f for f in self.decoder.feed(data) if not isinstance(f, Exception)]
        return got

    def request(self, message, timeout_s=5):
        self.seq += 1
        seq = self.seq
        self.write(m.encode_message(message, seq))
        frames = self.frames_until(lambda got: any(f.seq == seq and f.kind in (RESPONSE, NAK) for f in got), timeout_s)
        answers = [f for f in frames if f.seq == seq and f.kind in (RESPONSE, NAK)]
        assert answers, "no answer to %r within %s s" % (message, timeout_s)
        return answers[0], [f for f in frames if f.kind == EVENT]


def serial_link(port):
    return Link(lambda: port.read(port.in_waiting or 1), port.write)


def socket_link(sock):
    def read():
        try:
            return sock.recv(4096)
        except socket.timeout:
            return b""

    return Link(read, sock.sendall)


def connect_tcp(address, timeout_s=5):
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout_s)
    sock.settimeout(0.5)
    return sock


# ---- the command line, as the harness and users start it ---------------------------------------
@posix_only
def test_pty_server_answers_hello_and_stops_on_sigterm():
    process, path = start("--pty", "--test-mode", "--serial", "PM-123456")
    try:
        with serial.Serial(path, timeout=0.5) as port:
            answer, _ = serial_link(port).request(m.HelloRequest(0x1234, 1))
            hello = m.decode_message(answer)
            assert (hello.magic, hello.banner, hello.serial, hello.test_mode) == (MAGIC, BANNER, "PM-123456", 1)
    finally:
        assert stop(process) == 0


def test_tcp_server_answers_hello_and_stops_on_sigint():
    process, address = start("--tcp", "0", "--seed", "9")
    assert address.startswith("127.0.0.1:")
    try:
        with connect_tcp(address) as sock:
            answer, _ = socket_link(sock).request(m.HelloRequest(1, 1))
            hello = m.decode_message(answer)
            assert (hello.magic, hello.banner, hello.test_mode) == (MAGIC, BANNER, 0)
            answer, _ = socket_link(sock).request(m.TcGetStatusRequest())
            assert m.decode_message(answer).code == Error.NOT_IN_TEST_MODE
    finally:
        assert stop(process, signal.SIGINT) == 0


def test_bad_arguments_exit_2():
    done = subprocess.run([sys.executable, "-m", "pumpmock.harness.cli", "serve", "--test-mode"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2 and "--pty" in done.stderr


# ---- behaviour, in-process ------------------------------------------------------------------------
@pytest.fixture
def served():
    """Start a server object in a thread; stopped and joined at the end."""
    running = []

    def run(server):
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((server, thread))
        return server

    yield run
    for server, thread in running:
        server.stop()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the server did not stop"


@posix_only
def test_pty_is_raw_control_bytes_pass_untouched(served):
    server = served(serve.PtyServer(serve.make_pump(test_mode=True)))
    with serial.Serial(server.path, timeout=0.5) as port:
        link = serial_link(port)
        # Ctrl-C, CR, LF, XON, XOFF, DEL and the line-kill byte in the payload: a cooked
        # terminal would eat or translate some of them and the CRC would fail (no answer).
        answer, _ = link.request(m.HelloRequest(0x110D0A03, 1))
        assert answer.kind == RESPONSE
        answer, _ = link.request(m.TcSetReservoirRequest(0x1315))
        assert answer.kind == RESPONSE
        answer, _ = link.request(m.TcGetStatusRequest())
        assert m.decode_message(answer).reservoir_ul == 0x1315


@posix_only
def test_pty_events_flow_and_are_resent_with_no_input(served):
    server = served(serve.PtyServer(serve.make_pump(test_mode=True)))
    with serial.Serial(server.path, timeout=0.2) as port:
        link = serial_link(port)
        _answer, events = link.request(m.TcInjectFaultRequest(Fault.MOTOR_STALL))
        events += link.frames_until(lambda got: any(f.kind == EVENT for f in got), 2)
        first = events[0]
        started = time.monotonic()
        again = link.frames_until(lambda got: any(f.kind == EVENT for f in got), 3)
        assert (again[0].msg_id, again[0].seq) == (first.msg_id, first.seq)
        assert 0.3 < time.monotonic() - started < 2  # EVENT_RETRY_MS = 500 after the first sending
        link.write(encode_frame(ACK, first.msg_id, first.seq))
        assert link.frames_until(lambda got: bool(got), 1.0) == []


def test_a_new_tcp_client_replaces_a_silent_one(served):
    server = served(serve.TcpServer(serve.make_pump(test_mode=True), idle_limit_s=IDLE_S))
    with connect_tcp(server.address) as first:
        assert socket_link(first).request(m.HelloRequest(1, 1))[0].kind == RESPONSE
        first.sendall(m.encode_message(m.HelloRequest(2, 1), 9)[:5])  # a frame cut off by the switch
        time.sleep(SILENT_S)
        with connect_tcp(server.address) as second:
            link = socket_link(second)
            answer, _ = link.request(m.HelloRequest(3, 1))  # not glued to the cut frame
            assert m.decode_message(answer).magic == MAGIC
            _answer, events = link.request(m.TcInjectFaultRequest(Fault.CATHETER_OCCLUSION))
            events += link.frames_until(lambda got: any(f.kind == EVENT for f in got), 2)
            assert events, "events go to the connected client"
            first.settimeout(2)
            told = b""
            try:  # the old client is told why, then closed: an orderly FIN
                while True:
                    data = first.recv(4096)
                    if not data:
                        break
                    told += data
            except ConnectionResetError:
                pass
            assert told.startswith(b"pumpmock serve: session ended: ") and told.endswith(b"\r\n")
    assert server.connections == 2


def test_tcp_output_with_no_client_is_dropped_not_kept(served):
    server = served(serve.TcpServer(serve.make_pump(test_mode=True)))
    with connect_tcp(server.address) as sock:
        link = socket_link(sock)
        link.request(m.TcInjectFaultRequest(Fault.MOTOR_STALL))
    deadline = time.monotonic() + 5
    while server.bytes_dropped == 0 and time.monotonic() < deadline:  # the re-send found nobody
        time.sleep(0.05)
    assert server.bytes_dropped > 0
    with connect_tcp(server.address) as sock:
        answer, _ = socket_link(sock).request(m.HelloRequest(4, 1))
        assert answer.kind == RESPONSE


def test_storage_dir_keeps_the_state_across_servers(served, tmp_path):
    state = tmp_path / "nv"
    first = served(serve.TcpServer(serve.make_pump(test_mode=True, storage_dir=str(state))))
    with connect_tcp(first.address) as sock:
        socket_link(sock).request(m.TcPowerLossRequest(0))  # a reboot is counted and saved
    first.stop()
    second = served(serve.TcpServer(serve.make_pump(test_mode=True, storage_dir=str(state))))
    with connect_tcp(second.address) as sock:
        answer, _ = socket_link(sock).request(m.TcReadCountersRequest())
        assert m.decode_message(answer).reboots == 2  # the one asked for, then this start


def test_reference_client_over_socket_url_and_a_closed_connection_raises(served):
    """The client reads a socket:// port's descriptor directly; a connection the server closed
    is a SerialException at once, not a wait through every retransmission."""
    from pumpmock import harness
    from pumpmock.protocol.codes import Role

    server = served(serve.TcpServer(serve.make_pump(test_mode=True), idle_limit_s=IDLE_S))
    with harness.connect("socket://" + server.address, role=Role.CLINICIAN, timeout=2, retries=3) as first:
        assert first.status().capacity_ul > 0
        time.sleep(SILENT_S)
        with harness.connect("socket://" + server.address, timeout=2) as second:  # replaces the first
            assert second.identity.magic == MAGIC
            started = time.monotonic()
            with pytest.raises(serial.SerialException, match="^session ended: "):
                first.status()
            assert time.monotonic() - started < 2  # well inside one response timeout, let alone 4


# ---- sessions are bound to connections (issue 12) -------------------------------------------------
_SESSIONS = iter(range(0x5EED, 0x6EED))


def _log_in(link):
    """HELLO (a session of its own) and a clinician login over a link, as an app does."""
    from pumpmock.protocol.auth import auth_mac, role_key
    from pumpmock.protocol.codes import Role

    assert link.request(m.HelloRequest(next(_SESSIONS), 1))[0].kind == RESPONSE
    nonce = m.decode_message(link.request(m.AuthChallengeRequest(Role.CLINICIAN))[0]).nonce
    mac = auth_mac(role_key(serve.DEFAULT_SERIAL, Role.CLINICIAN), nonce, serve.DEFAULT_SERIAL, Role.CLINICIAN)
    assert link.request(m.AuthResponseRequest(Role.CLINICIAN, mac))[0].kind == RESPONSE


def _hijack(link):
    """What another client tries with no HELLO and no login: the NAK codes it gets."""
    return [m.decode_message(link.request(message)[0]).code
            for message in (m.GetPrescriptionRequest(), m.SuspendRequest())]


@pytest.mark.parametrize("kind", ["tcp", "rfc2217"])
def test_a_new_network_client_does_not_inherit_the_login(served, kind):
    pump = serve.make_pump(test_mode=True)
    if kind == "tcp":  # a newcomer replaces the holder once it is silent past the (short) idle limit
        server = served(serve.TcpServer(pump, idle_limit_s=IDLE_S))
        url = "socket://" + server.address
    else:
        server = served(serve.Rfc2217Server(pump, idle_limit_s=IDLE_S))
        url = "rfc2217://" + server.address
    with serial.serial_for_url(url, timeout=0.5) as first:
        _log_in(serial_link(first))
        time.sleep(SILENT_S)
        with serial.serial_for_url(url, timeout=0.5) as second:  # replaces the logged-in client
            assert _hijack(serial_link(second)) == [Error.UNAUTHORIZED] * 2
    with serial.serial_for_url(url, timeout=0.5) as first:
        _log_in(serial_link(first))
    # A client after one that dropped without LOGOUT:
    deadline = time.monotonic() + 5
    while server.client is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    with serial.serial_for_url(url, timeout=0.5) as third:
        assert _hijack(serial_link(third)) == [Error.UNAUTHORIZED] * 2


@posix_only
def test_a_pty_client_after_another_does_not_inherit_the_login(served):
    server = served(serve.PtyServer(serve.make_pump(test_mode=True)))
    with serial.Serial(server.path, timeout=0.5) as port:
        _log_in(serial_link(port))
    with serial.Serial(server.path, timeout=0.5) as port:  # after a close without LOGOUT
        assert _hijack(serial_link(port)) == [Error.UNAUTHORIZED] * 2
        _log_in(serial_link(port))
        assert m.decode_message(serial_link(port).request(m.GetStatusRequest())[0]).role == 2
    assert server.connections == 2


@posix_only
def test_a_second_opener_of_a_pty_gets_no_role_and_ends_the_first_clients_session(served):
    """A pty can be opened by several processes at once (root passes TIOCEXCL): the bytes of all of
    them reach one pump, so a second open or a close of one of several ends the session for all."""
    server = served(serve.PtyServer(serve.make_pump(test_mode=True)))
    with serial.Serial(server.path, timeout=0.5) as first:
        _log_in(serial_link(first))
        fd = os.open(server.path, os.O_RDWR | os.O_NOCTTY)  # another process, while first is logged in
        try:
            with serial.Serial(server.path, timeout=0.5, exclusive=False) as second:
                assert _hijack(serial_link(second)) == [Error.UNAUTHORIZED] * 2
                _log_in(serial_link(second))
        finally:
            os.close(fd)
        # the closes of the two others ended the second login: the first client is still nobody
        assert _hijack(serial_link(first)) == [Error.UNAUTHORIZED] * 2


@posix_only
def test_a_pty_session_of_a_client_that_wrote_and_left_at_once_ends_with_it(served):
    server = served(serve.PtyServer(serve.make_pump(test_mode=True)))
    with serial.Serial(server.path, timeout=0.5) as port:
        _log_in(serial_link(port))
        port.write(m.encode_message(m.HelloRequest(9, 1), 0x99)[:4])  # half a frame, then gone
    with serial.Serial(server.path, timeout=0.5) as port:
        link = serial_link(port)
        for _attempt in range(10):  # a first frame may go with the old client's bytes: retransmit
            link.write(m.encode_message(m.HelloRequest(0x5EED, 1), 0x77))
            if link.frames_until(lambda got: any(f.seq == 0x77 for f in got), 0.5):
                break
        else:
            raise AssertionError("HELLO never answered")
        assert _hijack(link) == [Error.UNAUTHORIZED] * 2


@posix_only
def test_a_pty_with_no_client_drops_what_the_pump_says(served):
    server = served(serve.PtyServer(serve.make_pump(test_mode=True)))
    with serial.Serial(server.path, timeout=0.5) as port:
        serial_link(port).request(m.TcInjectFaultRequest(Fault.MOTOR_STALL))
    deadline = time.monotonic() + 5
    while server.bytes_dropped == 0 and time.monotonic() < deadline:  # the re-sends found nobody
        time.sleep(0.05)
    assert server.bytes_dropped > 0
    with serial.Serial(server.path, timeout=0.5) as port:
        answer, _ = serial_link(port).request(m.HelloRequest(4, 1))
        assert answer.kind == RESPONSE
