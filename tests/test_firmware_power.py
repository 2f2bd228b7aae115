"""Power loss: a cut at any byte of any write leaves a consistent pump; reboots keep what they must."""

import pytest

from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import BolusKind, Error, LogKind, Role, TherapyState

from pumpmock.firmware_mock import persist
from pumpmock.firmware_mock.core import Pump
from pumpmock.firmware_mock.eventlog import EventLog
from pumpmock.firmware_mock.storage import FileStorage, PowerCut, RamStorage

from test_firmware_support import DAY_MS, DAY_S, SERIAL, Host, conserved, morphine


def observed(host):
    """Status, therapy counters and log: what must not change across a clean reboot."""
    host.authenticate(Role.CLINICIAN)
    counters = host.counters()._replace(requests_executed=0, naks_sent=0, dedup_hits=0, reboots=0, frames_bad=0)
    entries = [e for e in host.log() if e.kind not in (LogKind.POWER_UP, LogKind.AUTH)]
    return counters, host.status()._replace(role=0), host.alarms(), [e[1:] for e in entries]


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


def test_a_cut_in_the_journal_of_a_full_ring_loses_only_the_oldest_entries():
    storage = RamStorage()
    host = Host(storage=storage, capacity_ul=200_000)
    host.ready(volume_ul=200_000)
    host.warp(520 * DAY_S)  # saved: a full ring of 512 entries on storage
    committed = host.call(m.ReadLogRequest(0, 1))
    assert committed.next_index - committed.oldest_index == 512
    storage.arm_cut(persist.ENTRY_SIZE - 3)  # SUSPEND's entry tears the slot of the oldest one
    assert host.write(m.encode_message(m.SuspendRequest(), 0x6200)) == []
    host.authenticate()
    page = host.call(m.ReadLogRequest(0, 1))
    assert page.next_index == committed.next_index + 2  # POWER_UP, AUTH: the SUSPEND never happened
    entries = host.log()
    assert [e.index for e in entries] == list(range(page.oldest_index, page.next_index))
    assert [e.kind for e in entries[-2:]] == [LogKind.POWER_UP, LogKind.AUTH]
    assert host.status().therapy_state == TherapyState.RUNNING
    assert conserved(host)


def test_journal_entries_that_overwrote_committed_ones_cost_only_the_oldest():
    storage = RamStorage()
    log = EventLog(8)
    saver = persist.Persistence(storage, 8)
    for i in range(10):
        log.append(i, 2, 0, i, i)
    saver.save(b"committed", log)
    for i in range(3):
        log.append(100 + i, 9)
    storage.arm_cut(2 * persist.ENTRY_SIZE + 5)  # two new entries land, the third tears
    with pytest.raises(PowerCut):
        saver.save(b"never", log)
    loaded = persist.Persistence(storage, 8)
    assert loaded.load() == b"committed"
    oldest, entries = loaded.load_log(2, 10)
    assert oldest == 5  # the slots of 2 and 3 hold the uncommitted 10 and 11; 4's slot is torn
    assert entries == [(i, 2, 0, i, i) for i in range(5, 10)]


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
