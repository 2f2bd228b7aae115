"""The pump on a pseudo-terminal, a TCP loopback port or stdio, that a programmer app opens like a serial line.

    server = PtyServer(make_pump(test_mode=True))   # server.path: open it like /dev/ttyACM0
    server = TcpServer(pump, port=0)                # server.address: HOST:PORT
    server = Rfc2217Server(pump, port=0)            # rfc2217://HOST:PORT, as ser2net serves a farm's board
    server = StdioServer(pump)                      # this process's stdin/stdout (exec:// spawns it)
    server.serve_forever()                          # until server.stop() (signal-safe)

The server drives anything shaped like firmware_mock's Pump (receive(data, now_ms),
poll(now_ms), next_deadline_ms()) on the wall clock (time.monotonic_ns in whole ms): select()
waits for input at most until the next deadline, so alarms and event re-sends go out on time
with no host traffic. A pty exists only on POSIX; TCP is the portable way (and how farm tools
such as labgrid attach to consoles). One TCP client at a time: while one holds the port, a
newcomer is sent one line, "pumpmock serve: port busy: ...", and closed, and the holder goes on
untouched; a holder that closed or reset is gone at once, and one silent for idle_limit_s (30 s;
0: never) may be replaced by a newcomer (its session ends; it is sent "pumpmock serve: session
ended: ..." and closed). TCP keepalive frees a holder whose peer vanished without a FIN. With no client connected, what the pump says is lost, as on an unplugged line.

Sessions are bound to connections: the server tells the pump when a client connects and when
it goes (Pump.connection_made / connection_lost), so a new client, or one that comes after a
client dropped without LOGOUT, starts from role NONE. A pty tells by hanging up: the server does
not hold the slave end open, so the master reads POLLHUP while no client has the path open.
CPython only (select, termios, socket), which is why it lives here and not in firmware_mock/,
whose every module runs on MicroPython. `pumpmock serve` (harness.serve_cmd) is its command line.
"""

import ctypes
import ctypes.util
import os
import select
import socket
import struct
import sys
import time
import tty

import serial
from serial import rfc2217

from pumpmock.firmware_mock.core import Pump
from pumpmock.firmware_mock.storage import FileStorage
from pumpmock.harness.portio import SERVER_NOTICE, busy_poll

DEFAULT_SERIAL = "PM-000001"
MAX_WAIT_S = 5.0  # select() wakes at least this often even when the pump has no deadline
OUT_LIMIT = 64 * 1024  # bytes kept for a reader that does not read; older ones are lost, as on a line
READ_SIZE = 4096
IDLE_LIMIT_S = 30.0  # a TCP client that sent nothing for this long may be replaced by a newcomer (0: never)
LEAVING_LINGER_S = 5.0  # a refused or replaced connection is closed at its EOF or after this long
MAX_LEAVING = 8  # refused connections kept lingering at once; a newcomer past it closes the oldest
# TCP keepalive on every served connection: after this long with nothing on the line, the OS sends
# a probe every KEEPALIVE_INTERVAL_S, and KEEPALIVE_PROBES unanswered ones end the connection: a
# holder whose machine vanished without a FIN (a cable pulled, a VM killed) is freed in about 25 s,
# even with no newcomer or no idle limit (--idle-limit 0). The timing is set where the OS lets a
# socket choose it (Linux); elsewhere SO_KEEPALIVE uses the OS's own (often 2 h).
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_PROBES = 3


def monotonic_ms():
    """The shells' clock for the pump: integer ms, never going back."""
    return time.monotonic_ns() // 1_000_000


def make_pump(test_mode=False, seed=None, serial=DEFAULT_SERIAL, storage_dir=None):
    """A Pump with RAM storage, or FileStorage in storage_dir (created if missing) to survive restarts.
    seed None: random nonces; an integer: the reproducible nonces of a test run."""
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

    def __init__(self, pump, clock=monotonic_ms, busy_poll_s=0.0):
        self.pump = pump
        self.clock = clock
        # After input, keep polling (select with no wait) up to this long before sleeping in
        # select: a client that talks back and forth finds the loop awake instead of waking it,
        # which is most of a round trip's latency. It costs a core while a client is busy, so it
        # adapts (portio.BusyPoll): no polling while polls go unanswered or the CPUs are
        # contended. 0 turns it off; a BusyPoll(..., adaptive=False) polls every time.
        self.busy_poll_s = busy_poll_s
        self.busy_poll = busy_poll(busy_poll_s)
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
        poll = self.busy_poll
        busy_until = 0.0  # polling (select with no wait) until then
        last_look = 0.0  # perf_counter() of the last poll: a long gap after it means descheduled
        descheduled = False
        try:
            self._emit(self.pump.poll(self.clock()))  # the pump's clock starts now
            while True:
                deadline = self.pump.next_deadline_ms()
                self._watch_line()
                timeout = self._max_wait_s()
                if deadline is not None:
                    timeout = min(timeout, max(0, deadline - self.clock()) / 1000)
                if busy_until:
                    now = time.perf_counter()
                    if now - last_look > poll.GAP_S:
                        descheduled = True
                    if now < busy_until:
                        timeout = 0
                    else:  # the poll ran out with nothing: it did not pay
                        poll.outcome(False, descheduled, now)
                        busy_until = 0.0
                out_fd = self._out_fd() if self.out else None
                readable, writable, _ = select.select([self._stop_read] + self._read_fds(),
                                                      [] if out_fd is None else [out_fd], [], timeout)
                if self._stop_read in readable:
                    return
                if busy_until:
                    last_look = time.perf_counter()
                    if readable:  # input while polling: the poll paid
                        poll.outcome(True, descheduled or last_look - now > poll.GAP_S, last_look)
                        busy_until = 0.0
                for fd in readable:
                    self._on_readable(fd)
                if readable and poll is not None:
                    now = time.perf_counter()
                    budget = poll.budget(now)
                    if budget > 0:
                        busy_until = now + budget
                        last_look = now
                        descheduled = False
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
    def _watch_line(self):
        """Notice a client coming or going where select() cannot say (a pty): called each round."""

    def _max_wait_s(self):
        return MAX_WAIT_S

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


def keep_alive(sock):
    """TCP keepalive on `sock`, with KEEPALIVE_* timing where the platform has the options."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", KEEPALIVE_IDLE_S), ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
                        ("TCP_KEEPCNT", KEEPALIVE_PROBES),
                        # Keepalive probes only an idle connection: while bytes the server sent are
                        # still unacknowledged (an alarm re-sent to a vanished peer), retransmission
                        # runs instead, for many minutes. This bounds that time the same way.
                        ("TCP_USER_TIMEOUT", (KEEPALIVE_IDLE_S + KEEPALIVE_INTERVAL_S * KEEPALIVE_PROBES) * 1000)):
        option = getattr(socket, name, None)
        if option is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
            except OSError:
                pass  # named here but refused by this kernel: its own timing stands


def _read_some(read):
    """read(READ_SIZE) on a non-blocking descriptor: None when nothing was there after all,
    b"" when the other end is gone (end of input, or an error that says so)."""
    try:
        return read(READ_SIZE)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


class _OpenWatch:
    """Linux inotify on the pty's path: opens and closes by clients, queued in order (two like
    events in a row may come as one, so they are no count of holders).

    Hang-up polling alone misses a close followed at once by another open (the server thread
    not scheduled in between), which would hand the new client the old one's session."""

    _IN_CLOSE_WRITE, _IN_CLOSE_NOWRITE, _IN_OPEN = 0x08, 0x10, 0x20
    _EVENT = struct.Struct("iIII")

    def __init__(self, path):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        mask = self._IN_OPEN | self._IN_CLOSE_WRITE | self._IN_CLOSE_NOWRITE
        if libc.inotify_add_watch(self.fd, path.encode(), mask) < 0:
            os.close(self.fd)
            raise OSError(ctypes.get_errno(), "inotify_add_watch")

    def changes(self):
        """+1 per open, -1 per close since the last call, in order."""
        try:
            data = os.read(self.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return []
        out, offset = [], 0
        while offset + self._EVENT.size <= len(data):
            _wd, mask, _cookie, length = self._EVENT.unpack_from(data, offset)
            offset += self._EVENT.size + length
            if mask & self._IN_OPEN:
                out.append(1)
            if mask & (self._IN_CLOSE_WRITE | self._IN_CLOSE_NOWRITE):
                out.append(-1)
        return out

    def close(self):
        os.close(self.fd)


def _open_watch(path):
    if not sys.platform.startswith("linux"):
        return None
    try:
        return _OpenWatch(path)
    except (OSError, AttributeError, TypeError):
        return None  # no inotify here: fall back to hang-up polling


class PtyServer(Server):
    """The pump behind a pseudo-terminal: open `path` like a serial port (any baud rate).

    The server keeps only the master end, so it can tell when a client opens the path (the
    master stops reading as hung up) and closes it (POLLHUP again, after the bytes it wrote).
    While nobody has it open the server looks every HANGUP_POLL_S, since a hung-up master is
    always "readable" to select(); what the pump says meanwhile is dropped, as with no TCP client.
    """

    HANGUP_POLL_S = 0.02

    def __init__(self, pump, clock=monotonic_ms, busy_poll_s=0.0):
        super().__init__(pump, clock, busy_poll_s)
        self.master, slave = os.openpty()
        # Raw: no echo, no CR/LF translation, no Ctrl-C/Ctrl-S handling: frames pass untouched.
        # The settings belong to the terminal, so every client that opens the path gets them.
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(self.master, False)
        self._hangup = select.poll()
        self._hangup.register(self.master, select.POLLIN)
        self.connected = False
        self.connections = 0
        self._watch = _open_watch(self.path)

    def _watch_line(self):
        if self._watch is not None:
            changes = self._watch.changes()
            for i, change in enumerate(changes):
                if change > 0 and not self.connected:
                    self._made()
                elif change > 0:
                    # A second process opened the path (root passes TIOCEXCL). A pty is one line
                    # shared by all who hold it and the server cannot tell whose bytes are whose:
                    # all of them, the first client too, start again from no role.
                    self.connections += 1
                    self.pump.connection_made()
                elif self.connected and self._nobody_holds_it():
                    self._hung_up()
                    # What the old client left unread is dropped with its session, as if the
                    # line were cut, unless a next client already opened: then it may hold that
                    # client's first bytes too (a partial frame before them costs it a retransmission).
                    if 1 not in changes[i + 1:]:
                        self._discard_input()
                elif self.connected:
                    self.pump.connection_made()  # one of several holders left (or left and came back)
            return
        hung_up = self._nobody_holds_it()
        if self.connected and hung_up:
            self._read_all()  # what the client wrote before it closed is still its session's
            self._hung_up()
        elif not self.connected and not hung_up:
            self._made()

    def _nobody_holds_it(self):
        # The master reads as hung up while no process holds the path open. inotify merges two
        # like events in a row (two opens, two closes), so its events say when to look, not how
        # many holders there are.
        return any(events & select.POLLHUP for _fd, events in self._hangup.poll(0))

    def _made(self):
        self.connected = True
        self.connections += 1
        self.pump.connection_made()

    def _max_wait_s(self):
        return MAX_WAIT_S if self.connected or self._watch is not None else self.HANGUP_POLL_S

    def _read_fds(self):
        fds = [self._watch.fd] if self._watch is not None else []
        return fds + [self.master] if self.connected else fds

    def _on_readable(self, fd):
        # Opens and closes first, always: a client's open and close are queued before its next
        # write returns, so bytes are never read into the session of the client before it.
        self._watch_line()
        if fd == self.master:
            self._read_all()

    def _read_all(self):
        while self.connected:
            if self._watch is not None:
                self._watch_line()
                if not self.connected:
                    return
            try:
                data = os.read(self.master, READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # EIO: the last client closed the path
                self._hung_up()
                return
            if not data:
                return
            self.feed(data)

    def _discard_input(self):
        while True:
            try:
                if not os.read(self.master, READ_SIZE):
                    return
            except OSError:  # nothing there (EAGAIN), or nobody holds the path (EIO)
                return

    def _hung_up(self):
        if self.connected:
            self.connected = False
            self.out.clear()
            self.pump.connection_lost()

    def _out_fd(self):
        return self.master if self.connected else None

    def _send(self, data):
        return os.write(self.master, data)

    def _disconnected(self):
        self._hung_up()

    def close(self):
        if not self.closed:
            os.close(self.master)
            if self._watch is not None:
                self._watch.close()
        super().close()


class TcpServer(Server):
    """The pump on a TCP port (loopback by default): one client at a time, and it keeps the port.

    While a client holds the port, a newcomer is told why in one line and closed (refused); the
    holder is not touched. The holder goes when it closes, half-closes or resets its socket
    (noticed before any newcomer is judged), or, with a newcomer waiting, when it sent no byte for
    idle_limit_s (0: never, for a holder that may sit silent for as long as it likes): a client
    that died where no FIN or reset can come (a cable pulled) must not keep the pump from everyone.
    Such a holder is also found dead by TCP keepalive (keep_alive, on every accepted connection)
    and freed as one that reset, newcomer or not. A refused or replaced connection lingers up to
    LEAVING_LINGER_S so the line reaches it (closing a socket with unread input would reset it, and
    the line with it); its bytes go nowhere.
    """

    SHUT_AFTER_LINE = True  # the end follows the line at once: a raw reader knows it is over

    def __init__(self, pump, host="127.0.0.1", port=0, clock=monotonic_ms, busy_poll_s=0.0,
                 idle_limit_s=IDLE_LIMIT_S):
        super().__init__(pump, clock, busy_poll_s)
        if not idle_limit_s >= 0:
            raise ValueError("idle limit %r: give seconds, zero or more" % (idle_limit_s,))
        self.idle_limit_s = idle_limit_s
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(4)
        self.listener.setblocking(False)
        self.address = "%s:%d" % self.listener.getsockname()[:2]
        self.client = None
        self.client_since = None  # time.time() when the holder connected, for the busy line
        self.heard_at = 0.0  # time.monotonic() of the holder's last byte (or of its connecting)
        self.connections = 0  # clients that held the port
        self.refused = 0  # newcomers told "port busy"
        self.replaced = 0  # silent holders a newcomer replaced
        self._leaving = []  # _Leaving connections: told why, closed at their EOF or deadline

    def _read_fds(self):
        # The holder before the listener: its close is seen before a newcomer in the same round.
        fds = [] if self.client is None else [self.client.fileno()]
        return fds + [self.listener.fileno()] + [leaving.sock.fileno() for leaving in self._leaving]

    def _on_readable(self, fd):
        if fd == self.listener.fileno():
            self._accept()
        elif self.client is not None and fd == self.client.fileno():
            self._read_client()
        else:
            for leaving in self._leaving:
                if leaving.sock.fileno() == fd:
                    self._read_leaving(leaving)
                    break  # not there: it left in this same round

    def _read_client(self):
        data = _read_some(self.client.recv)
        if data:
            self.heard_at = time.monotonic()
            self.feed(data)
        elif data is not None:
            self._disconnected()

    def _accept(self):
        try:
            connection, _peer = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        connection.setblocking(False)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a frame is a few bytes: send now
        keep_alive(connection)  # a holder that vanished without a FIN is found dead by the OS
        if self.client is not None:
            self._hear_holder()  # a holder that closed or reset is no reason to refuse anyone
        if self.client is not None:
            silent_s = time.monotonic() - self.heard_at
            if not self.idle_limit_s or silent_s < self.idle_limit_s:
                self.refused += 1
                self._leave(connection, self._busy_line(silent_s), newcomer=True)
                return
            self.replaced += 1
            old, self.client = self.client, None
            self._client_gone()
            self._leave(old, "session ended: pumpmock serve at %s gave this connection to a newcomer after "
                             "%.0f s without a byte from it (idle limit %g s); log in again to go on"
                        % (self.address, silent_s, self.idle_limit_s), newcomer=False)
        self.client = connection
        self.client_since = time.time()
        self.heard_at = time.monotonic()
        self.connections += 1
        # A new session: no role, no nonce, and no partial frame the previous client left in
        # the pump's reader for the new client's first frame to be glued to.
        self.pump.connection_made()

    def _hear_holder(self):
        """Read what the holder has without waiting: its end (EOF, reset) drops it now."""
        for _read in range(16):  # enough to reach an EOF behind a frame or two, bounded against a flood
            if self.client is None or not select.select([self.client], [], [], 0)[0]:
                return
            self._read_client()

    def _busy_line(self, silent_s):
        since = time.strftime("%H:%M:%S UTC", time.gmtime(self.client_since))
        replaced = ("one silent for %g s may be replaced" % self.idle_limit_s if self.idle_limit_s
                    else "this server never replaces it")
        return ("port busy: pumpmock serve at %s is held by another client since %s (its last byte %.0f s ago; "
                "%s); try again when it closes" % (self.address, since, silent_s, replaced))

    # ---- connections on their way out: refused newcomers, replaced holders ----
    def _leave(self, sock, text, newcomer):
        leaving = _Leaving(sock, SERVER_NOTICE + text.encode("ascii", "replace") + b"\r\n",
                           time.monotonic() + LEAVING_LINGER_S)
        leaving.manager = self._leaving_manager(leaving, newcomer)
        leaving.send(leaving.line)
        if not newcomer:
            leaving.answered = True  # its line came in its own session: nothing threw it away
            if self.SHUT_AFTER_LINE:
                leaving.shut()
        self._leaving.append(leaving)
        while len(self._leaving) > MAX_LEAVING:  # a newcomer in a loop must not use up descriptors
            self._leaving.pop(0).close()

    def _leaving_manager(self, leaving, newcomer):
        """What answers a refused connection's own protocol (RFC 2217's telnet negotiation)."""
        return None

    def _read_leaving(self, leaving):
        data = _read_some(leaving.sock.recv)
        if data is None:
            return
        if not data:
            self._leaving.remove(leaving)
            leaving.close()
            return
        if leaving.manager is not None:
            data = b"".join(leaving.manager.filter(data))
        if data and not leaving.answered:
            # Again in answer to its first bytes: a client that empties its input when it opens
            # (pyserial's socket:// and rfc2217:// do) threw the first line away.
            leaving.answered = True
            leaving.send(leaving.line)
            if self.SHUT_AFTER_LINE:
                leaving.shut()

    def _watch_line(self):
        now = time.monotonic()
        while self._leaving and self._leaving[0].deadline <= now:
            self._leaving.pop(0).close()

    def _max_wait_s(self):
        if self._leaving:
            return max(0.0, min(MAX_WAIT_S, self._leaving[0].deadline - time.monotonic()))
        return MAX_WAIT_S

    def _out_fd(self):
        return None if self.client is None else self.client.fileno()

    def _send(self, data):
        return self.client.send(data)

    def _disconnected(self):
        super()._disconnected()
        if self.client is not None:
            self.client.close()
            self.client = None
            self._client_gone()

    def _client_gone(self):
        """The holder's session ends with its connection (the socket itself is the caller's)."""
        self.out.clear()
        self.pump.connection_lost()

    def close(self):
        if not self.closed:
            self._disconnected()
            while self._leaving:
                self._leaving.pop().close()
            self.listener.close()
        super().close()


class _Leaving:
    """A connection told why it is not served (one line), read and dropped until it goes."""

    def __init__(self, sock, line, deadline):
        self.sock = sock
        self.line = line
        self.deadline = deadline
        self.manager = None  # an RFC 2217 newcomer's PortManager: its negotiation is answered
        self.answered = False  # the line went again in answer to its first bytes

    def send(self, data):
        if self.manager is not None:
            data = b"".join(self.manager.escape(data))
        try:
            self.sock.send(data)  # a few hundred bytes into an empty send buffer: all of it or nothing
        except OSError:
            pass  # it is gone already: its EOF or the deadline closes it

    def write(self, data):
        """RFC 2217 negotiation from its PortManager, unescaped."""
        try:
            self.sock.send(data)
        except OSError:
            pass

    def shut(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)  # EOF after the line: a raw reader knows it is over
        except OSError:
            pass

    def close(self):
        self.sock.close()


class _LineSettings(serial.SerialBase):
    """What an RFC 2217 client may set (baud rate, framing, flow control, lines): kept, never
    applied, since the emulated line has none of them. Modem lines read as a connected cable."""

    cts = dsr = cd = True
    ri = False

    def reset_input_buffer(self):
        pass

    def reset_output_buffer(self):
        pass


class Rfc2217Server(TcpServer):
    """TcpServer speaking RFC 2217 (telnet with serial-port control), as ser2net serves a board in
    a farm: open rfc2217://HOST:PORT. pyserial's PortManager does the telnet side."""

    # pyserial's client drops what it received once its reader thread saw the end: a refused or
    # replaced connection stays open (LEAVING_LINGER_S at most) until it has read why and closed.
    SHUT_AFTER_LINE = False

    def __init__(self, pump, host="127.0.0.1", port=0, clock=monotonic_ms, busy_poll_s=0.0,
                 idle_limit_s=IDLE_LIMIT_S):
        super().__init__(pump, host, port, clock, busy_poll_s, idle_limit_s)
        self.settings = _LineSettings()
        self.manager = None

    def _accept(self):
        holder = self.client
        super()._accept()
        if self.client is not None and self.client is not holder:
            # The manager's own telnet negotiation goes out as is; the pump's bytes are escaped.
            self.manager = rfc2217.PortManager(self.settings, _Raw(self))

    def _leaving_manager(self, leaving, newcomer):
        # A refused newcomer's client (pyserial's) opens only once its negotiation is answered;
        # a replaced holder's was answered long ago.
        return rfc2217.PortManager(_LineSettings(), leaving) if newcomer else None

    def _client_gone(self):
        super()._client_gone()
        self.manager = None

    def feed(self, data):
        if self.manager is not None:
            data = b"".join(self.manager.filter(data))
        if data:
            super().feed(data)

    def _emit(self, data):
        if data and self.manager is not None:
            data = b"".join(self.manager.escape(data))
        super()._emit(data)


class _Raw:
    """The connection as PortManager sees it: its bytes go to the client unescaped."""

    def __init__(self, server):
        self.server = server

    def write(self, data):
        Server._emit(self.server, data)


class StdioServer(Server):
    """The pump on this process's stdin and stdout, for a parent that spawns it (exec://...).

    Stops when stdin reaches its end or stdout's reader is gone: the parent closed the line.
    """

    def __init__(self, pump, read_fd=0, write_fd=1, clock=monotonic_ms, busy_poll_s=0.0):
        super().__init__(pump, clock, busy_poll_s)
        self.read_fd, self.write_fd = read_fd, write_fd
        self._was_blocking = os.get_blocking(write_fd)
        os.set_blocking(write_fd, False)  # a slow reader must not stop the pump's clock
        self.path = "stdio"

    def _read_fds(self):
        return [self.read_fd]

    def _on_readable(self, fd):
        data = _read_some(lambda size: os.read(self.read_fd, size))
        if data:
            self.feed(data)
        elif data is not None:
            self.stop()

    def _out_fd(self):
        return self.write_fd

    def _send(self, data):
        return os.write(self.write_fd, data)

    def _disconnected(self):
        super()._disconnected()
        self.stop()

    def close(self):
        if not self.closed:
            try:
                os.set_blocking(self.write_fd, self._was_blocking)
            except OSError:
                pass
        super().close()
