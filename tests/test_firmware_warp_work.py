"""One input's work is bounded: the longest warp costs the days the pump delivers, not the span.

TC_WARP_CLOCK(0xFFFFFFFF) is 136 years; before, the model stepped through its ~49,700 midnights
one by one (2 s of CPU on CPython, far more on a board, the loop stalled). An idle pump's
midnights now cost nothing once an event settled its alarms (model.advance). Counted in model
steps, not time; and the same state, dose for dose and log entry for log entry, as the model
that steps every midnight.
"""

import pytest

from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import BolusKind, Fault, Role

from pumpmock.firmware_mock import spec

from test_firmware_support import DAY_S, Host, flex, morphine

MAX_WARP_S = 0xFFFFFFFF


def counting(host):
    """Count the model's steps (one per event it handles) from now on: a list of one int."""
    model = host.pump.model
    steps = [0]
    handle = model._events_at

    def counted(t):
        steps[0] += 1
        handle(t)

    model._events_at = counted
    return steps


def stepping_every_midnight(host):
    """The model as it was: every midnight is a step (the reference for exactness)."""
    host.pump.model._idle = lambda: False


def _fresh(host):
    host.hello()


def _running(host):
    host.ready(morphine(daily_dose_ug=3_000))


def _flex_with_a_bolus(host):
    host.ready(flex([(0, 2_000), (360, 5_000), (1_200, 2_500)]))
    host.call(m.ClinicianBolusRequest(BolusKind.CLINICIAN, 400, 7_200))


def _suspended(host):
    host.ready()
    host.call(m.SuspendRequest())


def _stopped_by_a_fault(host):
    host.ready()
    host.call(m.TcInjectFaultRequest(Fault.MOTOR_STALL))


def _ptm_lockout_and_daily_max(host):
    host.ready(morphine(daily_dose_ug=3_000, max_daily_dose_ug=3_500, ptm_dose_ug=400))
    host.authenticate(Role.PATIENT)
    host.call(m.PtmBolusRequest())
    host.authenticate(Role.CLINICIAN)
    host.call(m.SuspendRequest())


def _big_reservoir_slow_rate(host):
    """The most delivering days a pump can have: 200 mL at the lowest rate the limits allow."""
    host.hello()
    host.authenticate()
    host.refill(200_000)
    host.program(morphine(daily_dose_ug=spec.RATE_MIN_UL_PER_DAY * 20, refill_interval_days=1))


SETUPS = {"fresh": _fresh, "running": _running, "flex with a bolus": _flex_with_a_bolus,
          "suspended": _suspended, "stopped by a fault": _stopped_by_a_fault,
          "ptm lockout and daily max": _ptm_lockout_and_daily_max,
          "200 mL at the lowest rate": _big_reservoir_slow_rate}


def pump_for(setup):
    host = Host(capacity_ul=200_000) if setup == "200 mL at the lowest rate" else Host()
    SETUPS[setup](host)
    return host


def delivering_days(host):
    """Days the reservoir lasts at the programmed basal volume (0 when nothing delivers)."""
    model = host.pump.model
    if not model.delivering() or model.daily_volume_ul == 0:
        return 0
    return model.reservoir_ul // model.daily_volume_ul + 1


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_the_longest_warp_costs_the_delivering_days_not_the_span(setup):
    host = pump_for(setup)
    days = delivering_days(host)
    steps = counting(host)
    host.warp(MAX_WARP_S)
    # A step per delivering day, plus the few moments where something changes (the bolus end,
    # the low and empty reservoir, ERI, end of service, an informational alarm ending).
    assert steps[0] <= days + 12, "%s: %d model steps for %d delivering days" % (setup, steps[0], days)
    assert host.status().clock_s > MAX_WARP_S - 1  # the warp itself happened


def test_the_bound_is_not_trivial():
    """Without the idle fast path the same warp takes a step per midnight: the count sees it."""
    host = pump_for("fresh")
    stepping_every_midnight(host)
    steps = counting(host)
    host.warp(3_000 * DAY_S)
    assert steps[0] >= 3_000


def observed(host):
    pump = host.pump
    log = pump.model.log
    return pump._body(), [log.entry(i) for i in range(log.oldest_index, log.next_index)], log.next_index


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_a_long_warp_gives_the_state_of_stepping_every_midnight(setup):
    fast, slow = pump_for(setup), pump_for(setup)
    stepping_every_midnight(slow)
    for host in (fast, slow):
        host.warp(400 * DAY_S + 12_345)
        host.call(m.TcSetBatteryRequest(50))  # a second life: delivery and alarms again
        host.authenticate()
        if host.status().drug:
            host.refill(1_000)
        host.warp(3_000 * DAY_S)
        host.call(m.TcPowerLossRequest(0))  # the reboot replays from the last save
        host.hello()
    assert observed(fast) == observed(slow)
