"""How the reference client reads and writes a port: the cheapest way the port allows.

    read = reader_for(port);  read(timeout) -> bytes (b"" when `timeout` s pass with nothing)
    write = writer_for(port); write(data, timeout)  (SerialTimeoutException if it cannot drain)

A port that is exactly pyserial's POSIX tty or socket:// class (no wrapper around it) is read
and written through its file descriptor: one select and one read for a whole answer, one write
for a request. pyserial's own read(1) takes the first byte alone (its socket read takes every
byte alone, ~0.9 ms for one answer), and its write selects after every write even when the data
went out at once. The in-process pump's port has its own read_available. Every other port (a
fault injector, a transcript recorder, a counter) goes through its read/write, so nothing is
bypassed. Either way a read that brings `pumpmock serve`'s one-line notice (another client holds
the server; this silent connection was replaced) raises it as PortBusyError or PortError.
"""

import os
import select
import time

import serial
from serial.serialutil import PortNotOpenError
from serial.urlhandler.protocol_socket import Serial as SocketSerial

READ_SIZE = 4096
# pumpmock serve's first bytes on a connection it does not serve (refused: another client holds
# it; or a silent holder replaced), then one line of why: a read that gets it raises that line.
SERVER_NOTICE = b"pumpmock serve: "
NOTICE_WAIT_S = 1.0  # for the rest of a notice line split over reads
_NOTICE_SIZE = len(SERVER_NOTICE)
_DESCRIPTOR_PORTS = (serial.Serial, SocketSerial) if os.name == "posix" else ()


def cpus(cgroup_limits="/sys/fs/cgroup/cpu.max"):
    """CPUs this process may use: its affinity, capped by a cgroup CPU quota (a container's)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    try:
        with open(cgroup_limits) as limits:
            quota, period = limits.read().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return count


# How long a descriptor read polls at most before it sleeps in select (see read_fd). An answer
# from a pump in another process (pumpmock serve) comes within ~0.1 ms: polling for it skips the
# wake-up. On one CPU polling would only keep the pump from running, so it is off there; on more
# it adapts (BusyPoll): it stops while polling does not pay or the CPUs are contended.
DEFAULT_BUSY_POLL_S = 0.0003 if cpus() > 1 else 0.0


def runnable_tasks(path="/proc/loadavg"):
    """Tasks running or waiting for a CPU right now, this one included (Linux); None elsewhere."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            fields = os.read(fd, 128).split()
        finally:
            os.close(fd)
        return int(fields[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):
        return None


class BusyPoll:
    """How long a wait polls before it sleeps, decided from how polling goes and who else runs.

    Polling wins only while the peer answers within the poll and has a CPU of its own to do it
    on. It stops, and every wait sleeps in select as with polling off, when:
    - the CPUs are contended: more tasks are runnable than this process may use CPUs (it and a
      polling peer count among them; /proc/loadavg, looked at every CHECK_S, two looks in a
      row). Spinning then takes a CPU from whoever would run instead, the peer we wait for;
    - polls stop paying: misses (the poll ran out with nothing) outweigh hits over about the
      last four polls (a wait longer than the poll gains nothing from it), a descheduled poll
      (GAP_S or more between two looks: contention seen from inside) weighing as two misses.
      Such a suspension lasts MIN_OFF_S, doubling up to MAX_OFF_S while the probes after it
      fail; the end of a contended spell forgets them all.

    adaptive=False: always poll max_s (the fixed busy-polling that benchmarks compare against).
    """

    GAP_S = 0.0002
    CHECK_S = 0.05
    MIN_OFF_S = 0.05
    MAX_OFF_S = 0.25
    KEEP = 0.75  # weight of the past in the pay-off average: about the last four polls count
    SUSPEND_BELOW = 0.4  # pay-off average under which polling is suspended

    def __init__(self, max_s, adaptive=True, cpus_allowed=None, runnable=runnable_tasks):
        self.max_s = max_s
        self.adaptive = adaptive
        self.cpus = cpus_allowed if cpus_allowed is not None else cpus()
        self._runnable = runnable
        self.payoff = 1.0
        self.off_until = 0.0
        self.off_s = self.MIN_OFF_S
        self._next_check = 0.0
        self._crowded = True  # a first look that finds the CPUs crowded counts at once
        self._contended = False
        self.stats = {"hits": 0, "misses": 0, "descheduled": 0, "suspensions": 0, "contended_checks": 0,
                      "checks": 0, "sleeps_unpolled": 0}

    def __repr__(self):
        return "BusyPoll(max_s=%g, adaptive=%s, %s)" % (self.max_s, self.adaptive, self.stats)

    def budget(self, now):
        """Seconds to poll for a wait starting at perf_counter() `now` (0: sleep at once)."""
        if not self.adaptive:
            return self.max_s
        if now >= self._next_check:
            self._next_check = now + self.CHECK_S
            running = self._runnable()
            crowded = running is not None and running > self.cpus
            # Two crowded looks in a row make it contended (a kernel worker that ran for a moment
            # must not stop polling); one clear look ends it.
            contended = crowded and self._crowded
            self._crowded = crowded
            if self._contended and not crowded:  # the load went: what it taught no longer holds
                self.payoff, self.off_until, self.off_s = 1.0, 0.0, self.MIN_OFF_S
            self._contended = contended
            self.stats["checks"] += 1
            self.stats["contended_checks"] += self._contended
        if self._contended or now < self.off_until:
            self.stats["sleeps_unpolled"] += 1
            return 0.0
        return self.max_s

    def outcome(self, hit, descheduled, now):
        """What a poll that ended at `now` found: data (hit) or not; a gap of GAP_S in it or not."""
        stats = self.stats
        stats["hits" if hit else "misses"] += 1
        if descheduled:
            stats["descheduled"] += 1
        if not self.adaptive:
            return
        if descheduled:  # weighs as two misses: one alone is noise, a few in a row are contention
            self.payoff *= self.KEEP * self.KEEP
        else:
            self.payoff = self.payoff * self.KEEP + (1 - self.KEEP if hit else 0.0)
        if self.payoff < self.SUSPEND_BELOW:
            self._suspend(now)
        elif hit:
            self.off_s = self.MIN_OFF_S  # a poll paid off: the next trouble starts from the short suspension

    def _suspend(self, now):
        self.stats["suspensions"] += 1
        self.off_until = now + self.off_s
        self.off_s = min(self.off_s * 2, self.MAX_OFF_S)
        # Two probes after the suspension: one lucky miss must not end polling for good, nor one hit restore it
        self.payoff = (self.SUSPEND_BELOW + 0.05) / self.KEEP


def busy_poll(setting):
    """A BusyPoll for a setting: a number of seconds (0: none, else adaptive up to it) or a BusyPoll."""
    if isinstance(setting, BusyPoll):
        return setting if setting.max_s > 0 else None
    return BusyPoll(setting) if setting and setting > 0 else None


def reader_for(port, busy_poll_s=DEFAULT_BUSY_POLL_S):
    """read(timeout) for a port. busy_poll_s: seconds a descriptor read polls at most, adapting
    (BusyPoll; one per reader, so each port learns for itself), or a BusyPoll to use as it is."""
    # Looked up on the type: a wrapper that forwards attributes must not let the client read around it.
    if getattr(type(port), "read_available", None) is not None:
        return port.read_available
    if type(port) in _DESCRIPTOR_PORTS:
        poll = busy_poll(busy_poll_s)
        read = lambda timeout: read_fd(_descriptor(port), timeout, poll)  # noqa: E731
        read.busy_poll = poll  # what it learnt, for a benchmark to show
        return read
    return lambda timeout: read_port(port, timeout)


def writer_for(port):
    if type(port) in _DESCRIPTOR_PORTS:
        return lambda data, timeout: write_fd(_descriptor(port), data, timeout)
    return lambda data, timeout: port.write(data)


def _descriptor(port):
    """Asked each time, never kept: a closed port's number may already belong to another file."""
    if not port.is_open:
        raise PortNotOpenError()
    return port.fileno()


def read_port(port, timeout):
    """What a pyserial port has, waiting at most `timeout` s for the first byte."""
    # Setting a pyserial port's timeout reconfigures the tty (tcsetattr), so leave it alone
    # while it is within a few ms of what this read needs.
    if port.timeout is None or abs(port.timeout - timeout) > 0.005:
        port.timeout = timeout
    data = port.read(port.in_waiting or 1)
    if data:
        waiting = port.in_waiting
        if waiting:
            data += port.read(waiting)
        if data[:_NOTICE_SIZE] == SERVER_NOTICE[:len(data)] or SERVER_NOTICE in data:
            data = not_a_notice(data, lambda wait: port.read(port.in_waiting or 1))
    return data


def read_fd(fd, timeout, busy_poll_s=0.0):
    """One select and one read of whatever a tty, pty or socket descriptor holds.

    busy_poll_s: first poll (select with no wait) for up to this long, then sleep in select for
    the rest: an answer due within it is read without the wake-up a sleeping reader pays. A
    number polls that long every time; a BusyPoll decides how long and learns from the outcome."""
    try:
        ready = None
        poll = busy_poll_s if isinstance(busy_poll_s, BusyPoll) else None
        if busy_poll_s and timeout > 0:
            start = time.perf_counter()
            budget = busy_poll_s if poll is None else poll.budget(start)
            if budget > 0:
                end = start + min(budget, timeout)
                gap_s = BusyPoll.GAP_S
                last = start
                descheduled = False
                while True:
                    ready = select.select([fd], [], [], 0)[0]
                    now = time.perf_counter()
                    if now - last > gap_s:
                        descheduled = True
                    last = now
                    if ready or now >= end:
                        break
                if poll is not None:
                    poll.outcome(bool(ready), descheduled, now)
                if not ready:
                    timeout -= now - start
        if not ready:
            ready = select.select([fd], [], [], max(timeout, 0))[0]
        if not ready:
            return b""
        data = os.read(fd, READ_SIZE)
    except (InterruptedError, BlockingIOError):
        return b""
    except OSError as error:
        raise serial.SerialException("read failed: %s" % error) from error
    if not data:  # readable yet empty: the peer closed the socket or the device went away
        raise serial.SerialException("the port reports data to read but returned none (disconnected?)")
    if data[:_NOTICE_SIZE] == SERVER_NOTICE[:len(data)] or SERVER_NOTICE in data:
        data = not_a_notice(data, lambda wait: os.read(fd, READ_SIZE) if select.select([fd], [], [], wait)[0] else b"")
    return data


def not_a_notice(data, read_more):
    """`data` back, unless it holds a pumpmock serve notice: then its PortError (PortBusyError for
    "port busy"), the line read to its end with read_more(timeout) if it came in parts. Data that
    is the notice's first bytes (a port read byte by byte) is read on until it shows which."""
    deadline = time.monotonic() + NOTICE_WAIT_S
    while len(data) < _NOTICE_SIZE and SERVER_NOTICE.startswith(data) and time.monotonic() < deadline:
        try:
            more = read_more(max(deadline - time.monotonic(), 0))
        except (OSError, serial.SerialException):  # gone: what came is all there is
            break
        if not more:
            break
        data += more
    if SERVER_NOTICE not in data:
        return data
    raise _server_notice(data, read_more, deadline)


def _server_notice(data, read_more, deadline):
    from .errors import PortError
    from .interlock import PortBusyError

    line = data[data.index(SERVER_NOTICE) + _NOTICE_SIZE:]
    while b"\n" not in line and len(line) < READ_SIZE and time.monotonic() < deadline:
        try:
            more = read_more(max(deadline - time.monotonic(), 0))
        except (OSError, serial.SerialException):  # the server closed it after the line
            break
        if not more:
            break
        line += more
    text = line.split(b"\n")[0].decode("ascii", "replace").strip()
    return (PortBusyError if text.startswith("port busy") else PortError)(text or "pumpmock serve closed the line")


def write_fd(fd, data, timeout):
    """Write all of `data` to a non-blocking descriptor, waiting at most `timeout` s for room each time."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
            continue
        except (InterruptedError, BlockingIOError):
            pass
        except OSError as error:
            raise serial.SerialException("write failed: %s" % error) from error
        try:
            writable = select.select([], [fd], [], timeout)[1]
        except InterruptedError:
            continue
        if not writable:
            raise serial.SerialTimeoutException("the port took no data for %.3f s (flow control held?)" % timeout)
