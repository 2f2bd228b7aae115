"""pumpmock.harness.portio: the client's direct descriptor reads and writes keep pyserial's guarantees."""

import os
import threading
import time

import pytest
import serial

from pumpmock import harness
from pumpmock.harness import portio
from pumpmock.harness.faulty_port import FaultyPort
from pumpmock.harness.faults import FaultModel

posix_only = pytest.mark.skipif(os.name != "posix", reason="descriptor I/O is the POSIX path")


@posix_only
def test_write_fd_delivers_everything_through_a_full_pipe():
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    data = os.urandom(300_000)  # several times a pipe's buffer: some writes must wait for room
    received = bytearray()

    def drain():
        while len(received) < len(data):
            chunk = os.read(read_end, 65536)
            if not chunk:
                return
            received.extend(chunk)
            time.sleep(0.001)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        portio.write_fd(write_end, data, timeout=5)
        reader.join(timeout=10)
        assert bytes(received) == data
    finally:
        os.close(write_end)
        os.close(read_end)


@posix_only
def test_write_fd_times_out_when_nothing_drains():
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        started = time.monotonic()
        with pytest.raises(serial.SerialTimeoutException):
            portio.write_fd(write_end, bytes(1 << 20), timeout=0.2)
        assert time.monotonic() - started < 5
    finally:
        os.close(write_end)
        os.close(read_end)


@posix_only
def test_read_fd_returns_empty_after_the_timeout_and_what_is_there_at_once():
    read_end, write_end = os.pipe()
    try:
        assert portio.read_fd(read_end, 0.05) == b""
        os.write(write_end, b"\x01\x02\x03")
        assert portio.read_fd(read_end, 5) == b"\x01\x02\x03"
        os.close(write_end)
        write_end = None
        with pytest.raises(serial.SerialException):  # readable and empty: the other end is gone
            portio.read_fd(read_end, 1)
    finally:
        os.close(read_end)
        if write_end is not None:
            os.close(write_end)


@posix_only
def test_busy_polling_reads_what_comes_during_or_after_the_poll_and_keeps_the_timeout():
    read_end, write_end = os.pipe()
    try:
        started = time.monotonic()
        assert portio.read_fd(read_end, 0.05, busy_poll_s=0.02) == b""  # the poll is part of the timeout
        assert 0.045 <= time.monotonic() - started < 1
        os.write(write_end, b"now")
        assert portio.read_fd(read_end, 5, busy_poll_s=0.01) == b"now"
        later = threading.Timer(0.05, os.write, (write_end, b"later"))  # after the poll: select wakes for it
        later.start()
        assert portio.read_fd(read_end, 5, busy_poll_s=0.001) == b"later"
        later.join()
        assert portio.read_fd(read_end, 0, busy_poll_s=0.01) == b""  # no wait asked, none taken
    finally:
        os.close(read_end)
        os.close(write_end)


@posix_only
def test_a_closed_tty_is_refused_not_written_by_a_stale_descriptor_number():
    master, slave = os.openpty()
    try:
        port = serial.Serial(os.ttyname(slave), timeout=0.1)
        write = portio.writer_for(port)
        read = portio.reader_for(port)
        write(b"ping", 1)
        assert os.read(master, 16) == b"ping"
        port.close()
        with pytest.raises(serial.PortNotOpenError):
            write(b"again", 1)
        with pytest.raises(serial.PortNotOpenError):
            read(0.01)
    finally:
        os.close(master)
        os.close(slave)


def test_a_wrapper_is_read_and_written_through_not_around():
    inner = serial.serial_for_url("pumpmock://?clock=virtual")
    faulty = FaultyPort(inner, FaultModel.parse("drop=100%,seed=1"))  # loses every byte
    try:
        portio.writer_for(faulty)(b"\x00\x01\x02\x00", 1)
        assert portio.reader_for(faulty)(0.05) == b""  # the in-process fast path was not taken
        assert portio.reader_for(inner) == inner.read_available
    finally:
        faulty.close()


def test_reference_client_survives_a_port_swapped_under_a_live_session():
    from pumpmock.harness.bench.measure import CountingPort
    with harness.connect("pumpmock://?clock=virtual") as session:
        counter = CountingPort.install(session)
        session.hello()
        assert counter.bytes_out > 0 and counter.bytes_in > 0


def test_exec_port_read_available_takes_all_that_arrived_or_times_out():
    import sys
    child = "import sys, time; sys.stdout.buffer.write(b'abc'); sys.stdout.flush(); time.sleep(10)"
    port = harness.open_port("exec://%s -c \"%s\"" % (sys.executable, child), timeout=0.1, handshake=False)
    try:
        assert portio.reader_for(port) == port.read_available
        got = b""
        deadline = time.monotonic() + 10
        while len(got) < 3 and time.monotonic() < deadline:
            got += port.read_available(1)
        assert got == b"abc"
        started = time.monotonic()
        assert port.read_available(0.05) == b""
        assert time.monotonic() - started >= 0.04
    finally:
        port.process.kill()
        port.close()


def test_exec_port_gives_the_last_bytes_then_says_the_child_is_gone():
    """Not an endless run of empty reads (a caller would spin on them): the exit status and stderr."""
    import sys
    child = "import sys; sys.stdout.buffer.write(b'bye'); sys.stderr.write('firmware panic'); sys.exit(70)"
    port = harness.open_port("exec://%s -c \"%s\"" % (sys.executable, child), timeout=2, handshake=False)
    try:
        assert port.read(3) == b"bye"
        with pytest.raises(serial.SerialException, match="exit status 70.*firmware panic"):
            port.read(1)
        with pytest.raises(harness.PortError, match="exit status 70") as raised:
            harness.PumpSession(port).hello()
        assert isinstance(raised.value, harness.LinkError)
    finally:
        port.close()


def test_busy_polling_counts_the_cpus_a_container_allows(tmp_path):
    """On one CPU polling would only keep the pump from running: a cgroup quota counts too."""
    limits = tmp_path / "cpu.max"
    unlimited = portio.cpus(str(tmp_path / "missing"))
    limits.write_text("max 100000\n")
    assert portio.cpus(str(limits)) == unlimited
    limits.write_text("100000 100000\n")
    assert portio.cpus(str(limits)) == 1
    limits.write_text("50000 100000\n")
    assert portio.cpus(str(limits)) == 1
    limits.write_text("800000 100000\n")
    assert portio.cpus(str(limits)) == min(unlimited, 8)
