"""Delivery to the µL and the µg: basal (simple and flex), boluses, suspend/resume, refills, conservation."""

import pytest
from hypothesis import given, settings, strategies as st

from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm, BolusKind, Drug, Error, Fault, Limit, LogKind, Role, TherapyState

from test_firmware_support import DAY_MS, DAY_S, Host, conserved, flex, morphine


def ready(rx=None, volume_ul=20_000):
    host = Host()
    host.ready(rx, volume_ul)
    return host


def delivered(host):
    counters = host.counters()
    return counters.delivered_ug, counters.delivered_ul


def test_simple_basal_moves_each_microlitre_at_its_exact_ms():
    host = ready()  # 3000 µg/day at 20 mg/mL: 150 µL/day, one µL every 576 000 ms
    host.advance(575_999)
    assert delivered(host) == (0, 0)
    host.advance(1)
    assert delivered(host) == (20, 1)
    host.advance(DAY_MS - 576_000)
    assert delivered(host) == (3_000, 150)
    status = host.status()
    assert (status.reservoir_ul, status.delivered_24h_ug, status.basal_rate_ul_per_day) == (19_850, 3_000, 150)
    assert conserved(host)


def test_flex_basal_follows_the_schedule():
    rx = flex([(0, 2_000), (480, 4_000), (1_200, 2_000)])  # 100, 200, 100 µL/day
    host = ready(rx)
    host.advance(8 * 3_600_000)
    assert delivered(host)[1] == 100 * 8 // 24  # 33
    assert host.status().basal_rate_ul_per_day == 200
    host.advance(12 * 3_600_000)
    assert delivered(host)[1] == (100 * 480 + 200 * 720) // 1440  # 133
    host.advance(4 * 3_600_000)
    assert delivered(host) == (3_000, 150)
    host.advance(6 * DAY_MS)
    assert delivered(host) == (21_000, 1_050)


def test_a_refill_at_another_concentration_doses_by_the_reservoir():
    host = ready()
    host.call(m.RefillRequest(Drug.MORPHINE, 10_000, 20_000))  # the prescription still says 20 mg/mL
    host.warp(DAY_S)
    assert delivered(host) == (1_500, 150)  # same volume, half the dose: the hazard the oracles look for
    basal = [e for e in host.log() if e.kind == LogKind.BASAL]
    assert [(e.value, e.value2) for e in basal] == [(1_500, 150)]


def test_clinician_bolus():
    host = ready()
    host.advance(1_000)
    answer = host.call(m.ClinicianBolusRequest(BolusKind.BRIDGE, 1_000, 600))
    assert (answer.volume_ul, answer.ends_s) == (50, 601)
    host.advance(300_000)
    status = host.status()
    assert status.bolus_remaining_ug == 500
    nak = host.refused(m.ClinicianBolusRequest(BolusKind.CLINICIAN, 10, 600))
    assert nak.code == Error.BUSY
    host.advance(300_000)
    assert host.status().bolus_remaining_ug == 0
    boluses = [(e.clock_s, e.code, e.value, e.value2) for e in host.log() if e.kind == LogKind.BOLUS]
    assert boluses == [(601, BolusKind.BRIDGE, 1_000, 50)]
    assert host.counters().boluses_delivered == 1
    assert conserved(host)


@pytest.mark.parametrize("duration_s, bound", [(59, 60), (86_401, 86_400)])
def test_clinician_bolus_duration_range(duration_s, bound):
    nak = ready().refused(m.ClinicianBolusRequest(BolusKind.CLINICIAN, 100, duration_s))
    assert (nak.code, nak.subject, nak.limit_value, nak.actual_value) == \
        (Error.HARD_LIMIT, Limit.BOLUS_DURATION, bound, duration_s)


def test_clinician_bolus_refusals():
    host = Host()
    host.authenticate()
    assert host.refused(m.ClinicianBolusRequest(1, 100, 600)).code == Error.NOT_PROGRAMMED
    host = ready()
    host.advance(DAY_MS)  # 3000 µg of basal in the rolling window
    nak = host.refused(m.ClinicianBolusRequest(1, 2_001, 600))
    assert (nak.code, nak.subject, nak.limit_value, nak.actual_value) == \
        (Error.DAILY_MAX_REACHED, Limit.DAILY_MAX_24H, 5_000, 5_001)
    assert Alarm.DAILY_MAX_REACHED in host.status().active_alarms
    host.program(morphine(max_daily_dose_ug=9_000))
    host.call(m.TcSetReservoirRequest(200))
    nak = host.refused(m.ClinicianBolusRequest(1, 5_000, 600))
    assert (nak.code, nak.subject, nak.limit_value, nak.actual_value) == \
        (Error.RESERVOIR_INSUFFICIENT, Limit.RESERVOIR_VOLUME, 200, 250)
    host.call(m.SuspendRequest())
    assert host.refused(m.ClinicianBolusRequest(1, 100, 600)).code == Error.INVALID_STATE
    host.call(m.TcInjectFaultRequest(Fault.MOTOR_STALL))
    nak = host.refused(m.ClinicianBolusRequest(1, 100, 600))
    assert (nak.code, nak.subject) == (Error.THERAPY_STOPPED, Alarm.MOTOR_STALL)


def patient(host):
    host.authenticate(Role.PATIENT)
    return host


def test_ptm_bolus_lockout_activations_and_daily_max():
    host = patient(ready())
    host.advance(1_000)
    answer = host.call(m.PtmBolusRequest())
    assert (answer.dose_ug, answer.activations_24h, answer.next_allowed_s) == (200, 1, 1 + 7_200)
    host.advance(3_600_000)
    nak = host.refused(m.PtmBolusRequest())
    assert (nak.code, nak.subject, nak.limit_value, nak.actual_value) == \
        (Error.LOCKOUT_ACTIVE, Limit.PTM_LOCKOUT, 7_200, 3_600)
    assert Alarm.PTM_LOCKOUT in host.status().active_alarms
    host.advance(3_600_000)
    assert host.call(m.PtmBolusRequest()).activations_24h == 2
    host.advance(7_200_000)
    assert host.call(m.PtmBolusRequest()).activations_24h == 3
    host.advance(7_200_000)
    nak = host.refused(m.PtmBolusRequest())
    assert (nak.code, nak.limit_value, nak.actual_value) == (Error.MAX_ACTIVATIONS, 3, 3)
    refused = [(e.code, e.value, e.value2) for e in patient_log(host) if e.kind == LogKind.PTM_REFUSED]
    assert refused == [(Error.LOCKOUT_ACTIVE, 7_200, 3_600), (Error.MAX_ACTIVATIONS, 3, 3)]
    boluses = [(e.code, e.value, e.value2) for e in patient_log(host) if e.kind == LogKind.BOLUS]
    assert boluses == [(4, 200, 10)] * 3


def patient_log(host):
    host.authenticate(Role.CLINICIAN)
    entries = host.log()
    host.authenticate(Role.PATIENT)
    return entries


def test_ptm_bolus_runs_at_the_maximum_rate():
    host = patient(ready())
    host.call(m.PtmBolusRequest())  # 10 µL at 24 000 µL/day: 36 000 ms
    host.advance(35_999)
    assert host.status().bolus_remaining_ug > 0
    host.advance(1)
    assert host.status().bolus_remaining_ug == 0
    assert delivered(host) == (200, 10)


def test_ptm_refusals():
    host = patient(ready(morphine(ptm_dose_ug=0, ptm_lockout_min=0, ptm_max_per_24h=0)))
    assert host.refused(m.PtmBolusRequest()).code == Error.PTM_DISABLED
    host = patient(ready(morphine(max_daily_dose_ug=3_100)))
    host.advance(DAY_MS // 2)  # 1500 µg delivered: 1500 + 200 fits under 3100
    assert host.call(m.PtmBolusRequest()).dose_ug == 200


def test_ptm_daily_max_counts_the_rolling_window():
    host = patient(ready(morphine(max_daily_dose_ug=3_150, ptm_lockout_min=10, ptm_max_per_24h=10)))
    host.advance(DAY_MS)  # 3000 µg basal in the window
    nak = host.refused(m.PtmBolusRequest())
    assert (nak.code, nak.subject, nak.limit_value, nak.actual_value) == \
        (Error.DAILY_MAX_REACHED, Limit.DAILY_MAX_24H, 3_150, 3_200)
    assert Alarm.DAILY_MAX_REACHED in host.status().active_alarms


def test_suspend_and_resume():
    host = ready()
    host.call(m.ClinicianBolusRequest(BolusKind.CLINICIAN, 1_000, 3_600))
    host.advance(1_800_000)
    assert host.call(m.SuspendRequest()).therapy_state == TherapyState.SUSPENDED
    assert host.refused(m.SuspendRequest()).code == Error.INVALID_STATE
    before = delivered(host)
    host.advance(DAY_MS)
    assert delivered(host) == before
    assert host.status().bolus_remaining_ug == 0  # suspending ended the bolus
    assert host.call(m.ResumeRequest()).therapy_state == TherapyState.RUNNING
    assert host.refused(m.ResumeRequest()).code == Error.INVALID_STATE
    bolus = [(e.value, e.value2) for e in host.log() if e.kind == LogKind.BOLUS]
    assert bolus == [(500, 25)]
    kinds = [e.kind for e in host.log() if e.kind in (LogKind.SUSPEND, LogKind.RESUME)]
    assert kinds == [LogKind.SUSPEND, LogKind.RESUME]


def test_suspend_needs_a_prescription():
    host = Host()
    host.authenticate()
    assert host.refused(m.SuspendRequest()).code == Error.NOT_PROGRAMMED
    assert host.refused(m.ResumeRequest()).code == Error.NOT_PROGRAMMED


def test_refill_checks_and_withdrawal():
    host = ready()
    nak = host.refused(m.RefillRequest(Drug.MORPHINE, 20_001, 1_000))
    assert (nak.code, nak.subject, nak.limit_value, nak.actual_value) == \
        (Error.HARD_LIMIT, Limit.CONCENTRATION_MAX, 20_000, 20_001)
    nak = host.refused(m.RefillRequest(Drug.BACLOFEN, 2_000, 1_000))
    assert (nak.code, nak.subject, nak.limit_value, nak.actual_value) == \
        (Error.HARD_LIMIT, Limit.DRUG_MISMATCH, Drug.MORPHINE, Drug.BACLOFEN)
    nak = host.refused(m.RefillRequest(Drug.MORPHINE, 20_000, 20_001))
    assert (nak.code, nak.subject, nak.limit_value, nak.actual_value) == \
        (Error.HARD_LIMIT, Limit.RESERVOIR_CAPACITY, 20_000, 20_001)
    host.warp(DAY_S)
    answer = host.refill(18_000)
    assert (answer.reservoir_ul, answer.days_to_empty) == (18_000, 120)
    counters = host.counters()
    assert (counters.filled_ul, counters.removed_ul, counters.delivered_ul) == (38_000, 19_850, 150)
    host.call(m.ClinicianBolusRequest(1, 100, 600))
    assert host.refused(m.RefillRequest(Drug.MORPHINE, 20_000, 1_000)).code == Error.BUSY


def test_days_to_low_and_to_empty():
    host = ready()
    status = host.status()
    assert (status.days_to_low_reservoir, status.days_to_empty) == ((20_000 - 2_000) // 150, 20_000 // 150)
    assert Host().status().days_to_empty == 65_535


OPERATIONS = st.one_of(
    st.tuples(st.just("warp"), st.integers(1, 3 * DAY_S)),
    st.tuples(st.just("advance"), st.integers(1, 4 * 3_600_000)),
    st.tuples(st.just("bolus"), st.integers(1, 2_000), st.integers(60, 7_200)),
    st.tuples(st.just("ptm")),
    st.tuples(st.just("refill"), st.integers(1, 20_000), st.sampled_from([10_000, 20_000])),
    st.tuples(st.just("set_reservoir"), st.integers(0, 20_000)),
    st.tuples(st.just("suspend")), st.tuples(st.just("resume")),
    st.tuples(st.just("fault"), st.sampled_from(list(Fault))),
    st.tuples(st.just("clear"), st.sampled_from(list(Fault))),
    st.tuples(st.just("ack")),
    st.tuples(st.just("program"), st.integers(1_000, 9_000)),
)


def apply(host, operation):
    """Run one random operation; refusals are fine, crashes and broken invariants are not."""
    name = operation[0]
    requests = {
        "bolus": lambda: m.ClinicianBolusRequest(BolusKind.CLINICIAN, operation[1], operation[2]),
        "ptm": lambda: m.PtmBolusRequest(),
        "refill": lambda: m.RefillRequest(Drug.MORPHINE, operation[2], operation[1]),
        "set_reservoir": lambda: m.TcSetReservoirRequest(operation[1]),
        "suspend": lambda: m.SuspendRequest(), "resume": lambda: m.ResumeRequest(),
        "fault": lambda: m.TcInjectFaultRequest(operation[1]),
        "clear": lambda: m.TcClearFaultRequest(operation[1]),
        "program": lambda: m.ProgramPrescriptionRequest(
            (Limit.RESERVOIR_DURATION, Limit.CONCENTRATION_MISMATCH),
            morphine(daily_dose_ug=operation[1], max_daily_dose_ug=9_500, refill_interval_days=1)),
    }
    if name == "warp":
        host.warp(operation[1])
    elif name == "advance":
        host.advance(operation[1])
    elif name == "ack":
        for alarm in host.alarms():
            host.request(m.AckAlarmRequest(alarm.code, alarm.instance))
    else:
        host.request(requests[name]())


@given(st.lists(OPERATIONS, min_size=1, max_size=25))
@settings(max_examples=60, deadline=None)
def test_volume_is_conserved_through_any_commands(operations):
    host = ready()
    for operation in operations:
        apply(host, operation)
        counters = host.counters()
        status = host.status()
        assert counters.filled_ul == counters.delivered_ul + counters.removed_ul + status.reservoir_ul
        assert 0 <= status.reservoir_ul <= status.capacity_ul
        assert status.therapy_state != TherapyState.RUNNING or not (
            set(status.active_alarms) & {Alarm.MOTOR_STALL, Alarm.EMPTY_RESERVOIR, Alarm.END_OF_SERVICE,
                                         Alarm.MEMORY_ERROR, Alarm.CATHETER_OCCLUSION})
