"""How the reference client reads and writes a port: the cheapest way the port allows.

    read = reader_for(port);  read(timeout) -> bytes (b"" when `timeout` s pass with nothing)
    write = writer_for(port); write(data, timeout)  (SerialTimeoutException if it cannot drain)

A port that is exactly pyserial's POSIX tty or socket:// class (no wrapper around it) is read
and written through its file descriptor: one select and one read for a whole answer, one write
for a request. pyserial's own read(1) takes the first byte alone (its socket read takes every
byte alone, ~0.9 ms for one answer), and its write selects after every write even when the data
went out at once. The in-process pump's port has its own read_available. Every other port (a
fault injector, a transcript recorder, a counter) goes through its read/write, so nothing is
bypassed.
"""

import os
import select
import time

import serial
from serial.serialutil import PortNotOpenError
from serial.urlhandler.protocol_socket import Serial as SocketSerial

READ_SIZE = 4096
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


# How long a descriptor read polls before it sleeps in select (see read_fd). An answer from a
# pump in another process (pumpmock serve) comes within ~0.1 ms: polling for it skips the
# wake-up. On one CPU polling would only keep the pump from running, so it is off there.
DEFAULT_BUSY_POLL_S = 0.0003 if cpus() > 1 else 0.0


def reader_for(port, busy_poll_s=DEFAULT_BUSY_POLL_S):
    # Looked up on the type: a wrapper that forwards attributes must not let the client read around it.
    if getattr(type(port), "read_available", None) is not None:
        return port.read_available
    if type(port) in _DESCRIPTOR_PORTS:
        return lambda timeout: read_fd(_descriptor(port), timeout, busy_poll_s)
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
    return data


def read_fd(fd, timeout, busy_poll_s=0.0):
    """One select and one read of whatever a tty, pty or socket descriptor holds.

    busy_poll_s: first poll (select with no wait) for up to this long, then sleep in select for
    the rest: an answer due within it is read without the wake-up a sleeping reader pays."""
    try:
        ready = None
        if busy_poll_s and timeout > 0:
            start = time.perf_counter()
            end = start + min(busy_poll_s, timeout)
            while True:
                ready = select.select([fd], [], [], 0)[0]
                if ready:
                    break
                now = time.perf_counter()
                if now >= end:
                    timeout -= now - start
                    break
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
    return data


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
