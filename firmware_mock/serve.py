"""CPython shells for the pump: a pseudo-terminal or a TCP loopback port that a programmer app opens like a serial line.

    python -m firmware_mock.serve --pty [--test-mode] [--seed N] [--serial S] [--storage DIR]
    python -m firmware_mock.serve --tcp PORT [--host H] [--test-mode] ...     # PORT 0: pick one

The first line on stdout is where to connect (the pty's path, or HOST:PORT), then the server
runs until SIGINT or SIGTERM. The pump runs on the wall clock (time.monotonic_ns in whole ms):
select() waits for input at most until the pump's next deadline, so alarms and event
re-sends go out on time with no host traffic. A pty exists only on POSIX; TCP is the portable
way (and how farm tools such as labgrid attach to consoles). One TCP client at a time: a new
connection replaces the old one; with no client connected, what the pump says is lost, as on
an unplugged line. CPython only (select, termios, socket); the board never gets this file
(harness.bench.flash.HOST_ONLY). Like the rest of firmware_mock it imports nothing from
protocol/ or harness/; `pumpmock serve` (harness.cli) uses add_arguments() and main().
"""

import argparse
import os
import select
import signal
import socket
import sys
import time
import tty

from .core import Pump
from .storage import FileStorage

DEFAULT_SERIAL = "PM-000001"
MAX_WAIT_S = 5.0  # select() wakes at least this often even when the pump has no deadline
OUT_LIMIT = 64 * 1024  # bytes kept for a reader that does not read; older ones are lost, as on a line
READ_SIZE = 4096


def monotonic_ms():
    """The shells' clock for the pump: integer ms, never going back."""
    return time.monotonic_ns() // 1_000_000


def make_pump(test_mode=False, seed=0, serial=DEFAULT_SERIAL, storage_dir=None):
    """A Pump with RAM storage, or FileStorage in storage_dir (created if missing) to survive restarts."""
    storage = None
    if storage_dir is not None:
        os.makedirs(storage_dir, exist_ok=True)
        storage = FileStorage(storage_dir)
    return Pump(serial=serial, test_mode=test_mode, storage=storage, seed=seed)


class Server:
    """The select() loop shared by the shells: bytes in, pump, bytes out, polls on deadlines.

    Subclasses say which descriptors to watch (_read_fds), what a readable one means
    (_on_readable) and where output goes (_out_fd, _send). stop() is safe from a signal
    handler or another thread: it writes to a pipe the loop watches.
    """

    def __init__(self, pump, clock=monotonic_ms):
        self.pump = pump
        self.clock = clock
        self.out = bytearray()
        self.bytes_dropped = 0
        self._stop_read, self._stop_write = os.pipe()
        os.set_blocking(self._stop_write, False)
        self.closed = False

    def stop(self):
        try:
            os.write(self._stop_write, b"x")
        except (BlockingIOError, OSError):
            pass  # already asked, or already closed

    def serve_forever(self):
        """Run until stop(); closes everything on the way out."""
        try:
            self._emit(self.pump.poll(self.clock()))  # the pump's clock starts now
            while True:
                deadline = self.pump.next_deadline_ms()
                timeout = MAX_WAIT_S
                if deadline is not None:
                    timeout = min(MAX_WAIT_S, max(0, deadline - self.clock()) / 1000)
                out_fd = self._out_fd() if self.out else None
                readable, writable, _ = select.select([self._stop_read] + self._read_fds(),
                                                      [] if out_fd is None else [out_fd], [], timeout)
                if self._stop_read in readable:
                    return
                for fd in readable:
                    self._on_readable(fd)
                if writable:
                    self._flush()
                deadline = self.pump.next_deadline_ms()
                now = self.clock()
                if deadline is not None and now >= deadline:
                    self._emit(self.pump.poll(now))
        finally:
            self.close()

    def feed(self, data):
        """Bytes from the line: to the pump, and its answer out."""
        self._emit(self.pump.receive(data, self.clock()))

    def _emit(self, data):
        if not data:
            return
        if self._out_fd() is None:  # nobody is connected: the bytes go nowhere
            self.bytes_dropped += len(data)
            return
        self.out += data
        self._flush()
        excess = len(self.out) - OUT_LIMIT
        if excess > 0:
            del self.out[:excess]
            self.bytes_dropped += excess

    def _flush(self):
        while self.out:
            try:
                sent = self._send(self.out)
            except BlockingIOError:
                return  # the reader is behind: select() says when to go on
            except OSError:
                self._disconnected()
                return
            del self.out[:sent]

    def close(self):
        if self.closed:
            return
        self.closed = True
        os.close(self._stop_read)
        os.close(self._stop_write)

    # ---- what subclasses provide ----
    def _read_fds(self):
        raise NotImplementedError

    def _on_readable(self, fd):
        raise NotImplementedError

    def _out_fd(self):
        raise NotImplementedError

    def _send(self, data):
        raise NotImplementedError

    def _disconnected(self):
        self.out.clear()


class PtyServer(Server):
    """The pump behind a pseudo-terminal: open `path` like a serial port (any baud rate)."""

    def __init__(self, pump, clock=monotonic_ms):
        super().__init__(pump, clock)
        self.master, self.slave = os.openpty()
        # Raw: no echo, no CR/LF translation, no Ctrl-C/Ctrl-S handling: frames pass untouched.
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        # Holding the slave open keeps the master readable (no EIO) between clients.
        self.path = os.ttyname(self.slave)

    def _read_fds(self):
        return [self.master]

    def _on_readable(self, fd):
        try:
            data = os.read(self.master, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        if data:
            self.feed(data)

    def _out_fd(self):
        return self.master

    def _send(self, data):
        return os.write(self.master, data)

    def close(self):
        if not self.closed:
            os.close(self.master)
            os.close(self.slave)
        super().close()


class TcpServer(Server):
    """The pump on a TCP port (loopback by default): one client at a time, the newest wins."""

    def __init__(self, pump, host="127.0.0.1", port=0, clock=monotonic_ms):
        super().__init__(pump, clock)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(4)
        self.listener.setblocking(False)
        self.address = "%s:%d" % self.listener.getsockname()[:2]
        self.client = None
        self.connections = 0

    def _read_fds(self):
        fds = [self.listener.fileno()]
        if self.client is not None:
            fds.append(self.client.fileno())
        return fds

    def _on_readable(self, fd):
        if fd == self.listener.fileno():
            self._accept()
            return
        if self.client is None or fd != self.client.fileno():
            return  # replaced by a newer client in this same round
        try:
            data = self.client.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            self.feed(data)
        else:
            self._disconnected()

    def _accept(self):
        try:
            connection, _peer = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        self._disconnected()  # the old client, if any, is replaced
        connection.setblocking(False)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a frame is a few bytes: send now
        self.client = connection
        self.connections += 1
        # A lone delimiter ends whatever partial frame the previous client left in the pump's
        # reader, so the new client's first frame is not glued to it.
        self.feed(b"\x00")

    def _out_fd(self):
        return None if self.client is None else self.client.fileno()

    def _send(self, data):
        return self.client.send(data)

    def _disconnected(self):
        super()._disconnected()
        if self.client is not None:
            self.client.close()
            self.client = None

    def close(self):
        if not self.closed:
            self._disconnected()
            self.listener.close()
        super().close()


# ---- command line -----------------------------------------------------------------------------
def add_arguments(parser):
    """The serve options (shared with `pumpmock serve`)."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true",
                       help="serve on a new pseudo-terminal; its path is the first line printed (POSIX only)")
    where.add_argument("--tcp", type=int, metavar="PORT",
                       help="serve on a TCP port (0: pick a free one); HOST:PORT is the first line printed")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on with --tcp (default %(default)s: this machine only)")
    parser.add_argument("--test-mode", action="store_true", help="enable test control (off unless given)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the pump's nonces (default 0)")
    parser.add_argument("--serial", default=DEFAULT_SERIAL, help="the pump's serial number (default %(default)s)")
    parser.add_argument("--storage", metavar="DIR",
                        help="keep the pump's non-volatile state in DIR (default: RAM, lost on exit)")


def build_server(args):
    pump = make_pump(test_mode=args.test_mode, seed=args.seed, serial=args.serial, storage_dir=args.storage)
    if args.pty:
        return PtyServer(pump), None
    server = TcpServer(pump, host=args.host, port=args.tcp)
    return server, server.address


def main(args, out=None):
    """Serve until SIGINT/SIGTERM; prints where to connect first. Returns the exit status."""
    out = out or sys.stdout
    if not 0 <= args.seed <= 0xFFFFFFFF:
        print("serve: --seed must be 0 .. 4294967295", file=sys.stderr)
        return 2
    try:
        server, address = build_server(args)
    except OSError as error:
        print("serve: cannot start: %s" % error, file=sys.stderr)
        return 1
    where = address or server.path
    previous = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        previous[number] = signal.signal(number, lambda _signum, _frame: server.stop())
    try:
        print(where, file=out, flush=True)
        print("serving the pumpmock emulator (NOT FOR CLINICAL USE) on %s, test mode %s; Ctrl-C stops"
              % (where, "ON" if args.test_mode else "OFF"), file=sys.stderr, flush=True)
        server.serve_forever()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        server.close()
    return 0


def run(argv=None):
    parser = argparse.ArgumentParser(prog="python -m firmware_mock.serve",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(run())
