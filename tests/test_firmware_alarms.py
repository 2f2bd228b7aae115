"""Alarms: raised as events, re-sent until ACKed, re-announced until acknowledged, latching, clearing."""

import pytest

from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm, AlarmState, BatteryState, Error, Fault, LogKind, Priority, Role, TherapyState
from pumpmock.protocol.framing import ACK, encode_frame

from pumpmock.firmware_mock import spec

from test_firmware_support import DAY_MS, Host

BATTERY_FULL_MS = spec.BATTERY_LIFE_DAYS * DAY_MS


def ready(**options):
    host = Host(**options)
    host.ready()
    return host


@pytest.mark.parametrize("fault, alarm", [(Fault.MOTOR_STALL, Alarm.MOTOR_STALL),
                                          (Fault.CATHETER_OCCLUSION, Alarm.CATHETER_OCCLUSION),
                                          (Fault.MEMORY_ERROR, Alarm.MEMORY_ERROR)])
def test_latching_fault_alarm_lifecycle(fault, alarm):
    host = ready()
    assert host.call(m.TcInjectFaultRequest(fault)).alarm == alarm
    raised = host.raised(alarm)
    assert len(raised) == 1
    first = raised[0]
    assert (first.priority, first.latching, first.state, first.announce_count) == \
        (Priority.HIGH, 1, AlarmState.ACTIVE, 1)
    assert host.status().therapy_state == TherapyState.STOPPED
    host.advance(59_999)
    assert len(host.raised(alarm)) == 1
    host.advance(1)
    again = host.raised(alarm)[-1]
    assert (again.instance, again.announce_count) == (first.instance, 2)
    host.call(m.TcClearFaultRequest(fault))
    [entry] = host.alarms()
    assert (entry.code, entry.state, entry.announce_count) == (alarm, AlarmState.LATCHED, 2)
    assert host.status().therapy_state == TherapyState.STOPPED  # latched: still stops delivery
    assert host.call(m.AckAlarmRequest(alarm, first.instance)).remaining == 0
    assert host.cleared(alarm)[-1].instance == first.instance
    assert host.status().therapy_state == TherapyState.RUNNING
    host.advance(600_000)
    assert len(host.raised(alarm)) == 2
    log = [(e.kind, e.code, e.value) for e in host.log() if e.kind in
           (LogKind.ALARM_RAISED, LogKind.ALARM_ACKED, LogKind.ALARM_CLEARED)]
    assert log == [(LogKind.ALARM_RAISED, alarm, first.instance), (LogKind.ALARM_ACKED, alarm, first.instance),
                   (LogKind.ALARM_CLEARED, alarm, first.instance)]


def test_acknowledged_while_active_leaves_when_the_cause_ends():
    host = ready()
    host.call(m.TcInjectFaultRequest(Fault.MOTOR_STALL))
    instance = host.raised()[0].instance
    assert host.call(m.AckAlarmRequest(Alarm.MOTOR_STALL, instance)).remaining == 1
    host.advance(3_600_000)
    assert len(host.raised()) == 1  # no re-announcement once acknowledged
    [entry] = host.alarms()
    assert (entry.state, entry.announce_count) == (AlarmState.ACTIVE, 1)
    assert host.refused(m.AckAlarmRequest(Alarm.MOTOR_STALL, instance)).code == Error.NO_SUCH_ALARM
    host.call(m.TcClearFaultRequest(Fault.MOTOR_STALL))
    assert host.alarms() == () and len(host.cleared()) == 1


def test_no_such_alarm():
    host = ready()
    nak = host.refused(m.AckAlarmRequest(Alarm.MOTOR_STALL, 1))
    assert (nak.code, nak.subject, nak.actual_value) == (Error.NO_SUCH_ALARM, Alarm.MOTOR_STALL, 1)
    host.call(m.TcInjectFaultRequest(Fault.MOTOR_STALL))
    assert host.refused(m.AckAlarmRequest(Alarm.MOTOR_STALL, 99)).code == Error.NO_SUCH_ALARM


def test_low_and_empty_reservoir_at_their_exact_ms():
    host = ready()
    host.call(m.TcSetReservoirRequest(2_003))  # 150 µL/day: one µL every 576 000 ms
    host.advance(3 * 576_000 - 1)
    assert Alarm.LOW_RESERVOIR not in host.status().active_alarms
    host.advance(1)
    low = host.raised(Alarm.LOW_RESERVOIR)
    assert len(low) == 1 and (low[0].priority, low[0].latching) == (Priority.MEDIUM, 0)
    host.call(m.TcSetReservoirRequest(2))
    host.advance(2 * 576_000)
    [empty] = host.raised(Alarm.EMPTY_RESERVOIR)
    status = host.status()
    assert status.reservoir_ul == 0 and status.therapy_state == TherapyState.STOPPED
    host.advance(600_000)
    assert host.raised(Alarm.LOW_RESERVOIR)[-1].announce_count == 1 + (2 * 576 + 600) // 600  # every 600 s
    host.refill(20_000)
    assert {e.code for e in host.cleared()} == {Alarm.LOW_RESERVOIR, Alarm.EMPTY_RESERVOIR}
    assert host.status().therapy_state == TherapyState.RUNNING
    assert host.alarms() == ()


def test_battery_drains_to_eri_and_eos_at_exact_ms():
    host = ready()
    host.call(m.TcSetBatteryRequest(11))
    assert host.status().battery_pct == 11
    host.advance(BATTERY_FULL_MS // 100 - 1)
    assert host.status().battery_state == BatteryState.OK
    host.advance(1)
    status = host.status()
    assert (status.battery_state, status.battery_pct) == (BatteryState.ERI, 10)
    assert host.raised(Alarm.ELECTIVE_REPLACEMENT)
    host.call(m.TcSetBatteryRequest(1))
    host.warp(BATTERY_FULL_MS // 100 // 1000)
    status = host.status()
    assert (status.battery_state, status.battery_pct, status.therapy_state) == \
        (BatteryState.EOS, 0, TherapyState.STOPPED)
    [eos] = host.raised(Alarm.END_OF_SERVICE)
    host.call(m.TcSetBatteryRequest(100))
    assert [a.state for a in host.alarms() if a.code == Alarm.END_OF_SERVICE] == [AlarmState.LATCHED]
    host.call(m.AckAlarmRequest(Alarm.END_OF_SERVICE, eos.instance))
    assert host.status().therapy_state == TherapyState.RUNNING


def test_low_battery_fault():
    host = ready()
    assert host.call(m.TcInjectFaultRequest(Fault.LOW_BATTERY)).alarm == Alarm.ELECTIVE_REPLACEMENT
    assert host.status().battery_pct == spec.BATTERY_ERI_PCT
    host.call(m.TcClearFaultRequest(Fault.LOW_BATTERY))
    assert host.status().battery_pct == 100 and host.cleared(Alarm.ELECTIVE_REPLACEMENT)


def test_informational_alarms_clear_when_the_refusal_would_not_repeat():
    host = ready()
    host.authenticate(Role.PATIENT)
    host.call(m.PtmBolusRequest())
    host.advance(60_000)
    host.refused(m.PtmBolusRequest())
    [lockout] = host.raised(Alarm.PTM_LOCKOUT)
    assert (lockout.priority, lockout.latching) == (Priority.LOW, 0)
    host.refused(m.PtmBolusRequest())
    assert len(host.raised(Alarm.PTM_LOCKOUT)) == 1  # the same instance stands
    host.advance(7_200_000 - 60_000 - 1)
    assert not host.cleared(Alarm.PTM_LOCKOUT)
    host.advance(1)
    [cleared] = host.cleared(Alarm.PTM_LOCKOUT)
    assert (cleared.instance, cleared.cleared_s) == (lockout.instance, 7_200)


def test_daily_max_alarm_lasts_until_the_window_moves():
    host = ready()
    host.advance(DAY_MS + 1_000)
    host.refused(m.ClinicianBolusRequest(1, 4_000, 600))
    assert host.raised(Alarm.DAILY_MAX_REACHED)
    host.advance(3_600_000 - 1_001)
    assert not host.cleared(Alarm.DAILY_MAX_REACHED)
    host.advance(1)
    assert host.cleared(Alarm.DAILY_MAX_REACHED)[0].cleared_s == 25 * 3_600


def test_unacknowledged_event_frames_are_re_sent_then_given_up():
    host = ready(auto_ack=False)
    host.call(m.TcInjectFaultRequest(Fault.MOTOR_STALL))
    seq = host.event_frames[-1][0]
    deadline = host.pump.next_deadline_ms()
    assert deadline == host.now + spec.EVENT_RETRY_MS
    host.advance(spec.EVENT_RETRY_MS * (spec.EVENT_MAX_RETRIES + 4))
    copies = [s for s, e in host.event_frames if s == seq]
    assert len(copies) == 1 + spec.EVENT_MAX_RETRIES


def test_an_ack_stops_the_re_sending():
    host = ready(auto_ack=False)
    host.call(m.TcInjectFaultRequest(Fault.MOTOR_STALL))
    seq = host.event_frames[-1][0]
    host.advance(spec.EVENT_RETRY_MS)
    host.write(encode_frame(ACK, spec.ID_ALARM_RAISED, seq))
    host.advance(10 * spec.EVENT_RETRY_MS)
    assert len([s for s, e in host.event_frames if s == seq]) == 2


def test_re_announcements_collapse_over_a_jump():
    host = ready()
    host.call(m.TcInjectFaultRequest(Fault.MOTOR_STALL))
    host.warp(3_600)
    announced = [e.announce_count for e in host.raised(Alarm.MOTOR_STALL)]
    assert announced == [1, 61]
    assert host.alarms()[0].announce_count == 61
    host.warp(10 * 3_600)
    assert host.alarms()[0].announce_count == 255  # the wire saturates; the instance stays the same


def test_events_have_their_own_sequence_numbers():
    host = ready()
    host.call(m.TcInjectFaultRequest(Fault.MOTOR_STALL))
    host.call(m.TcInjectFaultRequest(Fault.CATHETER_OCCLUSION))
    seqs = [s for s, e in host.event_frames]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_next_deadline_names_the_re_announcement():
    host = ready()
    host.call(m.TcInjectFaultRequest(Fault.MOTOR_STALL))
    assert host.pump.next_deadline_ms() == host.now + 60_000
