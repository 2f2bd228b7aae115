"""`pumpmock serve`: the emulated pump on a pseudo-terminal, a TCP port or stdio, for programs in any language.

    pumpmock serve --pty --test-mode            first stdout line: the pty path (e.g. /dev/pts/5)
    pumpmock serve --tcp 7000                   first stdout line: 127.0.0.1:7000 (0 picks a port)
    pumpmock serve --stdio                      the line is stdin/stdout: exec:pumpmock serve --stdio
    pumpmock serve --rfc2217 7001               RFC 2217 (as ser2net serves a board): rfc2217://HOST:PORT

It serves until interrupted (Ctrl-C or SIGTERM). One client at a time: on --tcp and --rfc2217, a
newcomer while a client holds the port is sent one line, "pumpmock serve: port busy: ...", and
closed (pumpmock's own client raises it as PortBusyError: `pumpmock check` exits 2 with it), and
the holder goes on. A client that closes or resets its socket frees the port at once; one that sent
nothing for --idle-limit seconds (default 30; 0: never) is replaced by the next newcomer, and its
session ends; one whose machine vanished without a word is found dead by TCP keepalive (on Linux
within about 25 s) and frees the port. A pty is one line that several processes may hold: any open or close ends every session.

--faults puts the line behind seeded link faults, --baud paces it, --transcript records every
frame (JSON lines), and --hostile makes the pump itself hostile (harness.hostile: malformed,
truncated, out-of-range and out-of-order answers, alarm floods) to fuzz a programmer app; what it
did is printed on stderr when it stops. The servers themselves are harness.servers; this module is
their command line.
"""

import os
import signal
import sys

from .inprocess import InProcessLink
from .portio import cpus
from .servers import DEFAULT_SERIAL, IDLE_LIMIT_S, PtyServer, Rfc2217Server, StdioServer, TcpServer, make_pump

SERVER_BUSY_POLL_S = 0.0005


def add_arguments(parser):
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true",
                       help="serve on a new pseudo-terminal; its path is the first line printed (POSIX only)")
    where.add_argument("--tcp", type=int, metavar="PORT",
                       help="serve on a TCP port (0: pick a free one); HOST:PORT is the first line printed")
    where.add_argument("--rfc2217", type=int, metavar="PORT",
                       help="serve RFC 2217 (serial over telnet, as ser2net serves a board in a farm) on a "
                            "TCP port (0: pick one); HOST:PORT is the first line printed: open rfc2217://HOST:PORT")
    where.add_argument("--stdio", action="store_true",
                       help="serve on stdin/stdout, for a parent that spawns the pump (exec:pumpmock serve "
                            "--stdio); prints nothing else there, and stops when stdin closes (POSIX only)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on with --tcp or --rfc2217 (default %(default)s: this machine only)")
    parser.add_argument("--idle-limit", metavar="S", default=None,
                        help="with --tcp or --rfc2217: while a client holds the pump, a newcomer is told "
                             "\"port busy\" and closed, unless the holder sent no byte for S seconds: then the "
                             "newcomer replaces it and its session ends (default %g; 0: an idle holder is never "
                             "replaced). A client that closes or resets its socket frees it at once"
                             % IDLE_LIMIT_S)
    parser.add_argument("--busy-poll-us", type=int, metavar="US", default=None,
                        help="after input, poll at most this long before sleeping, so a client that talks "
                             "back and forth finds the pump awake; adaptive: it stops while the CPUs are "
                             "contended or polls stop paying (default " + str(int(SERVER_BUSY_POLL_S * 1e6)) +
                             " on more than one CPU, else 0; 0 turns it off)")
    parser.add_argument("--test-mode", action="store_true", help="enable test control (off unless given)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed the pump's nonces for a reproducible test run (default: random nonces)")
    parser.add_argument("--serial", default=DEFAULT_SERIAL, help="the pump's serial number (default %(default)s)")
    parser.add_argument("--storage", metavar="DIR",
                        help="keep the pump's non-volatile state in DIR (default: RAM, lost on exit)")
    parser.add_argument("--faults", metavar="SPEC", help="link faults, e.g. corrupt=1%%,drop=1%%,unit=frame,seed=3")
    parser.add_argument("--baud", type=int, metavar="N", help="pace the line at N baud (8N1), as a UART would")
    parser.add_argument("--transcript", metavar="FILE", help="record every frame to FILE as JSON lines")
    parser.add_argument("--hostile", metavar="SPEC",
                        help="a hostile pump to fuzz your app, e.g. malformed=10%%,truncated=5%%,out_of_range=5%%,"
                             "out_of_order=5%%,flood=1%%,seed=3 (all=N%%: every kind; 1: a default mix)")


class LinePump:
    """The pump behind an in-process line (faults, pacing) and a recorder, shaped like a Pump for the servers.

    The servers hand it bytes and wall-clock ms; the line decides when they reach the pump and
    when its answers reach the client.
    """

    def __init__(self, link, recorder=None):
        self.link = link
        self.recorder = recorder

    def receive(self, data, now_ms):
        if self.recorder:
            self.recorder.feed("host>pump", data)
        self.link.write(data, now_ms)
        return self.poll(now_ms)

    def poll(self, now_ms):
        self.link.advance(now_ms)
        out = self.link.take(self.link.waiting)
        if out and self.recorder:
            self.recorder.feed("pump>host", out)
        return out

    def next_deadline_ms(self):
        return self.link.next_due_ms()

    def connection_made(self):
        self.link.pump.connection_made()

    def connection_lost(self):
        self.link.pump.connection_lost()


def build_pump(args):
    """The plain pump, or a LinePump when the line has faults, pacing or a recorder on it."""
    pump = make_pump(test_mode=args.test_mode, seed=args.seed, serial=args.serial, storage_dir=args.storage)
    if getattr(args, "hostile", None):
        from .hostile import HostilePump
        pump = HostilePump(pump, args.hostile)  # ValueError names the bad key
    if not (args.faults or args.baud or args.transcript):
        return pump, None
    faults = None
    if args.faults:
        from .faults import FaultModel
        faults = FaultModel.parse(args.faults)  # ValueError names what is wrong
    recorder = None
    if args.transcript:
        from .transcript import TranscriptRecorder
        recorder = TranscriptRecorder(args.transcript, meta={"served": _kind(args)})
    return LinePump(InProcessLink(pump, faults=faults, baud=args.baud), recorder), recorder


def main(args, out=None):
    """Serve until SIGINT/SIGTERM; prints where to connect first. Returns the exit status."""
    out = out or sys.stdout
    if args.seed is not None and not 0 <= args.seed <= 0xFFFFFFFF:
        print("pumpmock serve: --seed must be 0 .. 4294967295", file=sys.stderr)
        return 2
    idle_limit = idle_seconds(args.idle_limit)
    if idle_limit is None:
        print("pumpmock serve: --idle-limit %s: give seconds, zero or more (0: an idle holder is never replaced)"
              % args.idle_limit, file=sys.stderr)
        return 2
    if args.pty and not hasattr(os, "openpty"):
        print("pumpmock serve: pseudo-terminals exist only on POSIX; use --tcp PORT", file=sys.stderr)
        return 2
    if args.stdio and os.name != "posix":  # select() on pipes is POSIX
        print("pumpmock serve: --stdio needs POSIX (select on pipes); use --tcp PORT", file=sys.stderr)
        return 2
    try:
        pump, recorder = build_pump(args)
    except ValueError as error:
        print("pumpmock serve: %s" % error, file=sys.stderr)
        return 2
    busy = {"busy_poll_s": busy_poll_s(args)}
    try:
        if args.stdio:
            out.flush()
            server = StdioServer(pump, read_fd=sys.stdin.fileno(), write_fd=out.fileno(), **busy)
        elif args.pty:
            server = PtyServer(pump, **busy)
        elif args.rfc2217 is not None:
            server = Rfc2217Server(pump, host=args.host, port=args.rfc2217, idle_limit_s=idle_limit, **busy)
        else:
            server = TcpServer(pump, host=args.host, port=args.tcp, idle_limit_s=idle_limit, **busy)
    except OSError as error:
        print("pumpmock serve: cannot start: %s" % error, file=sys.stderr)
        return 1
    where = server.path if (args.pty or args.stdio) else server.address
    previous = {number: signal.signal(number, lambda _signum, _frame: server.stop())
                for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        if not args.stdio:  # on stdio, stdout is the line itself
            print(where, file=out, flush=True)
        print("pumpmock serve: emulated pump %s (NOT FOR CLINICAL USE) on %s, test mode %s; Ctrl-C stops"
              % (args.serial, where, "ON" if args.test_mode else "OFF"), file=sys.stderr, flush=True)
        server.serve_forever()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        server.close()
        if recorder:
            recorder.close()
        if isinstance(server, TcpServer):
            print("pumpmock serve: %d client(s) served, %d newcomer(s) told \"port busy\", %d silent client(s) "
                  "replaced" % (server.connections, server.refused, server.replaced), file=sys.stderr, flush=True)
        if getattr(args, "hostile", None):
            print("pumpmock serve: %s" % _hostile_of(pump).report(), file=sys.stderr, flush=True)
    return 0


def _hostile_of(pump):
    """The HostilePump being served, bare or behind a LinePump."""
    return pump.link.pump if isinstance(pump, LinePump) else pump


def idle_seconds(text):
    """--idle-limit as seconds, zero or more (None given: the default); None for anything else."""
    if text is None:
        return IDLE_LIMIT_S
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value < float("inf") else None


def busy_poll_s(args):
    if args.busy_poll_us is not None:
        return max(args.busy_poll_us, 0) / 1e6
    return SERVER_BUSY_POLL_S if cpus() > 1 else 0.0  # on one CPU it would only hold the client off


def _kind(args):
    return "pty" if args.pty else "stdio" if args.stdio else "rfc2217" if args.rfc2217 is not None else "tcp"
