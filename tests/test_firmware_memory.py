"""The firmware's storage never asks a board's heap for a big block: every read and write is small.

A Pico-class board (~190 KB free at boot, fragmented after hours of running) cannot always give
a 4 KB block, and the pump crashed with MemoryError reading its ~20 KB log file whole during
TC_POWER_LOSS. So the storage layer moves at most STORAGE_BUFFER_BUDGET bytes per call, on every
path after boot: a full log journalled, loaded, reset and cut at any byte (docs/PUMP_MODEL.md,
section 14, "Memory"). Measured here under CPython with a recording storage: the sizes the pump
asks for are the same on MicroPython.
"""

import pathlib
import shutil

import pytest

from pumpmock import harness
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm, BolusKind, Drug, Fault, Role

from pumpmock.firmware_mock import persist, spec
from pumpmock.firmware_mock.core import Pump
from pumpmock.firmware_mock.stdio_shell import HostFiles
from pumpmock.firmware_mock.storage import RamStorage
from pumpmock.harness.checks import run_checks
from pumpmock.harness.micropython_cmd import micropython_mjs
from pumpmock.harness.urlhandler import protocol_pumpmock

from test_firmware_support import DAY_S, SERIAL, Host, flex, morphine

ROOT = pathlib.Path(__file__).resolve().parent.parent
STORAGE_BUFFER_BUDGET = 512  # bytes: docs/PUMP_MODEL.md section 14 "Memory" says the same


class RecordingStorage(RamStorage):
    """RamStorage that remembers the largest buffer it was handed or asked to fill, and where."""

    def __init__(self):
        super().__init__()
        self.largest = 0
        self.largest_at = None
        self.phase = "boot"
        self.whole_reads = []
        self.calls = 0

    def _note(self, size, what):
        self.calls += 1
        if size > self.largest:
            self.largest, self.largest_at = size, "%s: %s" % (self.phase, what)

    def read(self, name):
        self.whole_reads.append((self.phase, name))
        return super().read(name)

    def read_into(self, name, offset, buf):
        self._note(len(buf), "read_into(%r, %d, %d bytes)" % (name, offset, len(buf)))
        return super().read_into(name, offset, buf)

    def _write(self, name, offset, data):
        self._note(len(data), "write(%r, %d, %d bytes)" % (name, offset, len(data)))
        super()._write(name, offset, data)


def within_budget(storage):
    assert storage.calls, "the storage was never used: nothing measured"
    assert not storage.whole_reads, "whole-file reads: %r" % storage.whole_reads
    assert storage.largest <= STORAGE_BUFFER_BUDGET, "%d bytes at %s" % (storage.largest, storage.largest_at)


def full_log_pump(storage):
    host = Host(storage=storage, capacity_ul=200_000)
    host.ready(volume_ul=200_000)
    storage.phase = "a warp that fills the log (more entries than it holds in one save)"
    host.warp(600 * DAY_S)
    assert host.pump.model.log.next_index - host.pump.model.log.oldest_index == spec.LOG_CAPACITY
    return host


def test_a_full_log_journalled_read_and_reloaded_stays_in_small_buffers():
    storage = RecordingStorage()
    host = full_log_pump(storage)
    storage.phase = "log download"
    assert len(host.log()) == spec.LOG_CAPACITY
    storage.phase = "TC_POWER_LOSS with a full log"
    host.call(m.TcPowerLossRequest(0))
    host.hello()
    host.authenticate()
    assert len(host.log()) == spec.LOG_CAPACITY
    storage.phase = "a real reboot with a full log"
    reborn = Host(pump=Pump(serial=SERIAL, test_mode=True, storage=storage, capacity_ul=200_000))
    reborn.seq = host.seq  # the same programmer: its sequence numbers go on
    reborn.hello()
    reborn.authenticate()
    assert len(reborn.log()) == spec.LOG_CAPACITY
    storage.phase = "TC_RESET of a full log"
    reborn.call(m.TcResetRequest())
    within_budget(storage)


# the warp's save writes about 10.6 KB: every cut lands in it (11_000 cut a later login's save)
@pytest.mark.parametrize("cut", [1, persist.ENTRY_SIZE + 3, persist.CHUNK + 7, 4_000, 10_000])
def test_a_power_cut_in_a_full_log_save_stays_in_small_buffers(cut):
    storage = RecordingStorage()
    host = full_log_pump(storage)
    storage.phase = "TC_POWER_LOSS(%d) then a warp that journals a full ring" % cut
    host.call(m.TcPowerLossRequest(cut))
    host.write(m.encode_message(m.TcWarpClockRequest(600 * DAY_S), host.next_seq()))  # cut, rebooted
    assert host.pump.model.reboots == 1
    host.hello()
    host.authenticate()
    assert host.pump.model.log.next_index > 0
    within_budget(storage)


def test_a_busy_session_stays_in_small_buffers():
    """A full exactly-once cache, alarms, a FLEX prescription, boluses, refills, a warp."""
    storage = RecordingStorage()
    host = Host(storage=storage)
    storage.phase = "session"
    host.ready(flex([(0, 2_000), (360, 4_000), (720, 3_000)]))
    for code in (Fault.MOTOR_STALL, Fault.CATHETER_OCCLUSION, Fault.LOW_BATTERY):
        host.call(m.TcInjectFaultRequest(code))
    for _i in range(spec.DEDUP_CACHE_SIZE + 4):
        host.request(m.ClinicianBolusRequest(BolusKind.CLINICIAN, 50, 60))
        host.request(m.ProgramPrescriptionRequest((), morphine(daily_dose_ug=2_500)))
    host.refill(5_000)
    host.authenticate(Role.PATIENT)
    host.request(m.PtmBolusRequest())
    host.warp(3 * DAY_S)
    host.call(m.TcPowerLossRequest(0))
    assert host.pump.model.alarms.alarms or host.raised(Alarm.MOTOR_STALL)
    within_budget(storage)


def test_the_conformance_checks_stay_in_small_buffers():
    storage = RecordingStorage()
    name = "memory-budget"
    protocol_pumpmock._SHARED_PUMPS[name] = Pump(serial=SERIAL, test_mode=True, storage=storage)
    storage.phase = "pumpmock check"
    try:
        results = run_checks("pumpmock://%s?clock=virtual" % name)
    finally:
        del protocol_pumpmock._SHARED_PUMPS[name]
    assert [r.check.name for r in results if r.status == "fail"] == []
    within_budget(storage)


def test_the_recording_storage_sees_a_big_write():
    """The measure itself: a write above the budget is caught."""
    storage = RecordingStorage()
    storage.write("log", 0, bytes(STORAGE_BUFFER_BUDGET + 1))
    with pytest.raises(AssertionError, match="513 bytes"):
        within_budget(storage)


# ---- TC_HEAP_INFO: the heap and the largest buffer, through test control ---------------------------
def test_heap_info_on_cpython_says_unknown_and_counts_the_largest_buffer_per_window():
    storage = RecordingStorage()
    host = full_log_pump(storage)
    first = host.call(m.TcHeapInfoRequest())
    # CPython has no gc.mem_free: 0 is the documented "unknown", never a made-up figure.
    assert (first.free_bytes, first.low_free_bytes, first.used_bytes, first.peak_used_bytes) == (0, 0, 0, 0)
    # every storage call the recorder saw, and the state body besides
    assert first.largest_buffer_bytes >= storage.largest > 0
    assert host.call(m.TcHeapInfoRequest()).largest_buffer_bytes == 0  # nothing since the last ask
    host.call(m.TcPowerLossRequest(0))
    assert host.call(m.TcHeapInfoRequest()).largest_buffer_bytes > 0  # the reboot read the full log


def test_the_largest_state_body_is_saved_and_loaded_in_small_pieces():
    """A full exactly-once cache of the largest answers (240-byte payloads) and two alarms: a body
    of ~8 KB that never exists as one buffer (snapshot.encode's parts are written one by one, a
    load reads it field by field)."""
    storage = RecordingStorage()
    host = Host(storage=storage)
    storage.phase = "the largest body"
    host.ready()
    for fault in (Fault.MOTOR_STALL, Fault.CATHETER_OCCLUSION, Fault.LOW_BATTERY):
        host.call(m.TcInjectFaultRequest(fault))
    cache = host.pump.cache
    for seq in range(spec.DEDUP_CACHE_SIZE):
        cache.store(0x7000 + seq, spec.ID_PROGRAM_PRESCRIPTION, bytes([seq]) * 8, 1, bytes([seq]) * 240)
    host.call(m.TcSetBatteryRequest(90))  # saves
    parts = host.pump._body()
    assert sum(len(part) for part in parts) > 8_000
    host.call(m.TcHeapInfoRequest())
    storage.phase = "TC_POWER_LOSS with the largest body"
    host.call(m.TcPowerLossRequest(0))
    assert 0 < host.call(m.TcHeapInfoRequest()).largest_buffer_bytes <= STORAGE_BUFFER_BUDGET
    storage.phase = "a real reboot with the largest body"
    reborn = Pump(serial=SERIAL, test_mode=True, storage=storage)
    assert [reborn.cache.answers[seq][3] for seq in reborn.cache.order] == \
        [bytes([seq]) * 240 for seq in range(spec.DEDUP_CACHE_SIZE)]
    def alarms(pump):
        return [(a.code, a.instance, a.raised_ms) for a in pump.model.alarms.alarms]

    assert len(alarms(reborn)) == 2 and alarms(reborn) == alarms(host.pump)
    assert reborn.model.rx == host.pump.model.rx
    within_budget(storage)


def test_heap_info_needs_test_mode():
    host = Host(test_mode=False)
    host.hello()
    assert host.refused(m.TcHeapInfoRequest()).code == spec.E_NOT_IN_TEST_MODE


needs_micropython = pytest.mark.skipif(shutil.which("node") is None or not micropython_mjs().exists(),
                                       reason="the MicroPython runner needs node and its npm package")


@needs_micropython
def test_heap_info_under_micropython_reads_the_heap_and_its_extremes():
    """Under the real MicroPython the figures are the interpreter's: a full log raises the peak."""
    url = "exec://node %s --test-mode" % (ROOT / "firmware_mock" / "wasm_runner.mjs")
    with harness.connect(url, role=Role.CLINICIAN, timeout=20) as session:
        test = session.test
        test.reset(seed=1)
        start = test.heap_info()
        assert start.free_bytes > 0 and start.used_bytes > 0
        assert (start.low_free_bytes, start.peak_used_bytes) == (start.free_bytes, start.used_bytes)  # the watch starts
        at_rest = test.heap_info()
        session.authenticate(Role.CLINICIAN)
        session.refill(Drug.MORPHINE, 20_000, 20_000)
        session.program(morphine())
        for _i in range(spec.LOG_CAPACITY):
            test.set_battery(100)  # each logs a test-control entry: the log is full
        page = session.read_log(0, 1)
        assert page.next_index - page.oldest_index == spec.LOG_CAPACITY
        full = test.heap_info()
        assert full.peak_used_bytes >= full.used_bytes > at_rest.used_bytes
        assert full.low_free_bytes <= full.free_bytes
        assert full.largest_buffer_bytes > 0


class HexHost:
    """The WebAssembly runner's pumpmock_host functions, in CPython: files as hex text."""

    def __init__(self):
        self.files = {}
        self.asked = []  # sizes read_hex_at was asked for
        self.whole = []  # names read whole

    def read_hex_at(self, name, offset, size):
        self.asked.append(size)
        return bytes(self.files.get(name, b"")[offset:offset + size]).hex()

    def read_hex(self, name):
        self.whole.append(name)
        return None if name not in self.files else bytes(self.files[name]).hex()

    def write_hex(self, name, offset, text):
        data = bytes.fromhex(text)
        blob = self.files.setdefault(name, bytearray())
        if len(blob) < offset + len(data):
            blob.extend(bytes(offset + len(data) - len(blob)))
        blob[offset:offset + len(data)] = data


def test_the_runners_host_files_are_read_a_buffer_at_a_time():
    """HostFiles (the runner's --storage) reads through read_hex_at, never a whole file."""
    hexhost = HexHost()
    host = Host(pump=Pump(serial=SERIAL, test_mode=True, storage=HostFiles(hexhost), capacity_ul=200_000))
    host.ready(volume_ul=200_000)
    host.warp(600 * DAY_S)
    host.call(m.TcPowerLossRequest(0))
    reborn = Host(pump=Pump(serial=SERIAL, test_mode=True, storage=HostFiles(hexhost), capacity_ul=200_000))
    reborn.seq = host.seq
    reborn.hello()
    reborn.authenticate()
    assert len(reborn.log()) == spec.LOG_CAPACITY
    assert hexhost.whole == [] and hexhost.asked and max(hexhost.asked) <= persist.CHUNK


def test_the_watch_sees_the_fullest_moment_inside_a_save_once_asked(monkeypatch):
    """The firmware's heap readings with a stand-in gc (CPython has none): a save that holds 400 KB
    more at its end is seen at the save's watch point, but only after the first TC_HEAP_INFO started
    the watch, and not on a port whose shell reads between calls only (the WebAssembly runner)."""
    from pumpmock.firmware_mock import heap

    used = [100_000]
    monkeypatch.setattr(heap, "_MEM_ALLOC", lambda: used[0])
    monkeypatch.setattr(heap, "_MEM_FREE", lambda: 1_000_000 - used[0])
    monkeypatch.setattr(heap, "_watch", [False, 0, 0])
    original = persist.Persistence.save

    def heavy_save(self, body, log):
        used[0] = 500_000
        try:
            original(self, body, log)
        finally:
            used[0] = 100_000

    monkeypatch.setattr(persist.Persistence, "save", heavy_save)
    host = Host()
    host.hello()
    host.call(m.TcSetBatteryRequest(90))  # a save before anyone asked: nobody watched it
    first = host.call(m.TcHeapInfoRequest())
    assert (first.used_bytes, first.peak_used_bytes, first.low_free_bytes) == (100_000, 100_000, 900_000)
    host.call(m.TcSetBatteryRequest(80))
    seen = host.call(m.TcHeapInfoRequest())
    assert (seen.used_bytes, seen.peak_used_bytes, seen.free_bytes, seen.low_free_bytes) == \
        (100_000, 500_000, 900_000, 500_000)
    assert host.call(m.TcHeapInfoRequest()).peak_used_bytes == 100_000  # a new window
    monkeypatch.setattr(heap, "INNER_POINTS", [False])
    host.call(m.TcSetBatteryRequest(70))
    assert host.call(m.TcHeapInfoRequest()).peak_used_bytes == 100_000
