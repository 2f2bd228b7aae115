"""Serve the emulated pump on a pseudo-terminal or a TCP port, for programs in any language.

    pumpmock serve --pty --test-mode            first stdout line: the pty path (e.g. /dev/pts/5)
    pumpmock serve --tcp 7000                   first stdout line: 127.0.0.1:7000 (0 picks a port)

Then it serves until interrupted (Ctrl-C or SIGTERM). --faults puts the line behind seeded
link faults and --transcript records every frame (JSON lines). On TCP one client is served at
a time; a new connection replaces the old one, and the pump keeps its state across them.
A pseudo-terminal exists only on POSIX; TCP is the portable way (and what farm tools attach to).
"""

import os
import select
import signal
import socket
import sys
import time
import tty

from firmware_mock.core import Pump

from .inprocess import InProcessLink


def add_arguments(parser):
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal")
    where.add_argument("--tcp", type=int, metavar="PORT", help="serve on TCP PORT on loopback (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address for --tcp (default: %(default)s)")
    parser.add_argument("--test-mode", action="store_true", help="enable test control (TC_* messages)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the pump's nonces (default: 0)")
    parser.add_argument("--serial", default="PM-000001", help="mock serial number (default: %(default)s)")
    parser.add_argument("--faults", metavar="SPEC", help="link faults, e.g. corrupt=1%%,drop=1%%,unit=frame,seed=3")
    parser.add_argument("--baud", type=int, help="pace the line at this many baud (8N1)")
    parser.add_argument("--transcript", metavar="FILE", help="record every frame to FILE as JSON lines")


class Server:
    """A select loop between one byte-stream endpoint and the in-process pump line."""

    def __init__(self, link, recorder=None):
        self.link = link
        self.recorder = recorder
        self.start = time.monotonic()
        self.stopping = False

    def now_ms(self):
        return int((time.monotonic() - self.start) * 1000)

    def exchange(self, data):
        """Bytes from the client -> bytes for the client (what is due now)."""
        now = self.now_ms()
        if data:
            if self.recorder:
                self.recorder.feed("host>pump", data)
            self.link.write(data, now)
        return self.collect(now)

    def collect(self, now):
        self.link.advance(now)
        out = self.link.take(1 << 16)
        if out and self.recorder:
            self.recorder.feed("pump>host", out)
        return out

    def wait_s(self):
        """How long select may sleep: until the pump or the line next has something due."""
        due = self.link.next_due_ms()
        if due is None:
            return 0.5
        return max(due - self.now_ms(), 0) / 1000


def serve_pty(server, announce):
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)  # a client that stops reading must not stall the pump
    announce(os.ttyname(slave))
    try:
        while not server.stopping:
            readable, _, _ = select.select([master], [], [], min(server.wait_s(), 0.5))
            data = b""
            if readable:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
            out = server.exchange(data)
            if out:
                try:
                    os.write(master, out)
                except BlockingIOError:
                    pass  # nobody is reading: the bytes are lost, as on a real line
    finally:
        os.close(master)
        os.close(slave)


def serve_tcp(server, host, port, announce):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1)
    announce("%s:%d" % listener.getsockname()[:2])
    client = None
    try:
        while not server.stopping:
            watched = [listener] + ([client] if client else [])
            readable, _, _ = select.select(watched, [], [], min(server.wait_s(), 0.5))
            data = b""
            if listener in readable:
                if client:
                    client.close()
                client, _address = listener.accept()
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            elif client in readable:
                data = client.recv(65536)
                if not data:
                    client.close()
                    client = None
            out = server.exchange(data)
            if out and client:
                try:
                    client.sendall(out)
                except OSError:
                    client.close()
                    client = None
    finally:
        if client:
            client.close()
        listener.close()


def main(args):
    faults = None
    if args.faults:
        from .faults import FaultModel
        try:
            faults = FaultModel.parse(args.faults)
        except ValueError as error:
            print("pumpmock serve: %s" % error, file=sys.stderr)
            return 2
    recorder = None
    if args.transcript:
        from .transcript import TranscriptRecorder
        recorder = TranscriptRecorder(args.transcript, meta={"served": "pty" if args.pty else "tcp"})
    pump = Pump(serial=args.serial, test_mode=args.test_mode, seed=args.seed)
    server = Server(InProcessLink(pump, faults=faults, baud=args.baud), recorder)

    def stop(_signum, _frame):
        server.stopping = True
    signal.signal(signal.SIGTERM, stop)

    def announce(where):
        print(where, flush=True)
        print("pumpmock serve: emulated pump %s%s on %s; Ctrl-C stops" % (
            args.serial, " (test mode)" if args.test_mode else "", where), file=sys.stderr, flush=True)
    try:
        if args.pty:
            serve_pty(server, announce)
        else:
            serve_tcp(server, args.host, args.tcp, announce)
    except KeyboardInterrupt:
        pass
    finally:
        if recorder:
            recorder.close()
    return 0
