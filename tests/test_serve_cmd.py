"""`pumpmock serve`: an external process opens the printed pty path or TCP address and talks, or spawns it on stdio."""

import os
import subprocess
import sys
import time

import pytest

from pumpmock import harness
from pumpmock.protocol.catalog import BANNER, PROTOCOL_VERSION
from pumpmock.protocol.codes import Role
from pumpmock.protocol.framing import REQUEST, RESPONSE, FrameDecoder, encode_frame
from pumpmock.protocol.messages import HelloRequest, HelloResponse


@pytest.fixture
def serve():
    processes = []

    def start(*args):
        process = subprocess.Popen([sys.executable, "-m", "pumpmock.harness.cli", "serve", *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        processes.append(process)
        return process, process.stdout.readline().strip()
    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def test_serve_pty_is_reachable_by_an_external_process(serve):
    _process, path = serve("--pty", "--test-mode")
    assert path.startswith("/dev/")
    code = ("import harness, sys; from protocol.codes import Role\n"
            "with harness.connect(sys.argv[1], role=Role.CLINICIAN, timeout=1) as s:\n"
            "    s.test.reset(); s.authenticate(Role.CLINICIAN); print(s.status().capacity_ul)")
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "20000", out.stderr


def test_serve_tcp_prints_its_address_and_keeps_state_across_clients(serve):
    _process, address = serve("--tcp", "0", "--test-mode")
    host, port = address.split(":")
    assert host == "127.0.0.1" and int(port) > 0
    with harness.connect("socket://" + address, role=Role.CLINICIAN, timeout=1) as session:
        session.test.reset()
        session.test.set_battery(42)
    with harness.connect("socket://" + address, role=Role.PATIENT, timeout=1) as session:
        assert session.status().battery_pct == 42


def test_serve_records_a_transcript_and_applies_faults(serve, tmp_path):
    transcript = tmp_path / "served.jsonl"
    process, path = serve("--pty", "--test-mode", "--faults", "drop=5%,unit=frame,seed=4",
                          "--transcript", str(transcript))
    with harness.connect(path, timeout=0.3, retries=8) as session:
        for _ in range(60):
            session.test.counters()
        assert session.stats["retransmissions"] > 0
    process.terminate()
    process.wait(timeout=10)
    assert '"name": "TC_READ_COUNTERS"' in transcript.read_text()


def test_serve_refuses_a_bad_fault_spec():
    out = subprocess.run([sys.executable, "-m", "pumpmock.harness.cli", "serve", "--pty", "--faults", "bogus=1"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "bogus" in out.stderr


def test_serve_stdio_answers_on_stdout_only_and_stops_when_stdin_closes():
    """The pump's bytes are the whole of stdout (no address line), and end of input ends the server."""
    hello = encode_frame(REQUEST, HelloRequest.MESSAGE.id, 1, HelloRequest(7, PROTOCOL_VERSION).encode())
    out = subprocess.run([sys.executable, "-m", "pumpmock.harness.cli", "serve", "--stdio"],
                         input=b"\x00" + hello, capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    frames = [item for item in FrameDecoder().feed(out.stdout) if not isinstance(item, Exception)]
    assert [(f.kind, f.msg_id, f.seq) for f in frames][:1] == [(RESPONSE, HelloRequest.MESSAGE.id, 1)]
    assert HelloResponse.decode(frames[0].payload).banner == BANNER
    assert b"stdio" in out.stderr  # where it served is said on stderr, not on the line


def test_serve_stdio_is_an_exec_target():
    url = "exec://%s -m pumpmock.harness.cli serve --stdio --test-mode" % sys.executable
    with harness.connect(url, role=Role.CLINICIAN, timeout=2) as session:
        session.test.set_battery(37)
        assert session.status().battery_pct == 37


def _cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads CPU time from /proc (Linux)")
def test_serve_busy_polls_only_while_a_client_talks(serve):
    """Polling keeps the pump awake for a talking client; once the client is quiet it sleeps again."""
    process, path = serve("--pty", "--test-mode", "--busy-poll-us", "20000")
    with harness.connect(path, timeout=1) as session:
        for _ in range(50):
            session.test.counters()
        time.sleep(0.1)  # past the 20 ms poll window
        before = _cpu_seconds(process.pid)
        time.sleep(1.0)
        idle = _cpu_seconds(process.pid) - before
        assert idle < 0.2, "the server used %.2f s of CPU in 1 s with nobody talking" % idle
        assert session.test.counters().requests_executed >= 50  # and it still answers
