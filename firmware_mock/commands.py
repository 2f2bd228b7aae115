"""What the pump does for each therapy and test-control request, on the model, at its current ms.

Each function checks in a fixed order, raises Refusal for the first check that fails, and
otherwise changes the model and returns the response fields. The model has already been
advanced to the request's moment (model.clock_ms).
"""

from . import spec
from . import therapy
from .errors import Refusal
from .model import DAY_MS, MINUTE_MS, HOUR_MS, PTM_BOLUS_KIND

_FAULT_ALARM = {spec.FAULT_MOTOR_STALL: spec.AL_MOTOR_STALL,
                spec.FAULT_CATHETER_OCCLUSION: spec.AL_CATHETER_OCCLUSION,
                spec.FAULT_MEMORY_ERROR: spec.AL_MEMORY_ERROR,
                spec.FAULT_LOW_BATTERY: spec.AL_ELECTIVE_REPLACEMENT}


def _ceil_s(ms):
    return (ms + 999) // 1000


def _days_to_empty(model):
    return therapy.days_of(model.reservoir_ul, model.daily_volume_ul)


# ---- prescriptions -----------------------------------------------------------------------------
def validate(model, rx):
    return therapy.findings(rx, model.drug, model.conc, model.reservoir_ul)


def program(model, overrides, rx):
    """PROGRAM_PRESCRIPTION: (new version, the soft findings it was programmed with)."""
    t = model.clock_ms
    soft = therapy.check_program(validate(model, rx), overrides)
    model.log_basal(t)  # basal moved under the old prescription gets its own entry
    version = (model.rx_version + 1) & 0xFFFF
    model.set_prescription(rx, version)
    model.suspended = False
    model.log_entry(t, spec.LOG_PROGRAM, rx["drug"], version, therapy.basal_daily_dose_ug(rx))
    model.refresh(t)
    return version, soft


# ---- reservoir ---------------------------------------------------------------------------------
def refill(model, drug, conc, volume_ul):
    t = model.clock_ms
    max_conc = spec.DRUGS[drug][0]
    if conc > max_conc:
        raise Refusal(spec.E_HARD_LIMIT, spec.LIM_CONCENTRATION_MAX, max_conc, conc)
    if model.rx is not None and model.rx["drug"] != drug:
        raise Refusal(spec.E_HARD_LIMIT, spec.LIM_DRUG_MISMATCH, model.rx["drug"], drug)
    if volume_ul > model.capacity_ul:
        raise Refusal(spec.E_HARD_LIMIT, spec.LIM_RESERVOIR_CAPACITY, model.capacity_ul, volume_ul)
    if model.bolus is not None:
        raise Refusal(spec.E_BUSY)
    model.removed_ul += model.reservoir_ul
    model.filled_ul += volume_ul
    model.reservoir_ul = volume_ul
    model.drug = drug
    model.conc = conc
    model.log_entry(t, spec.LOG_REFILL, drug, conc, volume_ul)
    model.refresh(t)
    return model.reservoir_ul, _days_to_empty(model)


# ---- boluses -----------------------------------------------------------------------------------
def _check_can_deliver(model):
    if model.rx is None:
        raise Refusal(spec.E_NOT_PROGRAMMED)


def _check_running(model):
    stopping = model.alarms.stopping()
    if stopping:
        raise Refusal(spec.E_THERAPY_STOPPED, stopping)
    if model.suspended:
        raise Refusal(spec.E_INVALID_STATE, 0, spec.STATE_RUNNING, spec.STATE_SUSPENDED)


def _check_daily_max(model, dose_ug):
    t = model.clock_ms
    maximum = model.rx["max_daily_dose_ug"]
    reach = model.delivered_24h_ng(t) // 1000 + dose_ug
    if reach > maximum:
        until = (t // HOUR_MS + 1) * HOUR_MS  # the rolling window next moves on the hour
        if until > model.daily_max_until_ms:
            model.daily_max_until_ms = until
        model.refresh(t)
        raise Refusal(spec.E_DAILY_MAX_REACHED, spec.LIM_DAILY_MAX_24H, maximum, reach)


def _check_reservoir(model, volume_ul):
    if volume_ul > model.reservoir_ul:
        raise Refusal(spec.E_RESERVOIR_INSUFFICIENT, spec.LIM_RESERVOIR_VOLUME, model.reservoir_ul, volume_ul)


def clinician_bolus(model, kind, dose_ug, duration_s):
    """CLINICIAN_BOLUS: (volume µL, pump clock s when it ends)."""
    t = model.clock_ms
    _check_can_deliver(model)
    if duration_s < spec.BOLUS_DURATION_MIN_S:
        raise Refusal(spec.E_HARD_LIMIT, spec.LIM_BOLUS_DURATION, spec.BOLUS_DURATION_MIN_S, duration_s)
    if duration_s > spec.BOLUS_DURATION_MAX_S:
        raise Refusal(spec.E_HARD_LIMIT, spec.LIM_BOLUS_DURATION, spec.BOLUS_DURATION_MAX_S, duration_s)
    _check_running(model)
    _check_daily_max(model, dose_ug)
    if model.bolus is not None:
        raise Refusal(spec.E_BUSY)
    volume_ul = therapy.volume_rate_ul_per_day(dose_ug, model.rx["concentration_ug_per_ml"])
    _check_reservoir(model, volume_ul)
    model.start_bolus(kind, dose_ug, volume_ul, t, duration_s * 1000)
    return volume_ul, _ceil_s(t + duration_s * 1000)


def _ptm_refused(model, refusal):
    model.log_entry(model.clock_ms, spec.LOG_PTM_REFUSED, refusal.code, refusal.limit_value,
                    refusal.actual_value)
    return refusal


def ptm_bolus(model):
    """PTM_BOLUS: (dose µg, activations in the rolling 24 h, clock s when the lockout ends).

    Every refusal is logged as PTM_REFUSED; lockout and activation refusals raise PTM_LOCKOUT."""
    try:
        return _ptm_bolus(model)
    except Refusal as refusal:
        raise _ptm_refused(model, refusal)


def _ptm_bolus(model):
    t = model.clock_ms
    _check_can_deliver(model)
    _check_running(model)
    rx = model.rx
    dose_ug = rx["ptm_dose_ug"]
    if dose_ug == 0:
        raise Refusal(spec.E_PTM_DISABLED)
    recent = [at for at in model.ptm_times if t - at < DAY_MS]
    model.ptm_times = recent
    lockout_ms = rx["ptm_lockout_min"] * MINUTE_MS
    if recent and t < recent[-1] + lockout_ms:
        _informational_lockout(model, recent[-1] + lockout_ms)
        raise Refusal(spec.E_LOCKOUT_ACTIVE, spec.LIM_PTM_LOCKOUT, lockout_ms // 1000,
                      _ceil_s(recent[-1] + lockout_ms - t))
    if len(recent) >= rx["ptm_max_per_24h"]:
        _informational_lockout(model, recent[len(recent) - rx["ptm_max_per_24h"]] + DAY_MS)
        raise Refusal(spec.E_MAX_ACTIVATIONS, spec.LIM_PTM_ACTIVATIONS, rx["ptm_max_per_24h"], len(recent))
    _check_daily_max(model, dose_ug)
    if model.bolus is not None:
        raise Refusal(spec.E_BUSY)
    volume_ul = therapy.ptm_volume_ul(rx)
    _check_reservoir(model, volume_ul)
    recent.append(t)
    # A PTM bolus runs at the pump's maximum rate.
    duration_ms = (volume_ul * DAY_MS + spec.RATE_MAX_UL_PER_DAY - 1) // spec.RATE_MAX_UL_PER_DAY
    model.start_bolus(PTM_BOLUS_KIND, dose_ug, volume_ul, t, duration_ms)
    return dose_ug, len(recent), _ceil_s(t + lockout_ms)


def _informational_lockout(model, until_ms):
    if until_ms > model.ptm_lockout_until_ms:
        model.ptm_lockout_until_ms = until_ms
    model.refresh(model.clock_ms)


# ---- suspend / resume / alarms -----------------------------------------------------------------
def suspend(model):
    t = model.clock_ms
    _check_can_deliver(model)
    if model.suspended:
        raise Refusal(spec.E_INVALID_STATE, 0, spec.STATE_RUNNING, spec.STATE_SUSPENDED)
    model.suspended = True
    model.log_entry(t, spec.LOG_SUSPEND)
    model.refresh(t)
    return model.therapy_state()


def resume(model):
    t = model.clock_ms
    _check_can_deliver(model)
    if not model.suspended:
        raise Refusal(spec.E_INVALID_STATE, 0, spec.STATE_SUSPENDED, model.therapy_state())
    model.suspended = False
    model.log_entry(t, spec.LOG_RESUME)
    model.refresh(t)
    return model.therapy_state()


def ack_alarm(model, code, instance, role):
    t = model.clock_ms
    if not model.alarms.acknowledge(code, instance, t):
        raise Refusal(spec.E_NO_SUCH_ALARM, code, 0, instance)
    model.log_entry(t, spec.LOG_ALARM_ACKED, code, instance, role)
    model.refresh(t)
    return len(model.alarms.alarms)


# ---- test control ------------------------------------------------------------------------------
def _log_test_control(model, msg_id, value=0, value2=0):
    model.log_entry(model.clock_ms, spec.LOG_TEST_CONTROL, msg_id, value, value2)


def inject_fault(model, fault):
    t = model.clock_ms
    _log_test_control(model, spec.ID_TC_INJECT_FAULT, fault)
    if fault == spec.FAULT_LOW_BATTERY:
        if model.battery_ms > model.battery_eri_ms:
            model.battery_ms = model.battery_eri_ms
    else:
        model.faults |= 1 << fault
    model.refresh(t)
    return _FAULT_ALARM[fault]


def clear_fault(model, fault):
    t = model.clock_ms
    _log_test_control(model, spec.ID_TC_CLEAR_FAULT, fault)
    if fault == spec.FAULT_LOW_BATTERY:
        model.battery_ms = model.battery_full_ms
    else:
        model.faults &= ~(1 << fault)
    model.refresh(t)


def set_reservoir(model, reservoir_ul):
    """The change counts as filled (up) or withdrawn (down), so volume stays conserved."""
    t = model.clock_ms
    if reservoir_ul > model.capacity_ul:
        raise Refusal(spec.E_HARD_LIMIT, spec.LIM_RESERVOIR_CAPACITY, model.capacity_ul, reservoir_ul)
    _log_test_control(model, spec.ID_TC_SET_RESERVOIR, reservoir_ul)
    if reservoir_ul > model.reservoir_ul:
        model.filled_ul += reservoir_ul - model.reservoir_ul
    else:
        model.removed_ul += model.reservoir_ul - reservoir_ul
    model.reservoir_ul = reservoir_ul
    model.refresh(t)


def set_battery(model, battery_pct):
    t = model.clock_ms
    _log_test_control(model, spec.ID_TC_SET_BATTERY, battery_pct)
    model.battery_ms = model.battery_full_ms * battery_pct // 100
    model.refresh(t)


def warp_clock(model, advance_s):
    _log_test_control(model, spec.ID_TC_WARP_CLOCK, advance_s)
    model.advance(model.clock_ms + advance_s * 1000)
    return model.clock_ms // 1000
