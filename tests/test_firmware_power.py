"""Power loss: a cut at any byte of any write leaves a consistent pump; reboots keep what they must."""

import copy
import itertools

import pytest

from pumpmock.protocol import messages as m
from pumpmock.protocol.auth import auth_mac, role_key
from pumpmock.protocol.framing import NAK
from pumpmock.protocol.codes import BolusKind, Drug, Error, LogKind, Role, TherapyState

from pumpmock.firmware_mock import persist, spec
from pumpmock.firmware_mock.core import Pump
from pumpmock.firmware_mock.eventlog import EventLog
from pumpmock.firmware_mock.storage import FileStorage, PowerCut, RamStorage

from test_firmware_support import DAY_MS, DAY_S, MORPHINE_UG_PER_ML, SERIAL, Host, conserved, morphine


def observed(host):
    """Status, therapy counters and log: what must not change across a clean reboot."""
    host.authenticate(Role.CLINICIAN)
    counters = host.counters()._replace(requests_executed=0, naks_sent=0, dedup_hits=0, reboots=0, frames_bad=0)
    entries = [e for e in host.log() if e.kind not in (LogKind.POWER_UP, LogKind.AUTH)]
    return counters, host.status()._replace(role=0), host.alarms(), [e[1:] for e in entries]


def loaded_log(persistence, oldest_index, next_index):
    """load_log with its entries (an iterator read from storage as it goes) as a list."""
    start, entries = persistence.load_log(oldest_index, next_index)
    return start, list(entries)


def test_power_loss_now_reboots_with_nothing_lost():
    twin, host = Host(), Host()
    for pump in (twin, host):
        pump.ready()
        pump.call(m.ClinicianBolusRequest(BolusKind.CLINICIAN, 500, 7_200))
        pump.advance(DAY_MS + 3_600_000)  # delivery since the last save: replayed on reboot
    assert host.call(m.TcPowerLossRequest(0)).reboots == 1
    assert host.refused(m.GetStatusRequest()).code == Error.UNAUTHORIZED  # the session role is gone
    assert observed(host) == observed(twin)
    power_up = [(e.clock_s, e.value) for e in host.log() if e.kind == LogKind.POWER_UP]
    assert power_up == [(host.status().clock_s, 1)]
    assert conserved(host)


def test_the_exactly_once_cache_survives_a_power_loss():
    host = Host()
    host.ready()
    bolus = m.ClinicianBolusRequest(BolusKind.CLINICIAN, 100, 600)
    first = host.write(m.encode_message(bolus, 0x6000))
    host.call(m.TcPowerLossRequest(0))
    host.hello()
    host.authenticate()
    assert host.write(m.encode_message(bolus, 0x6000)) == first
    assert host.counters().boluses_delivered == 1


def test_each_host_sessions_cached_answers_survive_a_reboot_with_their_session():
    storage = RamStorage()
    host = Host(storage=storage)
    host.ready()  # host session 1
    bolus = m.ClinicianBolusRequest(BolusKind.CLINICIAN, 100, 600)
    first = host.write(m.encode_message(bolus, 0x6000))
    host.hello(2)
    host.authenticate()
    assert host.refused(m.ClinicianBolusRequest(BolusKind.CLINICIAN, 50, 60), 0x6000).code == Error.BUSY
    reborn = Host(pump=Pump(serial=SERIAL, test_mode=True, storage=storage))
    reborn.seq = 0x1000  # host 1's own counter went on: its earlier seqs are taken in its session
    reborn.advance(700_000)
    reborn.hello(1)
    reborn.authenticate()
    assert reborn.write(m.encode_message(bolus, 0x6000)) == first
    assert reborn.counters().boluses_delivered == 1


def test_a_version_2_state_record_loads_with_its_answers_as_the_saved_sessions():
    """A board updated to this firmware keeps its state: version 2 records had no session."""
    from pumpmock.firmware_mock import snapshot
    from pumpmock.firmware_mock.dedup import ExactlyOnceCache
    from pumpmock.firmware_mock.model import PumpModel
    host = Host()
    host.ready()
    bolus = m.ClinicianBolusRequest(BolusKind.CLINICIAN, 100, 600)
    host.write(m.encode_message(bolus, 0x6000))
    pump = host.pump

    def records(cache):  # the cache's saved records, oldest first, as the state record holds them
        return [cache.answers[key][4] for key in cache.order]

    body, saved = b"".join(pump._body()), records(pump.cache)
    assert len(saved) == 4  # the login, refill, program and the bolus, all session 1's
    # version 2: the same records without their first 5 bytes (has a session, session id)
    old = bytes([2]) + body[1:len(body) - len(b"".join(saved))] + b"".join(r[5:] for r in saved)
    cache = ExactlyOnceCache(spec.DEDUP_CACHE_SIZE)
    session_id = snapshot.decode(old, PumpModel(pump.model.capacity_ul), cache)[0]
    assert session_id == 1 and cache.session == 1 and records(cache) == saved


def scenario(storage):
    """A pump with unsaved log entries, about to take a PTM bolus; returns (host, the bolus frame)."""
    host = Host(storage=storage)
    host.ready(morphine(max_daily_dose_ug=9_000))
    host.authenticate(Role.PATIENT)
    host.advance(DAY_MS + 60_000)  # a BASAL entry at midnight, not yet on storage
    return host, m.encode_message(m.PtmBolusRequest(), 0x6100)


def test_a_cut_at_every_byte_of_a_representative_write():
    dry_storage = RamStorage()
    dry, bolus = scenario(dry_storage)
    before = dry_storage.bytes_written
    [answer] = dry.write(bolus)
    size = dry_storage.bytes_written - before
    assert size > persist.ENTRY_SIZE  # a journal entry and a state record
    for cut in range(1, size + 1):
        storage = RamStorage()
        host, bolus = scenario(storage)
        boluses = host.counters().boluses_delivered
        storage.arm_cut(cut)
        assert host.write(bolus) == [], "cut at byte %d: the pump answered" % cut
        assert host.pump.model.reboots == 1
        host.hello()  # the same host session: its retransmissions stay safe
        host.authenticate(Role.PATIENT)
        for _ in range(2):  # executed now if the cut lost it, else answered from the cache
            assert host.write(bolus) == [answer], "cut at byte %d" % cut
        host.authenticate(Role.CLINICIAN)
        counters = host.counters()
        assert counters.boluses_delivered == boluses + 1, "cut at byte %d" % cut
        assert conserved(host)
        entries = host.log()
        assert [e.index for e in entries] == list(range(entries[0].index, entries[-1].index + 1))
        assert [e.kind for e in entries].count(LogKind.BASAL) == 1


def test_a_cut_in_the_journal_of_a_full_ring_keeps_every_committed_entry():
    storage = RamStorage()
    host = Host(storage=storage, capacity_ul=200_000)
    host.ready(volume_ul=200_000)
    host.warp(520 * DAY_S)  # saved: a full ring of 512 entries on storage
    committed = host.call(m.ReadLogRequest(0, 1))
    assert committed.next_index - committed.oldest_index == 512
    kept = host.log()
    storage.arm_cut(persist.ENTRY_SIZE - 3)  # SUSPEND's entry tears in the journal
    assert host.write(m.encode_message(m.SuspendRequest(), 0x6200)) == []
    host.authenticate()
    page = host.call(m.ReadLogRequest(0, 1))
    assert page.next_index == committed.next_index + 2  # POWER_UP, AUTH: the SUSPEND never happened
    assert page.oldest_index == committed.oldest_index + 2  # only what the two new ones push out
    entries = host.log()
    assert entries[:-2] == kept[2:]
    assert [e.kind for e in entries[-2:]] == [LogKind.POWER_UP, LogKind.AUTH]
    assert host.status().therapy_state == TherapyState.RUNNING
    assert conserved(host)


def test_journal_entries_never_overwrite_committed_ones():
    storage = RamStorage()
    log = EventLog(8)
    saver = persist.Persistence(storage, 8)
    for i in range(10):
        log.append(i, 2, 0, i, i)
    saver.save(b"committed", log)
    for i in range(7):  # as many as the RAM log holds but one: they fill the spare slots
        log.append(100 + i, 9)
    storage.arm_cut(6 * persist.ENTRY_SIZE + 5)  # six new entries land, the seventh tears
    with pytest.raises(PowerCut):
        saver.save(b"never", log)
    loaded = persist.Persistence(storage, 8)
    assert loaded.load() == b"committed"
    assert loaded_log(loaded, 2, 10) == (2, [(i, 2, 0, i, i) for i in range(2, 10)])


def test_a_save_with_more_new_entries_than_the_log_holds_keeps_the_committed_ones():
    storage = RamStorage()
    log = EventLog(8)
    saver = persist.Persistence(storage, 8)
    for i in range(10):
        log.append(i, 2, 0, i, i)
    saver.save(b"committed", log)
    for i in range(20):  # 10..29: 10..21 never reach storage, 22..29 do
        log.append(100 + i, 9)
    storage.arm_cut(8 * persist.ENTRY_SIZE)  # the new entries land, the record does not
    with pytest.raises(PowerCut):
        saver.save(b"never", log)
    loaded = persist.Persistence(storage, 8)
    assert loaded.load() == b"committed"
    assert loaded_log(loaded, 2, 10) == (2, [(i, 2, 0, i, i) for i in range(2, 10)])
    saver.save(b"now", log)
    loaded = persist.Persistence(storage, 8)
    assert loaded.load() == b"now"
    assert loaded_log(loaded, 22, 30) == (22, [(100 + i, 9, 0, 0, 0) for i in range(12, 20)])


def test_a_real_reboot_restores_the_saved_state_and_clock():
    storage = RamStorage()
    host = Host(storage=storage)
    host.ready()
    host.warp(2 * DAY_S)
    host.call(m.TcInjectFaultRequest(1))
    saved = observed(host)
    last_event_seq = host.event_frames[-1][0]
    reborn = Host(pump=Pump(serial=SERIAL, test_mode=True, storage=storage))
    reborn.now = 123_456  # the new shell's clock starts anywhere
    assert observed(reborn)[0] == saved[0]
    status = reborn.status()
    assert status.clock_s == 2 * DAY_S and status.therapy_state == TherapyState.STOPPED
    assert reborn.counters().reboots == 1
    reborn.advance(60_000)
    assert reborn.event_frames[0][0] >= last_event_seq + 1024  # fresh event seqs after a real reboot


def test_storage_without_a_valid_record_is_factory_state():
    storage = RamStorage()
    storage.write("state_a", 0, b"PMS1 torn")
    host = Host(storage=storage)
    assert host.status().therapy_state == TherapyState.NOT_PROGRAMMED
    assert host.counters().reboots == 0


def test_ab_records_survive_a_torn_write():
    storage = RamStorage()
    host = Host(storage=storage)
    host.ready()
    generation = host.pump.persistence.generation
    storage.arm_cut(5)
    with pytest.raises(PowerCut):
        host.pump._save()
    loaded = persist.Persistence(storage, 512)
    assert loaded.load() is not None and loaded.generation == generation


def test_file_storage_on_disk(tmp_path):
    storage = FileStorage(str(tmp_path))
    host = Host(storage=storage)
    host.ready()
    host.warp(DAY_S)
    host.call(m.ClinicianBolusRequest(BolusKind.CLINICIAN, 100, 600))
    saved = observed(host)
    storage.arm_cut(40)
    assert host.write(m.encode_message(m.SuspendRequest(), 0x6300)) == []
    reborn = Host(pump=Pump(serial=SERIAL, test_mode=True, storage=FileStorage(str(tmp_path))))
    assert observed(reborn)[0] == saved[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pumpmock_log.bin", "pumpmock_state_a.bin",
                                                          "pumpmock_state_b.bin"]


def test_the_state_record_is_compact():
    storage = RamStorage()
    host = Host(storage=storage)
    host.ready()
    host.call(m.ClinicianBolusRequest(BolusKind.CLINICIAN, 100, 600))
    # A few hundred bytes: written at every state change, so it must stay small for board flash.
    # (The exactly-once cache in it also holds the AUTH_RESPONSE answers of host.ready().)
    assert max(len(storage.files[name]) for name in persist.SLOTS) < 512


def test_any_object_with_read_and_write_is_storage():
    class Plain:
        def __init__(self):
            self.files = {}

        def read(self, name):
            return self.files.get(name)

        def write(self, name, offset, data):
            blob = bytearray(self.files.get(name, b""))
            blob[offset:offset + len(data)] = data
            self.files[name] = bytes(blob)

    plain = Plain()
    host = Host(storage=plain)
    host.ready()
    host.call(m.TcPowerLossRequest(30))
    assert host.write(m.encode_message(m.SuspendRequest(), 0x6400)) == []  # the cut hit the plain storage
    reborn = Host(pump=Pump(serial=SERIAL, test_mode=True, storage=plain))
    assert reborn.status().therapy_state == TherapyState.RUNNING and reborn.counters().reboots == 2


def test_a_cut_armed_across_a_reboot_cuts_the_boot_save_and_boots_again():
    twin, host = Host(), Host()
    for pump in (twin, host):
        pump.ready()
        pump.advance(DAY_MS + 5_000)
    host.call(m.TcPowerLossRequest(10))  # the next write to storage is the boot save below
    # The first boot's save is cut short, so storage never learns of it: one reboot counted.
    assert host.call(m.TcPowerLossRequest(0)).reboots == 1
    twin.call(m.TcPowerLossRequest(0))
    assert observed(host) == observed(twin)


def test_a_record_of_another_snapshot_version_means_factory_state():
    storage = RamStorage()
    host = Host(storage=storage)
    host.ready()
    body = bytearray(host.pump.persistence.load())
    body[0] = 99  # the snapshot format version
    storage.write("state_b", 0, persist._record(1_000, bytes(body)))
    reborn = Host(pump=Pump(serial=SERIAL, test_mode=True, storage=storage))
    assert reborn.status().therapy_state == TherapyState.NOT_PROGRAMMED


# ---- a cut at every byte of every kind of NV write ----------------------------------------------
# Each kind is a pump (with a prescription delivering, time run on since the last save) and the
# request whose save the cut hits. The pump is prepared once and copied for every cut point, so
# thousands of cuts take seconds. After each cut the pump must be exactly one of two pumps: the
# one the request never reached (the cut came before the record's last byte) or the one that
# completed it (the cut was the record's last byte), each rebooted at the same moment; and it
# must stay so a day later, which is where a pump clock that drifted from the model's shows.

_SEQ = itertools.count(0x7000)


def _prepared(capacity_ul=20_000, volume_ul=20_000, **rx_changes):
    host = Host(storage=RamStorage(), capacity_ul=capacity_ul)
    host.ready(morphine(**rx_changes), volume_ul=volume_ul)
    host.advance(DAY_MS + 3_600_000)  # a BASAL entry at midnight, not yet on storage
    return host


def _wire(message):
    return m.encode_message(message, next(_SEQ) & 0xFFFF)


def _kind_program():
    host = Host(storage=RamStorage())
    host.hello()
    host.authenticate()
    host.refill()
    host.advance(5_000)
    return host, _wire(m.ProgramPrescriptionRequest((), morphine()))


def _kind_simple(message, role=Role.CLINICIAN, **prepare):
    def build():
        host = _prepared(**prepare)
        host.authenticate(role)
        return host, _wire(message)
    return build


def _kind_ack_alarm():
    host = _prepared()
    host.call(m.TcInjectFaultRequest(1))
    host.call(m.TcClearFaultRequest(1))  # MOTOR_STALL latched: ACK clears it, delivery resumes
    alarm = host.alarms()[0]
    return host, _wire(m.AckAlarmRequest(alarm.code, alarm.instance))


def _kind_auth(good):
    def build():
        host = _prepared()
        nonce = host.call(m.AuthChallengeRequest(Role.PATIENT)).nonce
        mac = auth_mac(role_key(SERIAL, Role.PATIENT), nonce, SERIAL, Role.PATIENT) if good else bytes(32)
        return host, _wire(m.AuthResponseRequest(Role.PATIENT, mac))
    return build


def _kind_resume():
    host = _prepared()
    host.call(m.SuspendRequest())
    host.advance(60_000)
    return host, _wire(m.ResumeRequest())


def _kind_clear_fault():
    host = _prepared()
    host.call(m.TcInjectFaultRequest(spec.FAULT_CATHETER_OCCLUSION))
    host.advance(60_000)
    return host, _wire(m.TcClearFaultRequest(spec.FAULT_CATHETER_OCCLUSION))


def _kind_boot():
    """The save of a boot (TC_POWER_LOSS(0)): the cut makes the pump boot once more."""
    host = _prepared()
    return host, _wire(m.TcPowerLossRequest(0))


def _journal_slot(host):
    persistence = host.pump.persistence
    return (host.pump.model.log.next_index + persistence.log_shift) % persistence.slots


def _kind_journal_ring_end():
    """A full committed ring whose next save's entries straddle the end of the journal file."""
    host = _prepared(capacity_ul=200_000, volume_ul=200_000)
    host.warp(600 * DAY_S)  # one BASAL entry a day: more than the ring holds
    slots = host.pump.persistence.slots
    host.warp(((slots - 2 - _journal_slot(host)) % slots) * DAY_S)  # and one TEST_CONTROL entry
    assert _journal_slot(host) == slots - 1 and host.pump.model.log.oldest_index > 0
    return host, _wire(m.TcInjectFaultRequest(spec.FAULT_CATHETER_OCCLUSION))  # two entries: 1023 and 0


def _kind_journal_overflow():
    """A save with more new entries than the RAM log holds (some were never saved): a new shift."""
    host = _prepared(capacity_ul=200_000, volume_ul=200_000)
    host.warp(100 * DAY_S)
    return host, _wire(m.TcWarpClockRequest(530 * DAY_S))


KINDS = {
    "program": _kind_program,
    "refill": _kind_simple(m.RefillRequest(Drug.MORPHINE, MORPHINE_UG_PER_ML, 15_000)),
    "clinician_bolus": _kind_simple(m.ClinicianBolusRequest(BolusKind.CLINICIAN, 100, 600)),
    "ptm_bolus": _kind_simple(m.PtmBolusRequest(), Role.PATIENT, max_daily_dose_ug=9_000),
    "suspend": _kind_simple(m.SuspendRequest()),
    "resume": _kind_resume,
    "ack_alarm": _kind_ack_alarm,
    "auth_success": _kind_auth(True),
    "auth_failure": _kind_auth(False),
    "hello_new_session": _kind_simple(m.HelloRequest(0x5151, 1)),
    "tc_reset": _kind_simple(m.TcResetRequest(3)),
    "tc_inject_fault": _kind_simple(m.TcInjectFaultRequest(spec.FAULT_MEMORY_ERROR)),
    "tc_clear_fault": _kind_clear_fault,
    "tc_set_reservoir": _kind_simple(m.TcSetReservoirRequest(1_500)),
    "tc_set_battery": _kind_simple(m.TcSetBatteryRequest(5)),
    "tc_warp_clock": _kind_simple(m.TcWarpClockRequest(3 * DAY_S)),
    "boot": _kind_boot,
    "journal_ring_end": _kind_journal_ring_end,
    "journal_overflow": _kind_journal_overflow,
}


def _observe(host):
    """What must come back after a cut: both clocks, the saved state, the whole RAM log."""
    pump = host.pump
    log = pump.model.log
    entries = [(i, log.entry(i)) for i in range(log.oldest_index, log.next_index)]
    return pump._clock(), pump.model.clock_ms, pump._body(), entries


def _and_a_day_later(host):
    now = _observe(host)
    delivered = host.pump.model.delivered_ul
    host.now += DAY_MS  # one call: a day of re-announcements go out as one event each
    host.write(b"")
    [alarms] = host.write(_wire(m.TcGetAlarmsRequest()))  # answered, not a crash in the core
    assert alarms.kind != NAK
    later = _observe(host)
    running = host.status().therapy_state == TherapyState.RUNNING
    return now, later, running, host.pump.model.delivered_ul - delivered


def _writes_of(host, wire):
    """[(file, offset, size)] of the NV writes the request makes, in order, and its answer."""
    storage = host.pump.storage
    writes = []
    inner = storage._write

    def recording(name, offset, data):
        # One write in pieces (a journal run in small buffers) is one write here: where the
        # previous piece ended in the same file, the next one continues it.
        if writes and writes[-1][0] == name and writes[-1][1] + writes[-1][2] == offset:
            writes[-1] = (name, writes[-1][1], writes[-1][2] + len(data))
        else:
            writes.append((name, offset, len(data)))
        inner(name, offset, data)

    storage._write = recording
    answer = host.write(wire)
    return writes, answer


def _cut_points(writes):
    """Every byte of every write; in a long journal run (one save of more entries than the RAM
    log holds), every byte of its first two and last two entries and a byte in the middle of
    every 16th other one: they all tear alike, and each cut there replays a long warp."""
    points = []
    done = 0
    for name, _offset, size in writes:
        if name != persist.LOG_FILE or size <= 4 * persist.ENTRY_SIZE:
            points += range(done + 1, done + size + 1)
        else:
            for entry in range(size // persist.ENTRY_SIZE):
                first = done + entry * persist.ENTRY_SIZE
                if entry < 2 or entry >= size // persist.ENTRY_SIZE - 2:
                    points += range(first + 1, first + persist.ENTRY_SIZE + 1)
                elif entry % 16 == 0:
                    points.append(first + persist.ENTRY_SIZE // 2)
        done += size
    return points, done


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_cut_at_every_byte_of_every_kind_of_nv_write(kind):
    base, wire = KINDS[kind]()
    booting = kind == "boot"
    writes, answer = _writes_of(copy.deepcopy(base), wire)
    assert writes, "%s writes nothing to storage" % kind
    if kind.startswith("journal"):
        assert writes[0][0] == persist.LOG_FILE and writes[-1][0] in persist.SLOTS
    lost, done = copy.deepcopy(base), copy.deepcopy(base)
    if booting:  # the reference boots once; a cut at the last byte of its save means twice
        assert lost.write(wire) == answer
    else:
        lost.pump._restart(lost.pump._clock())
    done.write(wire)
    done.pump._restart(done.pump._clock())
    reboots = {False: lost.pump.model.reboots, True: done.pump.model.reboots}
    expected = {False: _and_a_day_later(lost), True: _and_a_day_later(done)}
    points, size = _cut_points(writes)
    for cut in points:
        host = copy.deepcopy(base)
        host.pump.storage.arm_cut(cut)
        got = host.write(wire)
        landed = cut == size
        if booting:
            assert [m.decode_message(frame).reboots for frame in got] == [reboots[landed]], "cut at byte %d" % cut
        else:
            assert got == [], "%s, cut at byte %d of %d: answered" % (kind, cut, size)
        now = _observe(host)
        clocks = now[:2]
        assert clocks[0] == clocks[1], "%s, cut at byte %d: pump clock %d, model clock %d" % ((kind, cut) + clocks)
        stored = persist.Persistence(host.pump.storage, spec.LOG_CAPACITY)  # what a real boot reads
        body = stored.load()
        log = host.pump.model.log
        assert body == now[2] and loaded_log(stored, log.oldest_index, log.next_index)[1] == [e for _i, e in now[3]], \
            "%s, cut at byte %d: storage lost what the pump holds" % (kind, cut)
        result = _and_a_day_later(host)
        assert result[:2] == expected[landed][:2], "%s, cut at byte %d: not the pump %s the request" % (
            kind, cut, "after" if landed else "before")
        if result[2]:
            assert result[3] > 0, "%s, cut at byte %d: delivery froze" % (kind, cut)
