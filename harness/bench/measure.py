"""Link measurements for the bench report: round-trip latency, throughput and line-rate efficiency.

    with harness.connect(url, role=Role.CLINICIAN) as session:
        counter = CountingPort.install(session)        # count the bytes from here on
        link = measure_round_trips(session, counter, 200, baud=115200)
        log = measure_log_download(session, counter, 240, baud=115200)
        findings = link_findings(link, log)

Round trips are GET_STATUS (a 9-byte request, a ~50-byte answer), timed on the wall clock.
Throughput is the event-log download: READ_LOG pages of 12 entries with two requests in
flight, the bulk transfer a programmer does. Efficiency compares bytes per second with the
line rate, baud / 10 bytes/s for 8N1 (11,520 B/s at 115200): a paced UART should come close;
USB CDC ignores the baud rate and may exceed it; a bridge with a latency timer falls far short.
"""

import statistics
import time

from pumpmock.protocol.codes import Drug, Role

from ..checks import MORPHINE_UG_PER_ML, morphine
from ..faulty_port import PortWrapper

BITS_PER_BYTE = 10  # 8N1
LOG_ENTRY_BYTES = 18  # one log_entry on the wire
FTDI_LATENCY_TIMER_MS = 16  # the default of FTDI's USB-serial bridges (FT232R, FT-X, ...)
_FTDI_BAND_MS = (14.0, 18.5)


class CountingPort(PortWrapper):
    """A transparent port wrapper that counts bytes each way (bytes_out to the pump, bytes_in back)."""

    def __init__(self, port):
        super().__init__(port)
        self._counts = [0, 0]

    @classmethod
    def install(cls, session):
        """Put a counter under `session` (between it and its port); returns the counter."""
        counter = cls(session.port)
        session.port = counter
        return counter

    @property
    def bytes_out(self):
        return self._counts[0]

    @property
    def bytes_in(self):
        return self._counts[1]

    def clock(self):
        port_clock = getattr(self._port, "clock", None)
        return port_clock() if callable(port_clock) else time.monotonic()

    def write(self, data):
        written = self._port.write(data)
        self._counts[0] += len(data) if written is None else written
        return written

    def read(self, size=1):
        data = self._port.read(size)
        self._counts[1] += len(data)
        return data

    def close(self):
        self._port.close()


def _percentile(sorted_values, fraction):
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def line_rate_bytes_per_s(baud):
    return baud / BITS_PER_BYTE


def measure_round_trips(session, counter, count, baud):
    """GET_STATUS `count` times; latency percentiles (ms), round trips/s and bytes on the line."""
    session.status()  # warm up: the first exchange may pay for imports, caches and buffers
    in_before, out_before = counter.bytes_in, counter.bytes_out
    samples_ms = []
    start = time.perf_counter()
    for _ in range(count):
        began = time.perf_counter()
        session.status()
        samples_ms.append((time.perf_counter() - began) * 1000)
    elapsed_s = time.perf_counter() - start
    wire_bytes = (counter.bytes_in - in_before) + (counter.bytes_out - out_before)
    bytes_per_round_trip = wire_bytes / count
    ordered = sorted(samples_ms)
    in_band = sum(1 for ms in samples_ms if _FTDI_BAND_MS[0] <= ms <= _FTDI_BAND_MS[1])
    return {
        "count": count,
        "round_trips_per_s": round(count / elapsed_s, 1),
        "latency_ms": {"min": round(ordered[0], 3), "p50": round(_percentile(ordered, 0.5), 3),
                       "p90": round(_percentile(ordered, 0.9), 3), "p99": round(_percentile(ordered, 0.99), 3),
                       "max": round(ordered[-1], 3), "mean": round(statistics.fmean(ordered), 3)},
        "wire_bytes_per_round_trip": round(bytes_per_round_trip, 1),
        # What the bytes alone cost at the line rate: the floor no target can beat on a real UART.
        "wire_time_ms_per_round_trip": round(1000 * bytes_per_round_trip / line_rate_bytes_per_s(baud), 3),
        "share_near_16ms": round(in_band / count, 3),
        "histogram_ms": _histogram(samples_ms),
    }


def _histogram(samples_ms):
    """Counts per bucket with edges 0.5, 1, 2, 4, 8, 12, 15, 18, 24, 32, 64 ms: 16 ms stands out."""
    edges = (0.5, 1, 2, 4, 8, 12, 15, 18, 24, 32, 64)
    counts = {}
    for ms in samples_ms:
        label = next(("<%g" % edge for edge in edges if ms < edge), ">=64")
        counts[label] = counts.get(label, 0) + 1
    order = ["<%g" % edge for edge in edges] + [">=64"]
    return {label: counts[label] for label in order if label in counts}


def fill_log(session, entries):
    """Grow the event log to at least `entries` (test mode: reset, fill, program, hourly warps)."""
    session.test.reset(seed=1)
    session.authenticate(Role.CLINICIAN)
    session.refill(Drug.MORPHINE, MORPHINE_UG_PER_ML, 20_000)
    session.program(morphine())
    while session.read_log(0, 1).next_index < entries:
        session.test.warp_clock(3_600)  # each hour of therapy logs its basal delivery


def measure_log_download(session, counter, entries, baud):
    """Download the event log (after filling it to `entries` in test mode); bytes/s vs the line rate."""
    if session.test.available:
        fill_log(session, entries)
    elif session.role != Role.CLINICIAN:
        session.authenticate(Role.CLINICIAN)
    in_before, out_before = counter.bytes_in, counter.bytes_out
    start = time.perf_counter()
    downloaded = session.download_log()
    elapsed_s = time.perf_counter() - start
    received = counter.bytes_in - in_before
    line_rate = line_rate_bytes_per_s(baud)
    entry_bytes = len(downloaded) * LOG_ENTRY_BYTES
    return {
        "entries": len(downloaded),
        "seconds": round(elapsed_s, 4),
        "wire_bytes_in": received,
        "wire_bytes_out": counter.bytes_out - out_before,
        "wire_bytes_in_per_s": round(received / elapsed_s, 1),
        "entry_bytes_per_s": round(entry_bytes / elapsed_s, 1),
        "line_rate_bytes_per_s": line_rate,
        # The share of the line's capacity pump>host that carried bytes at all, and that carried
        # log entries (the rest is framing, CRC, page headers and idle time between pages).
        "line_utilisation_pct": round(100 * received / elapsed_s / line_rate, 1),
        "line_efficiency_pct": round(100 * entry_bytes / elapsed_s / line_rate, 1),
    }


def link_findings(round_trips, log_download):
    """Sentences naming what the numbers show: the FTDI latency timer, a line slower than its rate."""
    findings = []
    p50 = round_trips["latency_ms"]["p50"]
    wire_ms = round_trips["wire_time_ms_per_round_trip"]
    if round_trips["share_near_16ms"] >= 0.5 and wire_ms < 12:
        findings.append(
            "round trips cluster at ~16 ms (median %.1f ms, %d%% between %g and %g ms) although the bytes "
            "take only %.1f ms on the line: the signature of an FTDI USB-serial bridge's latency timer "
            "(default %d ms: the bridge holds a short reply until the timer expires). Set it to 1 ms: "
            "echo 1 | sudo tee /sys/bus/usb-serial/devices/ttyUSB0/latency_timer (Linux), or Latency "
            "Timer in the port's Advanced settings (Windows)."
            % (p50, 100 * round_trips["share_near_16ms"], _FTDI_BAND_MS[0], _FTDI_BAND_MS[1], wire_ms,
               FTDI_LATENCY_TIMER_MS))
    elif p50 > 4 * wire_ms + 5:
        findings.append("median round trip %.1f ms is well above the %.1f ms the bytes take on the line: "
                        "the time goes to the target's processing or the USB path, not the line rate"
                        % (p50, wire_ms))
    if log_download and log_download["line_utilisation_pct"] > 105:
        findings.append("bytes arrived %.0f%% faster than %.0f B/s allows: this line is not paced at that "
                        "rate (USB CDC ignores the baud rate; a pipe or a pty has none), so the efficiency "
                        "numbers say nothing about a UART" % (log_download["line_utilisation_pct"] - 100,
                                                               log_download["line_rate_bytes_per_s"]))
    elif log_download and log_download["line_efficiency_pct"] < 50:
        findings.append("the log download carried log entries at %.0f%% of the line rate (%.0f of %.0f B/s)%s"
                        % (log_download["line_efficiency_pct"], log_download["entry_bytes_per_s"],
                           log_download["line_rate_bytes_per_s"],
                           "; with a 16 ms latency timer every page waits for it" if findings and "16 ms" in findings[0] else ""))
    return findings
