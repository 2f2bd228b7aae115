"""Virtual time: one big jump equals many small steps; a year costs its events; log paging."""

import time

from hypothesis import given, settings, strategies as st

from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Fault, LogKind, Role

from test_firmware_support import DAY_MS, DAY_S, Host, flex, morphine


def snapshot(host):
    """What a test can observe of the pump, minus link counters that depend on polling."""
    host.authenticate(Role.CLINICIAN)
    counters = host.counters()._replace(requests_executed=0, naks_sent=0)
    return (counters, host.status()._replace(role=0), host.alarms(), tuple(host.log()))


def jump(host, ms):
    host.now += ms
    host._take(host.pump.poll(host.now))


def creep(host, ms, pieces):
    """Advance in the given relative pieces, then the rest."""
    target = host.now + ms
    for piece in pieces:
        if host.now + piece >= target:
            break
        host.now += piece
        host._take(host.pump.poll(host.now))
    host.now = target
    host._take(host.pump.poll(host.now))


schedules = st.lists(st.tuples(st.integers(1, 1439), st.integers(1_000, 6_000)), max_size=5).map(
    lambda steps: [(0, 2_500)] + sorted({start: rate for start, rate in steps}.items()))
commands = st.lists(st.tuples(st.integers(1, 2 * DAY_MS), st.sampled_from(
    ["ptm", "bolus", "suspend", "resume", "fault", "clear", "low"])), min_size=1, max_size=6)


def command(host, name):
    requests = {"ptm": m.PtmBolusRequest(), "bolus": m.ClinicianBolusRequest(1, 700, 5_400),
                "suspend": m.SuspendRequest(), "resume": m.ResumeRequest(),
                "fault": m.TcInjectFaultRequest(Fault.CATHETER_OCCLUSION),
                "clear": m.TcClearFaultRequest(Fault.CATHETER_OCCLUSION),
                "low": m.TcSetReservoirRequest(2_100)}
    host.request(requests[name])


@given(schedules, commands, st.lists(st.integers(1, 7_200_000), min_size=1, max_size=40))
@settings(max_examples=25, deadline=None)
def test_one_jump_equals_many_small_steps(steps, plan, pieces):
    rx = flex(steps, ptm_lockout_min=30, ptm_max_per_24h=6, max_daily_dose_ug=9_000, refill_interval_days=1)
    hosts = []
    for _ in range(2):
        host = Host()
        host.ready(rx)
        hosts.append(host)
    big, small = hosts
    for wait_ms, name in plan:
        jump(big, wait_ms)
        creep(small, wait_ms, pieces)
        command(big, name)
        command(small, name)
    jump(big, 3 * DAY_MS)
    creep(small, 3 * DAY_MS, pieces)
    assert snapshot(big) == snapshot(small)


def test_a_warp_equals_the_same_time_polled():
    warped, polled = Host(), Host()
    for host in (warped, polled):
        host.ready(flex([(0, 2_000), (600, 5_000)]))
        host.call(m.TcSetReservoirRequest(2_500))
    warped.warp(30 * DAY_S)
    polled.advance(30 * DAY_MS)
    a, b = snapshot(warped), snapshot(polled)
    assert a[:3] == b[:3]
    warp_entry = [e for e in a[3] if e.kind == LogKind.TEST_CONTROL and e.code == 0x65]
    assert len(warp_entry) == 1
    assert [e[1:] for e in a[3] if e not in warp_entry] == [e[1:] for e in b[3]]


def test_a_year_costs_its_events_not_its_milliseconds():
    host = Host()
    host.ready(flex([(0, 2_000), (360, 4_000), (720, 2_000), (1_080, 3_000)], refill_interval_days=7))
    host.call(m.TcInjectFaultRequest(Fault.MOTOR_STALL))  # re-announced every 60 s, never acknowledged
    host.call(m.TcSetBatteryRequest(20))
    start = time.perf_counter()
    for _ in range(3):
        host.warp(365 * DAY_S)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, "three warped years took %.2f s" % elapsed
    assert host.status().battery_pct == 0


def test_log_pages_through_a_wrapped_ring():
    host = Host(capacity_ul=100_000)
    host.ready(morphine(), volume_ul=100_000)
    host.warp(600 * DAY_S)  # 600 BASAL entries: the 512-entry ring wraps
    page = host.call(m.ReadLogRequest(0, 12))
    assert page.next_index > 512 and page.oldest_index == page.next_index - 512
    assert page.entries[0].index == page.oldest_index
    entries = host.log()
    assert [e.index for e in entries] == list(range(page.oldest_index, page.next_index))
    assert all(e.kind == LogKind.BASAL and (e.value, e.value2) == (3_000, 150) for e in entries[-500:])
    tail = host.call(m.ReadLogRequest(page.next_index - 3, 12))
    assert [e.index for e in tail.entries] == list(range(page.next_index - 3, page.next_index))
    assert host.call(m.ReadLogRequest(page.next_index + 5, 12)).entries == ()


@given(schedules, st.sampled_from([10_000, 20_000, 7_000]), st.lists(st.integers(1, 3 * 1440), min_size=1, max_size=6))
@settings(max_examples=25, deadline=None)
def test_basal_volume_matches_a_minute_by_minute_reference(steps, conc, checkpoints_min):
    """PUMP_MODEL.md 6.1 computed the slow way: the volume rate is constant within a minute."""
    rx = flex(steps, concentration_ug_per_ml=conc, max_daily_dose_ug=15_000, refill_interval_days=1)
    host = Host()
    host.hello()
    host.authenticate()
    host.refill(20_000, conc=conc)
    soft = [f.limit for f in host.call(m.ValidatePrescriptionRequest(rx)).findings]
    host.program(rx, soft)
    rates = {}
    for start, rate in steps:
        rates[start] = rate * 1000 // conc
    accumulator, rate, minute = 0, rates[0], 0
    for checkpoint in sorted(checkpoints_min):
        while minute < checkpoint:
            rate = rates.get(minute % 1440, rate)
            accumulator += rate * 60_000
            minute += 1
        host.advance(checkpoint * 60_000 - host.now)
        assert host.counters().delivered_ul == accumulator // DAY_MS


def test_tc_get_clock_reads_the_pump_clock_to_the_ms_when_handled():
    """A host on a real clock pins the moment the pump handled its write with TC_GET_CLOCK."""
    host = Host()
    host.now = 5_000
    host.call(m.TcResetRequest(0))  # the pump clock reads 0 at shell ms 5000
    host.now += 1_234
    assert host.call(m.TcGetClockRequest()).clock_ms == 1_234
    both = m.encode_message(m.TcWarpClockRequest(60), 1) + m.encode_message(m.TcGetClockRequest(), 2)
    answers = host.write(both)  # read after a warp in the same write: the warped clock, whole ms
    assert m.decode_message(answers[1]).clock_ms == 61_234
    host.warp(60 * DAY_S)  # past 2**32 ms: the clock is not masked
    host.now += 7
    assert host.call(m.TcGetClockRequest()).clock_ms == 60 * DAY_MS + 61_241
