"""One plausible example of every message, for the generated document and the golden vectors."""

from . import messages as m
from .catalog import BANNER, MAGIC, MESSAGES, PROTOCOL_VERSION
from .codes import (Alarm, AlarmState, BatteryState, BolusKind, Drug, Error, Fault, Limit, LogKind,
                    Priority, Role, Severity, TherapyMode, TherapyState)

MORPHINE_RX = m.Prescription(
    drug=Drug.MORPHINE, concentration_ug_per_ml=20_000, mode=TherapyMode.FLEX, daily_dose_ug=0,
    steps=(m.FlexStep(0, 3_000), m.FlexStep(480, 4_000), m.FlexStep(1_320, 2_500)),
    ptm_dose_ug=250, ptm_lockout_min=180, ptm_max_per_24h=4, max_daily_dose_ug=5_000,
    refill_interval_days=60)

ZICONOTIDE_RX = m.Prescription(
    drug=Drug.ZICONOTIDE, concentration_ug_per_ml=100, mode=TherapyMode.SIMPLE_CONTINUOUS,
    daily_dose_ug=14, ptm_dose_ug=0, max_daily_dose_ug=14, refill_interval_days=30)

STATUS = m.GetStatusResponse(
    clock_s=86_400, therapy_state=TherapyState.RUNNING, mode=TherapyMode.FLEX, drug=Drug.MORPHINE,
    concentration_ug_per_ml=20_000, reservoir_ul=18_250, capacity_ul=20_000,
    basal_rate_ug_per_day=4_000, basal_rate_ul_per_day=200, bolus_remaining_ug=0,
    delivered_24h_ug=3_410, battery_state=BatteryState.OK, battery_pct=97,
    days_to_low_reservoir=81, days_to_empty=91, role=Role.CLINICIAN,
    active_alarms=(Alarm.LOW_RESERVOIR,))

ALARM = m.AlarmEntry(code=Alarm.LOW_RESERVOIR, priority=Priority.MEDIUM, latching=0,
                     state=AlarmState.ACTIVE, instance=3, raised_s=172_800, announce_count=1)

EXAMPLES = {
    "HELLO": (m.HelloRequest(host_session_id=0x5EED0001, protocol_version=PROTOCOL_VERSION),
              m.HelloResponse(magic=MAGIC, banner=BANNER, protocol_version=PROTOCOL_VERSION,
                              firmware_version=0x0100, serial="PM-000001", test_mode=1,
                              capacity_ul=20_000)),
    "AUTH_CHALLENGE": (m.AuthChallengeRequest(role=Role.CLINICIAN),
                       m.AuthChallengeResponse(nonce=bytes(range(16)))),
    "AUTH_RESPONSE": (m.AuthResponseRequest(role=Role.CLINICIAN, mac=bytes(range(32, 64))),
                      m.AuthResponseResponse(role=Role.CLINICIAN)),
    "LOGOUT": (m.LogoutRequest(), m.LogoutResponse()),
    "GET_STATUS": (m.GetStatusRequest(), STATUS),
    "GET_PRESCRIPTION": (m.GetPrescriptionRequest(),
                         m.GetPrescriptionResponse(version=4, prescription=MORPHINE_RX)),
    "VALIDATE_PRESCRIPTION": (
        m.ValidatePrescriptionRequest(prescription=MORPHINE_RX._replace(max_daily_dose_ug=12_000)),
        m.ValidatePrescriptionResponse(findings=(
            m.Finding(Limit.MAX_DAILY_SOFT, Severity.SOFT, 10_000, 12_000),))),
    "PROGRAM_PRESCRIPTION": (
        m.ProgramPrescriptionRequest(overrides=(Limit.MAX_DAILY_SOFT,),
                                     prescription=MORPHINE_RX._replace(max_daily_dose_ug=12_000)),
        m.ProgramPrescriptionResponse(version=5, findings=(
            m.Finding(Limit.MAX_DAILY_SOFT, Severity.SOFT, 10_000, 12_000),))),
    "REFILL": (m.RefillRequest(drug=Drug.MORPHINE, concentration_ug_per_ml=20_000, volume_added_ul=20_000),
               m.RefillResponse(reservoir_ul=20_000, days_to_empty=100)),
    "CLINICIAN_BOLUS": (m.ClinicianBolusRequest(kind=BolusKind.BRIDGE, dose_ug=400, duration_s=3_600),
                        m.ClinicianBolusResponse(volume_ul=20, ends_s=90_000)),
    "PTM_BOLUS": (m.PtmBolusRequest(),
                  m.PtmBolusResponse(dose_ug=250, activations_24h=1, next_allowed_s=97_200)),
    "SUSPEND": (m.SuspendRequest(), m.SuspendResponse(therapy_state=TherapyState.SUSPENDED)),
    "RESUME": (m.ResumeRequest(), m.ResumeResponse(therapy_state=TherapyState.RUNNING)),
    "GET_ALARMS": (m.GetAlarmsRequest(), m.GetAlarmsResponse(alarms=(ALARM,))),
    "ACK_ALARM": (m.AckAlarmRequest(code=Alarm.LOW_RESERVOIR, instance=3), m.AckAlarmResponse(remaining=0)),
    "READ_LOG": (m.ReadLogRequest(start_index=40, max_entries=2),
                 m.ReadLogResponse(oldest_index=0, next_index=42, entries=(
                     m.LogEntry(40, 86_400, LogKind.REFILL, Drug.MORPHINE, 20_000, 20_000),
                     m.LogEntry(41, 86_460, LogKind.PROGRAM, Drug.MORPHINE, 5, 3_333)))),
    "TC_RESET": (m.TcResetRequest(seed=7), m.TcResetResponse()),
    "TC_INJECT_FAULT": (m.TcInjectFaultRequest(fault=Fault.MOTOR_STALL),
                        m.TcInjectFaultResponse(alarm=Alarm.MOTOR_STALL)),
    "TC_CLEAR_FAULT": (m.TcClearFaultRequest(fault=Fault.MOTOR_STALL), m.TcClearFaultResponse()),
    "TC_SET_RESERVOIR": (m.TcSetReservoirRequest(reservoir_ul=1_500), m.TcSetReservoirResponse()),
    "TC_SET_BATTERY": (m.TcSetBatteryRequest(battery_pct=9), m.TcSetBatteryResponse()),
    "TC_WARP_CLOCK": (m.TcWarpClockRequest(advance_s=86_400), m.TcWarpClockResponse(clock_s=172_800)),
    "TC_POWER_LOSS": (m.TcPowerLossRequest(cut_after_bytes=0), m.TcPowerLossResponse(reboots=1)),
    "TC_READ_COUNTERS": (m.TcReadCountersRequest(),
                         m.TcReadCountersResponse(requests_executed=120, dedup_hits=2, frames_bad=1,
                                                  naks_sent=3, boluses_delivered=4, delivered_ug=6_820,
                                                  delivered_ul=341, filled_ul=20_000, removed_ul=0,
                                                  reboots=1)),
    "TC_GET_STATUS": (m.TcGetStatusRequest(), m.TcGetStatusResponse(*STATUS)),
    "TC_GET_PRESCRIPTION": (m.TcGetPrescriptionRequest(),
                            m.TcGetPrescriptionResponse(version=4, prescription=MORPHINE_RX)),
    "TC_GET_ALARMS": (m.TcGetAlarmsRequest(), m.TcGetAlarmsResponse(alarms=(ALARM,))),
    "TC_GET_CLOCK": (m.TcGetClockRequest(), m.TcGetClockResponse(clock_ms=86_400_123)),
    "TC_HEAP_INFO": (m.TcHeapInfoRequest(), m.TcHeapInfoResponse(free_bytes=61_440, low_free_bytes=52_224,
                                                                 used_bytes=129_024, peak_used_bytes=138_240,
                                                                 largest_buffer_bytes=240)),
    "ALARM_RAISED": (m.AlarmRaised(*ALARM),),
    "ALARM_CLEARED": (m.AlarmCleared(code=Alarm.LOW_RESERVOIR, instance=3, cleared_s=180_000),),
}

# One NAK per error code, with the subject and values the code's description promises.
NAK_EXAMPLES = {
    Error.UNKNOWN_MESSAGE: m.Nak(0x7E, Error.UNKNOWN_MESSAGE),
    Error.BAD_LENGTH: m.Nak(0x20, Error.BAD_LENGTH, 0, 9, 8),
    Error.BAD_VERSION: m.Nak(0x10, Error.BAD_VERSION, 0, 1, 2),
    Error.OUT_OF_RANGE: m.Nak(0x20, Error.OUT_OF_RANGE, 1),
    Error.UNAUTHORIZED: m.Nak(0x10, Error.UNAUTHORIZED),
    Error.WRONG_ROLE: m.Nak(0x13, Error.WRONG_ROLE, Role.CLINICIAN),
    Error.AUTH_LOCKED_OUT: m.Nak(0x03, Error.AUTH_LOCKED_OUT, 0, 300, 212),
    Error.HARD_LIMIT: m.Nak(0x13, Error.HARD_LIMIT, Limit.DAILY_DOSE_HARD, 15_000, 150_000),
    Error.SOFT_LIMIT_NEEDS_OVERRIDE: m.Nak(0x13, Error.SOFT_LIMIT_NEEDS_OVERRIDE, Limit.DAILY_DOSE_SOFT,
                                          10_000, 12_000),
    Error.OVERRIDE_MISMATCH: m.Nak(0x13, Error.OVERRIDE_MISMATCH, Limit.RESERVOIR_DURATION),
    Error.LOCKOUT_ACTIVE: m.Nak(0x22, Error.LOCKOUT_ACTIVE, Limit.PTM_LOCKOUT, 10_800, 5_400),
    Error.MAX_ACTIVATIONS: m.Nak(0x22, Error.MAX_ACTIVATIONS, Limit.PTM_ACTIVATIONS, 4, 4),
    Error.DAILY_MAX_REACHED: m.Nak(0x22, Error.DAILY_MAX_REACHED, Limit.DAILY_MAX_24H, 5_000, 5_150),
    Error.RESERVOIR_INSUFFICIENT: m.Nak(0x21, Error.RESERVOIR_INSUFFICIENT, Limit.RESERVOIR_VOLUME, 12, 20),
    Error.THERAPY_STOPPED: m.Nak(0x22, Error.THERAPY_STOPPED, Alarm.MOTOR_STALL),
    Error.NOT_PROGRAMMED: m.Nak(0x22, Error.NOT_PROGRAMMED),
    Error.BUSY: m.Nak(0x21, Error.BUSY),
    Error.NOT_IN_TEST_MODE: m.Nak(0x61, Error.NOT_IN_TEST_MODE),
    Error.SEQUENCE_REUSED: m.Nak(0x20, Error.SEQUENCE_REUSED),
    Error.NO_SUCH_ALARM: m.Nak(0x31, Error.NO_SUCH_ALARM, Alarm.MOTOR_STALL),
    Error.INVALID_STATE: m.Nak(0x24, Error.INVALID_STATE),
    Error.PTM_DISABLED: m.Nak(0x22, Error.PTM_DISABLED),
}


def check_complete():
    """Every catalog message and error code has an example (the vectors test calls this)."""
    missing = [msg.name for msg in MESSAGES if msg.name not in EXAMPLES]
    missing += [code.name for code in Error if code not in NAK_EXAMPLES]
    return missing
