"""Put a program behind a faulty line: relay bytes between two ports with link faults both ways.

    pumpmock proxy pty pumpmock:// --faults "corrupt=1%,drop=1%,unit=frame,seed=3"

makes a pseudo-terminal, prints its path, and relays between it and the pump. Point the
programmer app under test at the printed path: what it writes reaches the pump through the
"to_pump" fault stream, what the pump answers comes back through "to_host". Either side may be
any port or URL the harness opens (hardware ports pass the USB allowlist first, --allow-usb /
--allow-port to add your own); "pty" makes a pseudo-terminal (POSIX). The pump side must answer
the mock's HELLO, on the connection that is then relayed, before the first byte of the app's
goes to it; the host side is the app, which sends HELLO itself, and hears only the vetted pump.
Exit status: 0 stopped, 1 a port failed while relaying, 2 a bad argument or a side refused. Serve the emulator with clock=real (the default): a proxy runs on the
wall clock. Stop with Ctrl-C; the fault statistics are printed on the way out.

In Python:

    with LinkProxy(app_side_port, pump_side_port, FaultModel.parse("drop=1%,seed=3")):
        ...   # relaying in two background threads until the block ends
"""

import fcntl
import os
import select
import signal
import sys
import termios
import threading
import time
import tty

from .faults import FaultModel
from .interlock import add_allow_arguments, allowlist_from_args

DEFAULT_PUMP_URL = "pumpmock://"  # the in-process emulator on the wall clock
PTY = "pty"
_MIN_WAIT_S = 0.0005


class LinkProxy:
    """Relays port_a -> port_b through model.stream("to_pump") and back through "to_host".

    Each direction has a thread that reads its source (every read with a timeout of at most
    poll_s, so stop() is prompt), feeds the fault stream, and writes what is due to its sink.
    Bytes held back by a delay or pacing leave within about a millisecond of their due time.
    If a port fails, relaying stops and `error` holds the exception.
    """

    def __init__(self, port_a, port_b, model, clock=time.monotonic, poll_s=0.05):
        self.model = FaultModel.parse(model)
        self.port_a = port_a
        self.port_b = port_b
        self.to_pump = self.model.stream("to_pump")
        self.to_host = self.model.stream("to_host")
        self.poll_s = poll_s
        self.error = None
        self._clock = clock
        self._start = clock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._relay, args=(port_a, port_b, self.to_pump), daemon=True,
                             name="proxy to_pump"),
            threading.Thread(target=self._relay, args=(port_b, port_a, self.to_host), daemon=True,
                             name="proxy to_host"),
        ]

    @property
    def stats(self):
        return {"to_pump": dict(self.to_pump.stats), "to_host": dict(self.to_host.stats)}

    @property
    def running(self):
        return any(thread.is_alive() for thread in self._threads)

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout_s=2.0):
        """Stop relaying (bytes still in the line are lost, as on a line that is unplugged)."""
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout_s)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _now_us(self):
        return int((self._clock() - self._start) * 1_000_000)

    def _relay(self, source, sink, stream):
        try:
            while not self._stop.is_set():
                now_us = self._now_us()
                out = stream.take_us(now_us)
                if out:
                    sink.write(out)
                wait_s = self.poll_s
                due_us = stream.next_due_us()
                if due_us is not None:
                    wait_s = min(wait_s, max((due_us - now_us) / 1_000_000, _MIN_WAIT_S))
                # Setting a real port's timeout reconfigures it: only when it changes.
                if source.timeout != wait_s:
                    source.timeout = wait_s
                data = source.read(max(source.in_waiting, 1))
                if data:
                    stream.feed_us(data, self._now_us())
        except Exception as error:  # a port went away: stop both ways, and say why
            if not self._stop.is_set():
                self.error = error
            self._stop.set()


class PtyPort:
    """A new pseudo-terminal's master side as a pyserial-like port; `path` is the side for the app.

    It keeps the app's side open itself, so an app may close and reopen it without the proxy seeing
    an error. Writes never block for long: if the app does not read and the terminal's buffer stays
    full for write_timeout s, the rest is dropped (as a line with nobody listening would).
    """

    def __init__(self, timeout=0.05, write_timeout=0.5):
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self.port = self.path
        self.timeout = timeout
        self.write_timeout = write_timeout
        self.is_open = True
        self.dropped = 0  # bytes dropped because nobody read them

    def read(self, size=1):
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        data = bytearray()
        while self.is_open:
            try:
                data += os.read(self._master, size - len(data))
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:  # EIO: no app side (not while we hold it open); do not spin on it
                time.sleep(0.001)
            if len(data) >= size:
                break
            wait_s = None if deadline is None else deadline - time.monotonic()
            if wait_s is not None and wait_s <= 0:
                break
            select.select([self._master], [], [], wait_s)
        return bytes(data)

    def write(self, data):
        view = memoryview(bytes(data))
        deadline = time.monotonic() + (self.write_timeout or 0)
        while view:
            try:
                view = view[os.write(self._master, view):]
                continue
            except (BlockingIOError, InterruptedError):
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.dropped += len(view)
                break
            select.select([], [self._master], [], remaining)
        return len(data)

    @property
    def in_waiting(self):
        return int.from_bytes(fcntl.ioctl(self._master, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)

    def reset_input_buffer(self):
        termios.tcflush(self._master, termios.TCIFLUSH)

    def close(self):
        if self.is_open:
            self.is_open = False
            for fd in (self._master, self._slave):
                try:
                    os.close(fd)
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_side(url, baudrate=115200, timeout=0.05, *, handshake=True, allowlist=None):
    """A port for one side of the proxy: "pty" makes a pseudo-terminal, anything else goes to
    harness.open_port (the interlock for hardware; with `handshake`, the mock's HELLO first)."""
    if url == PTY:
        return PtyPort(timeout=timeout)
    from pumpmock import harness  # registers the pumpmock:// and exec:// schemes
    return harness.open_port(url, baudrate=baudrate, timeout=timeout, handshake=handshake, allowlist=allowlist)


def run_proxy(url_a, url_b, faults_spec, stop_event=None, *, baudrate=115200, transcript=None,
              on_ready=None, poll_s=0.05, allowlist=None):
    """Relay between url_a (the host side) and url_b (the pump side) until stop_event is set.

    Returns the fault statistics (also after Ctrl-C, which stops it as stop_event does). Raises
    what a port raised if relaying failed, ValueError for a bad fault spec, the interlock's
    refusal for a hardware port off the allowlist (before anything is opened), and NotAMockError
    when the pump side does not answer the mock's HELLO (before any byte of the app's is relayed).
    transcript: a path to record every frame the pump side sends and receives (from after the
    handshake). on_ready(proxy) is called once relaying has started (a pty side's path is
    proxy.port_a.path).
    """
    model = FaultModel.parse(faults_spec or "")
    stop_event = stop_event or threading.Event()
    opened = []
    try:
        # The pump side first: it must prove it is the mock before an app can even reach the proxy.
        port_b = open_side(url_b, baudrate, poll_s, handshake=True, allowlist=allowlist)
        opened.append(port_b)
        port_a = open_side(url_a, baudrate, poll_s, handshake=False, allowlist=allowlist)
        opened.insert(0, port_a)
        if transcript:
            from .transcript import TappedPort, TranscriptRecorder
            recorder = TranscriptRecorder(transcript, meta={"proxy": [url_a, url_b], "faults": str(model)})
            port_b = TappedPort(port_b, recorder, clock=time.monotonic, owns_recorder=True)
            opened[-1] = port_b
        proxy = LinkProxy(port_a, port_b, model, poll_s=poll_s).start()
        try:
            if on_ready is not None:
                on_ready(proxy)
            while not stop_event.wait(poll_s):
                if not proxy.running:
                    break
        except KeyboardInterrupt:  # Ctrl-C is how a user stops it: still report the statistics
            pass
        finally:
            proxy.stop()
        if proxy.error is not None:
            raise proxy.error
        return proxy.stats
    finally:
        for port in reversed(opened):
            try:
                port.close()
            except Exception:  # closing must not hide why we stopped
                pass


# ---- pumpmock proxy ------------------------------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("host_side", metavar="HOST_SIDE",
                        help="where the programmer app connects: 'pty' makes a pseudo-terminal and prints "
                             "its path; or a port or URL")
    parser.add_argument("pump_side", metavar="PUMP_SIDE", nargs="?", default=DEFAULT_PUMP_URL,
                        help="the pump: a port or URL (default: %s, the emulator in-process)" % DEFAULT_PUMP_URL)
    parser.add_argument("--faults", metavar="SPEC", default="",
                        help="link faults, e.g. 'corrupt=1%%,drop=1%%,delay=5ms,unit=frame,seed=3' "
                             "(keys: corrupt, drop, duplicate, delay, jitter, cut, baud, unit, seed)")
    parser.add_argument("--baud", type=int, default=115200,
                        help="line rate for opening serial ports (to pace the line, use --faults baud=N)")
    parser.add_argument("--transcript", metavar="PATH",
                        help="record every frame the pump side sends and receives (JSON lines)")
    add_allow_arguments(parser)


def main(args):
    from pumpmock import harness
    try:
        model = FaultModel.parse(args.faults)
        allowlist = allowlist_from_args(args)
        for side in (args.host_side, args.pump_side):
            if side != PTY:
                harness.vet_url(side, allowlist)  # a typo or a refusal: said before anything opens
    except (ValueError, harness.HarnessError) as error:
        print("pumpmock proxy: %s" % error, file=sys.stderr)
        return 2

    def ready(proxy):
        path = getattr(proxy.port_a, "path", None)
        if path:
            print(path, flush=True)  # alone on its line, for scripts to read
        print("pumpmock proxy: %s <-> %s, faults %s (Ctrl-C stops)" % (path or args.host_side, args.pump_side, model),
              file=sys.stderr, flush=True)

    def terminated(_signum, _frame):
        raise KeyboardInterrupt  # SIGTERM (kill, a script's trap) stops it as Ctrl-C does: stats still printed

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        stats = run_proxy(args.host_side, args.pump_side, model, baudrate=args.baud,
                          transcript=args.transcript, on_ready=ready, allowlist=allowlist)
    except (harness.SafetyInterlockError, harness.BadUrlError, harness.PortBusyError, harness.NoSuchPortError) as error:
        print("pumpmock proxy: %s" % error, file=sys.stderr)
        return 2
    except Exception as error:
        print("pumpmock proxy: %s: %s" % (type(error).__name__, error), file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    for direction, numbers in stats.items():
        print("%s: %s" % (direction, ", ".join("%s=%d" % item for item in numbers.items())), file=sys.stderr)
    return 0
