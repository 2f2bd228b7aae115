"""One function per request message: decoded request dict in, response dict out (or Refusal).

Each takes (pump, request, clock_ms). They set pump._dirty when they change what a reboot must
keep, so the core saves before answering. Therapy rules live in commands.py; these only map
protocol fields to them and back.
"""

from . import codec
from . import commands
from . import heap
from . import spec
from .errors import Refusal
from .therapy import NEVER_DAYS, days_of, finding_dicts

FIRMWARE_VERSION = 0x0100  # major 1, minor 0
_MASK32 = 0xFFFFFFFF
# what get_status reads, bound here (a module attribute costs a lookup each)
_NOT_PROGRAMMED, _RUNNING, _SUSPENDED, _STOPPED = (spec.STATE_NOT_PROGRAMMED, spec.STATE_RUNNING,
                                                   spec.STATE_SUSPENDED, spec.STATE_STOPPED)
_BATT_OK, _BATT_ERI, _BATT_EOS = spec.BATT_OK, spec.BATT_ERI, spec.BATT_EOS
_LOW_RESERVOIR_UL = spec.LOW_RESERVOIR_UL
# GET_STATUS's fields in the order get_status packs them (checked against the catalog).
_STATUS_FIELDS = ("clock_s", "therapy_state", "mode", "drug", "concentration_ug_per_ml", "reservoir_ul",
                  "capacity_ul", "basal_rate_ug_per_day", "basal_rate_ul_per_day", "bolus_remaining_ug",
                  "delivered_24h_ug", "battery_state", "battery_pct", "days_to_low_reservoir", "days_to_empty",
                  "role", "active_alarms")
_STATUS = codec.scalars_and_codes(spec.RESPONSE[spec.ID_GET_STATUS], _STATUS_FIELDS)


def hello(pump, request, clock):
    if request["host_session_id"] != pump.host_session_id:
        # A new host session: its seqs have nothing to do with the old ones, but the old session's
        # answers stay (dedup.py): its host may come back to retransmit.
        pump.host_session_id = request["host_session_id"]
        pump._dirty = True
    pump.role = spec.ROLE_NONE
    return {"magic": spec.MAGIC, "banner": spec.BANNER, "protocol_version": spec.PROTOCOL_VERSION,
            "firmware_version": FIRMWARE_VERSION, "serial": pump.serial, "test_mode": 1 if pump.test_mode else 0,
            "capacity_ul": pump.model.capacity_ul}


def auth_challenge(pump, request, clock):
    return {"nonce": pump.auth.challenge(request["role"], clock, pump.request_seq)}


def auth_response(pump, request, clock):
    role = request["role"]
    try:
        pump.role = pump.auth.respond(role, request["mac"], clock)
    except Refusal as refusal:
        if refusal.code == spec.E_UNAUTHORIZED:
            pump.model.log_entry(clock, spec.LOG_AUTH, role, 0)
            pump._dirty = True
        raise
    pump.model.log_entry(clock, spec.LOG_AUTH, role, 1)
    pump._dirty = True
    return {"role": role}


def logout(pump, request, clock):
    pump.role = spec.ROLE_NONE


def get_status(pump, request, clock):
    """The payload's bytes, packed straight from the model (the most frequent answer: no dict).

    The model's readings (therapy_state, basal_rates, battery_*, bolus_remaining_ug, days_of)
    are written out here from its fields: their calls were half of this answer's time."""
    model = pump.model
    rx = model.rx
    alarms = model.alarms.alarms
    if rx is None:
        state = _NOT_PROGRAMMED
    elif alarms and model.alarms.stopping():
        state = _STOPPED
    elif model.suspended:
        state = _SUSPENDED
    else:
        state = _RUNNING
    if state == _RUNNING:  # delivering()
        span = model._span_memo  # step_at's memo read here: the call was a tenth of this answer
        step = span[2] if span[0] <= clock < span[1] and span[3] is model._steps else model.step_at(clock)
        dose_rate, volume_rate = step[1], step[2]
    else:
        dose_rate = volume_rate = 0
    reservoir = model.reservoir_ul
    daily_ul = model.daily_volume_ul
    if daily_ul <= 0:
        days_low = days_empty = NEVER_DAYS
    else:
        low = reservoir - _LOW_RESERVOIR_UL
        days_low = (low if low > 0 else 0) // daily_ul
        days_empty = reservoir // daily_ul
        if days_low >= NEVER_DAYS:
            days_low = NEVER_DAYS - 1
        if days_empty >= NEVER_DAYS:
            days_empty = NEVER_DAYS - 1
    codes = bytes([alarm.code for alarm in alarms]) if alarms else b""
    bolus = model.bolus
    if bolus is None or bolus.volume_ul == 0:
        bolus_ug = 0
    else:
        bolus_ug = bolus.dose_ug * (bolus.volume_ul - bolus.done_ul) // bolus.volume_ul
    battery = model.battery_ms
    full = model.battery_full_ms
    if battery == 0:
        battery_state = _BATT_EOS
    elif battery <= model.battery_eri_ms:
        battery_state = _BATT_ERI
    else:
        battery_state = _BATT_OK
    window = model._window_memo  # delivered_24h_ng's memo, likewise
    if window[0] == clock // 3600000 and window[1] == model.delivered_ng and window[2] is model.buckets:
        delivered_ug = window[3] // 1000
    else:
        delivered_ug = model.delivered_24h_ng(clock) // 1000
    # clamp32 written out: four calls are a tenth of this function
    return _STATUS.pack(
        (clock // 1000) & _MASK32, state, 0 if rx is None else rx["mode"],
        model.drug, model.conc, reservoir, model.capacity_ul,
        dose_rate if dose_rate <= _MASK32 else _MASK32, volume_rate if volume_rate <= _MASK32 else _MASK32,
        bolus_ug if bolus_ug <= _MASK32 else _MASK32, delivered_ug if delivered_ug <= _MASK32 else _MASK32,
        battery_state, (battery * 100 + full - 1) // full, days_low, days_empty, pump.role, len(codes)) + codes


def get_prescription(pump, request, clock):
    model = pump.model
    if model.rx is None:
        raise Refusal(spec.E_NOT_PROGRAMMED)
    return {"version": model.rx_version, "prescription": model.rx}


def validate_prescription(pump, request, clock):
    return {"findings": finding_dicts(commands.validate(pump.model, request["prescription"]))}


def program_prescription(pump, request, clock):
    version, soft = commands.program(pump.model, request["overrides"], request["prescription"])
    return {"version": version, "findings": finding_dicts(soft)}


def refill(pump, request, clock):
    reservoir_ul, days = commands.refill(pump.model, request["drug"], request["concentration_ug_per_ml"],
                                         request["volume_added_ul"])
    return {"reservoir_ul": reservoir_ul, "days_to_empty": days}


def clinician_bolus(pump, request, clock):
    volume_ul, ends_s = commands.clinician_bolus(pump.model, request["kind"], request["dose_ug"],
                                                 request["duration_s"])
    return {"volume_ul": volume_ul, "ends_s": ends_s & 0xFFFFFFFF}


def ptm_bolus(pump, request, clock):
    dose_ug, count, next_allowed_s = commands.ptm_bolus(pump.model)
    return {"dose_ug": dose_ug, "activations_24h": count, "next_allowed_s": next_allowed_s & 0xFFFFFFFF}


def suspend(pump, request, clock):
    return {"therapy_state": commands.suspend(pump.model)}


def resume(pump, request, clock):
    return {"therapy_state": commands.resume(pump.model)}


def get_alarms(pump, request, clock):
    return {"alarms": [alarm.entry(clock) for alarm in pump.model.alarms.alarms]}


def ack_alarm(pump, request, clock):
    return {"remaining": commands.ack_alarm(pump.model, request["code"], request["instance"], pump.role)}


def read_log(pump, request, clock):
    log = pump.model.log
    return {"oldest_index": log.oldest_index & 0xFFFFFFFF, "next_index": log.next_index & 0xFFFFFFFF,
            "entries": log.page(request["start_index"], request["max_entries"])}


# ---- test control ----------------------------------------------------------------------------
def tc_reset(pump, request, clock):
    pump.model.reset()
    pump.cache.clear()
    pump.host_session_id = None
    # A seeded test run restarts its reproducible nonce sequence from the new seed (so a fuzzer's
    # examples replay exactly); an unseeded pump stays random whatever the seed says.
    if pump.seed is not None:
        pump.seed = request["seed"]
    pump.nonce_epoch = 0
    pump.auth.failures = pump.auth.locked_until_ms = 0
    pump.requests_executed = pump.dedup_hits = pump.naks_sent = 0
    pump.reader.frames_bad = 0
    pump._base_ms -= clock  # the pump clock reads 0 now
    pump._volatile_reset(keep_input=True)
    pump._dirty = True


def tc_inject_fault(pump, request, clock):
    pump._dirty = True
    return {"alarm": commands.inject_fault(pump.model, request["fault"])}


def tc_clear_fault(pump, request, clock):
    pump._dirty = True
    commands.clear_fault(pump.model, request["fault"])


def tc_set_reservoir(pump, request, clock):
    commands.set_reservoir(pump.model, request["reservoir_ul"])
    pump._dirty = True


def tc_set_battery(pump, request, clock):
    pump._dirty = True
    commands.set_battery(pump.model, request["battery_pct"])


def tc_warp_clock(pump, request, clock):
    pump._dirty = True
    pump._base_ms += request["advance_s"] * 1000
    return {"clock_s": commands.warp_clock(pump.model, request["advance_s"]) & 0xFFFFFFFF}


def tc_power_loss(pump, request, clock):
    cut = request["cut_after_bytes"]
    if cut == 0:
        pump._restart(clock, keep_input=True)  # between two frames: the line's next bytes still count
    else:
        pump.storage.arm_cut(cut)
    return {"reboots": pump.model.reboots & 0xFFFF}


def tc_read_counters(pump, request, clock):
    return pump.counters()


def tc_get_clock(pump, request, clock):
    return {"clock_ms": clock}


def tc_heap_info(pump, request, clock):
    return heap.info(pump.persistence.take_largest())


HANDLERS = {
    spec.ID_HELLO: hello, spec.ID_AUTH_CHALLENGE: auth_challenge, spec.ID_AUTH_RESPONSE: auth_response,
    spec.ID_LOGOUT: logout, spec.ID_GET_STATUS: get_status, spec.ID_GET_PRESCRIPTION: get_prescription,
    spec.ID_VALIDATE_PRESCRIPTION: validate_prescription, spec.ID_PROGRAM_PRESCRIPTION: program_prescription,
    spec.ID_REFILL: refill, spec.ID_CLINICIAN_BOLUS: clinician_bolus, spec.ID_PTM_BOLUS: ptm_bolus,
    spec.ID_SUSPEND: suspend, spec.ID_RESUME: resume, spec.ID_GET_ALARMS: get_alarms,
    spec.ID_ACK_ALARM: ack_alarm, spec.ID_READ_LOG: read_log, spec.ID_TC_RESET: tc_reset,
    spec.ID_TC_INJECT_FAULT: tc_inject_fault, spec.ID_TC_CLEAR_FAULT: tc_clear_fault,
    spec.ID_TC_SET_RESERVOIR: tc_set_reservoir, spec.ID_TC_SET_BATTERY: tc_set_battery,
    spec.ID_TC_WARP_CLOCK: tc_warp_clock, spec.ID_TC_POWER_LOSS: tc_power_loss,
    spec.ID_TC_READ_COUNTERS: tc_read_counters, spec.ID_TC_GET_STATUS: get_status,
    spec.ID_TC_GET_PRESCRIPTION: get_prescription, spec.ID_TC_GET_ALARMS: get_alarms,
    spec.ID_TC_GET_CLOCK: tc_get_clock, spec.ID_TC_HEAP_INFO: tc_heap_info,
}
