"""The pumpmock protocol v1 as data: the one source of truth for ids, layouts, codes, units and limits.

Everything else derives from this module: the construct schemas (protocol.schemas), the typed
message classes (protocol.messages), the generated document (docs/PROTOCOL.md), the firmware's
plain-Python tables (firmware_mock/spec.py, generated because the firmware cannot import this
package) and the hypothesis strategies. Adding a message is one entry in MESSAGES.

Every number is an integer in the unit its field name ends with (_ug, _ul, _ug_per_ml,
_ug_per_day, _ul_per_day, _s, _min, _ms, _pct). The pump is fictional; no figure here is
clinical advice.
"""

from typing import NamedTuple

PROTOCOL_VERSION = 1
MAGIC = b"PMCK"
BANNER = "NOT FOR CLINICAL USE"
DEFAULT_BAUD = 115200

# ---------------------------------------------------------------------------------------------
# Framing constants
# ---------------------------------------------------------------------------------------------
DELIMITER = 0x00
HEADER_SIZE = 5  # version u8, kind u8, msg_id u8, seq u16 little-endian
CRC_SIZE = 2  # CRC-16/CCITT-FALSE, big-endian, over header + payload
MAX_PAYLOAD = 240
MAX_BODY = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
# COBS adds one byte per 254 and the leading code byte.
MAX_ENCODED = MAX_BODY + 1 + MAX_BODY // 254

# Host retransmission rules (documented in PROTOCOL.md, used by harness.client).
RESPONSE_TIMEOUT_MS = 250
MAX_RETRIES = 3
# Pump event delivery: unacknowledged events are re-sent at this interval, this many times.
EVENT_RETRY_MS = 500
EVENT_MAX_RETRIES = 5
# Exactly-once: the pump keeps the responses to this many recent state-changing requests.
DEDUP_CACHE_SIZE = 32


class Code(NamedTuple):
    value: int
    name: str
    doc: str


class CodeSet(NamedTuple):
    name: str
    doc: str
    codes: tuple


def codes(name, doc, *entries):
    return CodeSet(name, doc, tuple(Code(v, n, d) for v, n, d in entries))


FRAME_KIND = codes(
    "frame_kind", "What a frame is; the low 3 bits of the kind byte (the upper bits must be 0).",
    (0, "REQUEST", "host to pump; answered by exactly one RESPONSE or NAK with the same msg_id and seq"),
    (1, "RESPONSE", "pump to host; the request succeeded; payload is the message's response layout"),
    (2, "EVENT", "pump to host, unsolicited; seq is the pump's own event counter"),
    (3, "ACK", "host to pump; acknowledges the EVENT with this msg_id and seq; empty payload"),
    (4, "NAK", "pump to host; the request failed; payload is the error layout"),
)

ROLE = codes(
    "role", "Session roles. A session starts with no role; HELLO resets it.",
    (0, "NONE", "not authenticated: only HELLO, AUTH_* and test control are accepted"),
    (1, "PATIENT", "the patient therapy manager: status and PTM bolus"),
    (2, "CLINICIAN", "the clinician programmer: everything"),
)

THERAPY_MODE = codes(
    "therapy_mode", "How the basal dose is delivered.",
    (0, "NONE", "no prescription programmed"),
    (1, "SIMPLE_CONTINUOUS", "one daily dose delivered evenly"),
    (2, "FLEX", "up to 24 steps per day, each a start minute and a dose rate, repeating daily"),
)

THERAPY_STATE = codes(
    "therapy_state", "Whether the pump is delivering.",
    (0, "NOT_PROGRAMMED", "no prescription yet"),
    (1, "RUNNING", "delivering the prescription"),
    (2, "SUSPENDED", "suspended by the clinician"),
    (3, "STOPPED", "stopped by an alarm (empty reservoir, motor stall, occlusion, EOS, memory)"),
)

BATTERY_STATE = codes(
    "battery_state", "Battery service state.",
    (0, "OK", "normal"),
    (1, "ERI", "elective replacement indicator: about 90 days left"),
    (2, "EOS", "end of service: therapy stopped"),
)

BOLUS_KIND = codes(
    "bolus_kind", "Clinician bolus purpose.",
    (1, "BRIDGE", "moves drug of a new concentration through the catheter after a refill"),
    (2, "PRIMING", "fills the catheter after catheter surgery"),
    (3, "CLINICIAN", "a one-off clinician-ordered dose"),
)

SEVERITY = codes(
    "severity", "How a validation finding is treated.",
    (1, "SOFT", "may be programmed only with an explicit override naming this limit"),
    (2, "HARD", "can never be programmed"),
)

PRIORITY = codes(
    "priority", "Alarm priority (IEC 60601-1-8 vocabulary).",
    (1, "LOW", "awareness"),
    (2, "MEDIUM", "prompt response"),
    (3, "HIGH", "immediate response"),
)

ALARM_STATE = codes(
    "alarm_state", "State of an alarm instance in the active list.",
    (1, "ACTIVE", "its cause is present"),
    (2, "LATCHED", "its cause has ended but it is latching and not yet acknowledged"),
)

FAULT = codes(
    "fault", "Faults test control can inject.",
    (1, "MOTOR_STALL", "raises MOTOR_STALL"),
    (2, "CATHETER_OCCLUSION", "raises CATHETER_OCCLUSION"),
    (3, "MEMORY_ERROR", "raises MEMORY_ERROR"),
    (4, "LOW_BATTERY", "drops the battery to the ERI threshold"),
)

LOG_KIND = codes(
    "log_kind", "Event log entry kinds; code, value and value2 mean what the entry says.",
    (1, "POWER_UP", "code=0, value=reboot count, value2=0"),
    (2, "BASAL", "basal delivered since the previous BASAL entry: value=µg, value2=µL"),
    (3, "BOLUS", "bolus delivered: code=bolus kind (4 = PTM), value=µg, value2=µL"),
    (4, "PROGRAM", "prescription programmed: code=drug, value=prescription version, value2=daily dose µg"),
    (5, "REFILL", "refill: code=drug, value=concentration µg/mL, value2=volume added µL"),
    (6, "ALARM_RAISED", "code=alarm code, value=instance, value2=0"),
    (7, "ALARM_CLEARED", "code=alarm code, value=instance, value2=0"),
    (8, "ALARM_ACKED", "code=alarm code, value=instance, value2=role"),
    (9, "SUSPEND", "therapy suspended"),
    (10, "RESUME", "therapy resumed"),
    (11, "AUTH", "code=role, value=1 success / 0 failure"),
    (12, "PTM_REFUSED", "code=error code, value=limit value, value2=actual value"),
    (13, "TEST_CONTROL", "code=test-control message id, value and value2 its first two arguments"),
)

# Alarms: (value, name, priority, latching, doc). Priority and latching are part of the contract.
ALARMS = (
    (1, "MOTOR_STALL", "HIGH", True, "delivery stops until the fault is cleared and the alarm acknowledged"),
    (2, "EMPTY_RESERVOIR", "HIGH", False, "delivery stops; clears on refill"),
    (3, "END_OF_SERVICE", "HIGH", True, "battery exhausted; therapy stops; the pump must be replaced"),
    (4, "MEMORY_ERROR", "HIGH", True, "self-test failure; therapy stops, safe state"),
    (5, "CATHETER_OCCLUSION", "HIGH", True, "delivery stops"),
    (6, "LOW_RESERVOIR", "MEDIUM", False, "reservoir at or below the low threshold"),
    (7, "ELECTIVE_REPLACEMENT", "MEDIUM", False, "battery has about 90 days left"),
    (8, "DAILY_MAX_REACHED", "LOW", False, "a bolus was refused by the rolling 24 h maximum"),
    (9, "PTM_LOCKOUT", "LOW", False, "a PTM bolus was refused by the lockout or activation count"),
)
ALARM = codes("alarm", "Alarm codes; priority and latching are in the alarm table.",
              *((v, n, d) for v, n, _p, _l, d in ALARMS))

# Re-announcement interval of an unacknowledged alarm, by priority name.
REANNOUNCE_S = {"HIGH": 60, "MEDIUM": 600, "LOW": 3600}

LIMIT = codes(
    "limit", "Limits a prescription, a bolus or a refill is checked against.",
    (1, "CONCENTRATION_MAX", "the drug's maximum concentration (hard)"),
    (2, "DAILY_DOSE_SOFT", "basal daily dose above the drug's soft maximum"),
    (3, "DAILY_DOSE_HARD", "basal daily dose above the drug's hard maximum"),
    (4, "MAX_DAILY_SOFT", "the prescription's maximum daily dose above the drug's soft maximum"),
    (5, "MAX_DAILY_HARD", "the prescription's maximum daily dose above the drug's hard maximum"),
    (6, "MAX_DAILY_BELOW_PLAN", "maximum daily dose below basal dose (hard)"),
    (7, "RATE_MIN", "a basal volume rate below the pump's minimum µL/day (hard)"),
    (8, "RATE_MAX", "a basal volume rate above the pump's maximum µL/day (hard)"),
    (9, "RESERVOIR_DURATION", "basal + all PTM boluses empty the reservoir before the refill interval or the minimum days (soft)"),
    (10, "CONCENTRATION_MISMATCH", "the prescription's concentration differs from the reservoir's (hard)"),
    (11, "DRUG_MISMATCH", "the prescription's drug differs from the reservoir's (hard)"),
    (12, "PTM_LOCKOUT_RANGE", "PTM lockout outside the allowed minutes (hard)"),
    (13, "PTM_ACTIVATIONS_RANGE", "PTM activations per 24 h outside the allowed count (hard)"),
    (14, "PTM_DOSE_MAX", "a single PTM dose above the drug's soft daily maximum (hard)"),
    (15, "SCHEDULE_INVALID", "flex steps empty, not starting at minute 0 or not strictly increasing (hard)"),
    (16, "DAILY_MAX_24H", "rolling 24 h delivered + requested above the prescription's maximum daily dose"),
    (17, "PTM_LOCKOUT", "PTM lockout interval"),
    (18, "PTM_ACTIVATIONS", "PTM activations per rolling 24 h"),
    (19, "RESERVOIR_VOLUME", "reservoir volume"),
    (20, "RESERVOIR_CAPACITY", "reservoir capacity (refill overfill)"),
    (21, "BOLUS_DURATION", "clinician bolus duration range"),
)

ERROR = codes(
    "error", "Error codes carried by NAK frames. subject, limit_value and actual_value mean what "
    "the code's description says (0 where it says nothing).",
    (1, "UNKNOWN_MESSAGE", "msg_id is not in the catalog, or not a request"),
    (2, "BAD_LENGTH", "payload length does not match the layout; limit_value=expected, actual_value=received"),
    (3, "BAD_VERSION", "unsupported protocol version; limit_value=supported version, actual_value=received"),
    (4, "OUT_OF_RANGE", "a field is outside its range or code set; subject=1-based field position"),
    (5, "UNAUTHORIZED", "no session role, or an authentication response that is forged, replayed or expired"),
    (6, "WRONG_ROLE", "the session role may not send this message; subject=required role"),
    (7, "AUTH_LOCKED_OUT", "too many failed authentications; limit_value=lockout s, actual_value=remaining s"),
    (8, "HARD_LIMIT", "a hard limit refused the request; subject=limit, limit_value, actual_value"),
    (9, "SOFT_LIMIT_NEEDS_OVERRIDE", "a soft-limit finding was not overridden; subject=limit"),
    (10, "OVERRIDE_MISMATCH", "an override names a limit that has no soft finding; subject=limit"),
    (11, "LOCKOUT_ACTIVE", "PTM lockout; limit_value=lockout s, actual_value=remaining s"),
    (12, "MAX_ACTIVATIONS", "PTM activations per 24 h reached; limit_value=max, actual_value=count"),
    (13, "DAILY_MAX_REACHED", "rolling 24 h maximum; limit_value=max µg, actual_value=µg it would reach"),
    (14, "RESERVOIR_INSUFFICIENT", "not enough drug; limit_value=µL available, actual_value=µL needed"),
    (15, "THERAPY_STOPPED", "delivery impossible while an alarm stops therapy; subject=alarm code"),
    (16, "NOT_PROGRAMMED", "no prescription"),
    (17, "BUSY", "a bolus is already running"),
    (18, "NOT_IN_TEST_MODE", "test control while the pump is not in test mode"),
    (19, "SEQUENCE_REUSED", "a state-changing request reused a recent seq with different content"),
    (20, "NO_SUCH_ALARM", "no alarm with that code and instance needs acknowledging"),
    (21, "INVALID_STATE", "the request makes no sense in the current therapy state"),
    (22, "PTM_DISABLED", "the prescription has no PTM bolus"),
)

# ---------------------------------------------------------------------------------------------
# Drug library (µg, µg/mL, µg/day). PACC-guided defaults; fictional, never clinical advice.
# "display_unit" is how clinicians think of the drug: a mg drug is still stored in µg.
# Ziconotide's 19.2 µg/day hard maximum is floored to 19 µg because the wire carries whole µg.
# ---------------------------------------------------------------------------------------------
DRUGS = (
    # value, name, display unit, max conc µg/mL, soft max µg/day, hard max µg/day
    (1, "MORPHINE", "mg", 20_000, 10_000, 15_000),
    (2, "HYDROMORPHONE", "mg", 15_000, 6_000, 10_000),
    (3, "ZICONOTIDE", "ug", 100, 12, 19),
    (4, "FENTANYL", "ug", 10_000, 500, 1_000),
    (5, "BUPIVACAINE", "mg", 30_000, 15_000, 20_000),
    (6, "CLONIDINE", "ug", 1_000, 300, 600),
    (7, "BACLOFEN", "ug", 2_000, 800, 1_500),
)
DRUG = codes("drug", "Drug library entries (limits in the drug library table).",
             (0, "NONE", "reservoir empty of any drug"),
             *((v, n, "%s drug" % u) for v, n, u, _c, _s, _h in DRUGS))

# ---------------------------------------------------------------------------------------------
# Pump limits and defaults.
# ---------------------------------------------------------------------------------------------
PUMP = {
    "rate_min_ul_per_day": 48,
    "rate_max_ul_per_day": 24_000,
    "capacity_ul": 20_000,
    "low_reservoir_ul": 2_000,
    "min_reservoir_days": 7,
    "max_flex_steps": 24,
    "ptm_lockout_min_min": 10,
    "ptm_lockout_max_min": 1_440,
    "ptm_activations_max": 24,
    "bolus_duration_min_s": 60,
    "bolus_duration_max_s": 86_400,
    "battery_eri_pct": 10,
    "battery_life_days": 2_190,
    "auth_max_failures": 3,
    "auth_lockout_s": 300,
    "nonce_lifetime_s": 60,
    "log_capacity": 512,
    "max_active_alarms": 16,
}


# ---------------------------------------------------------------------------------------------
# Layouts. A field is (name, kind, unit, doc) plus optional code set or range.
# kinds: u8 u16 u32 u64 | ("bytes", n) | ("text", max) | ("list", struct, max) | ("struct", name)
# ---------------------------------------------------------------------------------------------
class Field(NamedTuple):
    name: str
    kind: object
    unit: str = ""
    doc: str = ""
    codes: str = ""  # name of a CodeSet the value must belong to
    min: int = 0
    max: int = -1  # -1: the kind's maximum


def f(name, kind, doc="", unit="", codes="", min=0, max=-1):
    return Field(name, kind, unit, doc, codes, min, max)


def list_of(struct, max_count):
    return ("list", struct, max_count)


def struct(name):
    return ("struct", name)


STRUCTS = {
    "flex_step": (
        f("start_min", "u16", "minute of the day the step starts", "min", max=1439),
        f("dose_rate_ug_per_day", "u32", "dose rate during the step, as µg per day", "µg/day"),
    ),
    "prescription": (
        f("drug", "u8", "drug the prescription is for", codes="drug", min=1),
        f("concentration_ug_per_ml", "u32", "concentration the volume rates are computed from", "µg/mL",
          min=1),
        f("mode", "u8", "therapy mode", codes="therapy_mode", min=1),
        f("daily_dose_ug", "u32", "basal dose per day (SIMPLE_CONTINUOUS; ignored for FLEX)", "µg"),
        f("steps", list_of("flex_step", 24), "FLEX steps, sorted by start minute, the first at minute 0"),
        f("ptm_dose_ug", "u32", "dose per PTM activation; 0 disables PTM boluses", "µg"),
        f("ptm_lockout_min", "u16", "minimum minutes between PTM activations", "min"),
        f("ptm_max_per_24h", "u8", "maximum PTM activations per rolling 24 h"),
        f("max_daily_dose_ug", "u32", "ceiling for basal + boluses in any rolling 24 h", "µg"),
        f("refill_interval_days", "u16", "days until the next planned refill", "days"),
    ),
    "finding": (
        f("limit", "u8", "the limit", codes="limit"),
        f("severity", "u8", "soft or hard", codes="severity"),
        f("limit_value", "u32", "the limit's value, in the unit of the checked quantity"),
        f("actual_value", "u32", "the prescription's value of the checked quantity"),
    ),
    "alarm_entry": (
        f("code", "u8", "alarm code", codes="alarm"),
        f("priority", "u8", "priority", codes="priority"),
        f("latching", "u8", "1 if latching", max=1),
        f("state", "u8", "active or latched", codes="alarm_state"),
        f("instance", "u16", "instance number, new each time the alarm is raised"),
        f("raised_s", "u32", "pump clock when raised", "s"),
        f("announce_count", "u8", "announcements so far (1 = the first)"),
    ),
    "log_entry": (
        f("index", "u32", "monotonic entry index"),
        f("clock_s", "u32", "pump clock", "s"),
        f("kind", "u8", "entry kind", codes="log_kind"),
        f("code", "u8", "kind-specific code"),
        f("value", "u32", "kind-specific value"),
        f("value2", "u32", "kind-specific second value"),
    ),
}


class Message(NamedTuple):
    id: int
    name: str
    doc: str
    request: tuple
    response: tuple
    role: str = "CLINICIAN"  # minimum role: NONE, PATIENT or CLINICIAN
    state_changing: bool = False  # answered from the exactly-once cache when repeated
    test_control: bool = False  # accepted only in test mode
    event: bool = False  # pump-originated EVENT; `request` holds its payload


ERROR_LAYOUT = (
    f("code", "u8", "error code", codes="error"),
    f("subject", "u8", "limit, field position, role or alarm code, as the error code says"),
    f("limit_value", "u32", "the limit that applied"),
    f("actual_value", "u32", "the value that broke it"),
)

PRESCRIPTION = f("prescription", struct("prescription"), "the prescription")
PRESCRIPTION_ANSWER = (f("version", "u16", "incremented by every PROGRAM_PRESCRIPTION"), PRESCRIPTION)
STATUS_FIELDS = (
    f("clock_s", "u32", "pump clock", "s"),
    f("therapy_state", "u8", "therapy state", codes="therapy_state"),
    f("mode", "u8", "therapy mode", codes="therapy_mode"),
    f("drug", "u8", "drug in the reservoir", codes="drug"),
    f("concentration_ug_per_ml", "u32", "concentration in the reservoir", "µg/mL"),
    f("reservoir_ul", "u32", "volume in the reservoir", "µL"),
    f("capacity_ul", "u32", "reservoir capacity", "µL"),
    f("basal_rate_ug_per_day", "u32", "current basal dose rate", "µg/day"),
    f("basal_rate_ul_per_day", "u32", "current basal volume rate", "µL/day"),
    f("bolus_remaining_ug", "u32", "dose left in the running bolus", "µg"),
    f("delivered_24h_ug", "u32", "delivered in the last rolling 24 h", "µg"),
    f("battery_state", "u8", "battery state", codes="battery_state"),
    f("battery_pct", "u8", "battery left", "%", max=100),
    f("days_to_low_reservoir", "u16", "at the current rate; 65535 = never", "days"),
    f("days_to_empty", "u16", "at the current rate; 65535 = never", "days"),
    f("role", "u8", "this session's role", codes="role"),
    f("active_alarms", list_of("alarm_code", 16), "codes of active alarms"),
)

FINDINGS = f("findings", list_of("finding", 16), "every limit finding")

MESSAGES = (
    # ---- session -----------------------------------------------------------------------------
    Message(0x01, "HELLO", "Identify the pump and start a session. Resets the role to NONE. A new "
            "host_session_id also clears the exactly-once cache; a host reconnecting after a link "
            "drop sends the same id to keep its retransmissions safe.",
            request=(f("host_session_id", "u32", "random per host session"),
                     f("protocol_version", "u8", "the host's protocol version", min=1, max=255)),
            response=(f("magic", ("bytes", 4), "always PMCK"),
                      f("banner", ("text", 32), "always NOT FOR CLINICAL USE"),
                      f("protocol_version", "u8", "the pump's protocol version"),
                      f("firmware_version", "u16", "major * 256 + minor"),
                      f("serial", ("text", 16), "mock serial number"),
                      f("test_mode", "u8", "1 if test control is enabled", max=1),
                      f("capacity_ul", "u32", "reservoir capacity", "µL")),
            role="NONE"),
    Message(0x02, "AUTH_CHALLENGE", "Ask for a single-use nonce to authenticate as a role.",
            request=(f("role", "u8", "role wanted", codes="role", min=1),),
            response=(f("nonce", ("bytes", 16), "single use, valid for nonce_lifetime_s"),),
            role="NONE"),
    Message(0x03, "AUTH_RESPONSE", "Prove the role: mac = HMAC-SHA256(role key, nonce + serial + "
            "role byte). A wrong, replayed or expired mac is UNAUTHORIZED; auth_max_failures "
            "failures lock authentication out for auth_lockout_s. A retransmission (same seq) gets the cached "
            "answer, so a lost answer does not burn the nonce.",
            request=(f("role", "u8", "role wanted", codes="role", min=1),
                     f("mac", ("bytes", 32), "HMAC-SHA256")),
            response=(f("role", "u8", "role now held", codes="role"),),
            role="NONE", state_changing=True),
    Message(0x04, "LOGOUT", "Drop the session role to NONE.",
            request=(), response=(), role="NONE", state_changing=True),
    # ---- interrogation ---------------------------------------------------------------------------
    Message(0x10, "GET_STATUS", "Read the pump's status.",
            request=(),
            response=STATUS_FIELDS,
            role="PATIENT"),
    Message(0x11, "GET_PRESCRIPTION", "Read the programmed prescription.",
            request=(),
            response=PRESCRIPTION_ANSWER),
    Message(0x12, "VALIDATE_PRESCRIPTION", "Check a prescription against the drug library, the pump "
            "and the reservoir without applying it; returns every finding.",
            request=(PRESCRIPTION,), response=(FINDINGS,)),
    Message(0x13, "PROGRAM_PRESCRIPTION", "Program a prescription. Any hard finding refuses it "
            "(HARD_LIMIT); soft findings refuse it (SOFT_LIMIT_NEEDS_OVERRIDE) unless `overrides` "
            "names exactly the soft findings' limits (else OVERRIDE_MISMATCH).",
            request=(f("overrides", list_of("limit_code", 16), "soft limits the clinician confirmed"),
                     PRESCRIPTION),
            response=(f("version", "u16", "the new prescription version"), FINDINGS),
            state_changing=True),
    # ---- therapy -----------------------------------------------------------------------------
    Message(0x20, "REFILL", "Record a refill: the old drug is emptied (its volume withdrawn), then "
            "volume_added_ul of the given drug and concentration is in the reservoir.",
            request=(f("drug", "u8", "drug filled", codes="drug", min=1),
                     f("concentration_ug_per_ml", "u32", "its concentration", "µg/mL", min=1),
                     f("volume_added_ul", "u32", "volume filled", "µL", min=1)),
            response=(f("reservoir_ul", "u32", "volume now in the reservoir", "µL"),
                      f("days_to_empty", "u16", "at the current prescription; 65535 = never", "days")),
            state_changing=True),
    Message(0x21, "CLINICIAN_BOLUS", "Deliver a one-off dose evenly over duration_s.",
            request=(f("kind", "u8", "purpose", codes="bolus_kind"),
                     f("dose_ug", "u32", "dose", "µg", min=1),
                     f("duration_s", "u32", "delivery time", "s")),
            response=(f("volume_ul", "u32", "volume the dose takes", "µL"),
                      f("ends_s", "u32", "pump clock when it will end", "s")),
            state_changing=True),
    Message(0x22, "PTM_BOLUS", "Patient-activated bolus of the prescription's PTM dose.",
            request=(),
            response=(f("dose_ug", "u32", "dose started", "µg"),
                      f("activations_24h", "u8", "activations in the rolling 24 h, this one included"),
                      f("next_allowed_s", "u32", "pump clock when the lockout ends", "s")),
            role="PATIENT", state_changing=True),
    Message(0x23, "SUSPEND", "Suspend therapy (basal and any running bolus).",
            request=(), response=(f("therapy_state", "u8", "new state", codes="therapy_state"),),
            state_changing=True),
    Message(0x24, "RESUME", "Resume suspended therapy.",
            request=(), response=(f("therapy_state", "u8", "new state", codes="therapy_state"),),
            state_changing=True),
    # ---- alarms ------------------------------------------------------------------------------
    Message(0x30, "GET_ALARMS", "List active and latched alarms.",
            request=(),
            response=(f("alarms", list_of("alarm_entry", 16), "alarms needing attention"),),
            role="PATIENT"),
    Message(0x31, "ACK_ALARM", "Acknowledge an alarm instance: stops re-announcement; a latched "
            "alarm whose cause has ended is removed.",
            request=(f("code", "u8", "alarm code", codes="alarm"),
                     f("instance", "u16", "instance from ALARM_RAISED or GET_ALARMS")),
            response=(f("remaining", "u8", "alarms still listed"),),
            state_changing=True),
    # ---- log ---------------------------------------------------------------------------------
    Message(0x40, "READ_LOG", "Read up to max_entries log entries from start_index on. The log is a "
            "ring buffer; entries older than oldest_index are gone.",
            request=(f("start_index", "u32", "first index wanted"),
                     f("max_entries", "u8", "page size", min=1, max=12)),
            response=(f("oldest_index", "u32", "oldest index still held"),
                      f("next_index", "u32", "index the next entry will get"),
                      f("entries", list_of("log_entry", 12), "entries in index order"))),
    # ---- test control (test mode only) -------------------------------------------------------
    Message(0x60, "TC_RESET", "Factory state (test mode kept): empty log, no prescription, full "
            "battery, reservoir empty, clock at 0, caches cleared.",
            request=(f("seed", "u32", "seeds the nonce generator"),), response=(),
            role="NONE", test_control=True),
    Message(0x61, "TC_INJECT_FAULT", "Inject a fault.",
            request=(f("fault", "u8", "fault", codes="fault"),),
            response=(f("alarm", "u8", "alarm raised (0 for LOW_BATTERY before ERI)", codes="alarm", min=0),),
            role="NONE", test_control=True),
    Message(0x62, "TC_CLEAR_FAULT", "Remove a fault's cause (a latching alarm still needs ACK).",
            request=(f("fault", "u8", "fault", codes="fault"),), response=(),
            role="NONE", test_control=True),
    Message(0x63, "TC_SET_RESERVOIR", "Set the reservoir volume (drug and concentration kept).",
            request=(f("reservoir_ul", "u32", "volume", "µL"),), response=(),
            role="NONE", test_control=True),
    Message(0x64, "TC_SET_BATTERY", "Set the battery level.",
            request=(f("battery_pct", "u8", "level", "%", max=100),), response=(),
            role="NONE", test_control=True),
    Message(0x65, "TC_WARP_CLOCK", "Advance the pump clock, delivering and alarming as if the time "
            "had passed.",
            request=(f("advance_s", "u32", "seconds to advance", "s"),),
            response=(f("clock_s", "u32", "new pump clock", "s"),),
            role="NONE", test_control=True),
    Message(0x66, "TC_POWER_LOSS", "Simulate a power loss. cut_after_bytes = 0 reboots now from "
            "non-volatile storage (the response is sent after the reboot); N > 0 arms a cut at the "
            "N-th byte of the next storage writes.",
            request=(f("cut_after_bytes", "u32", "0 = now"),),
            response=(f("reboots", "u16", "reboot count"),),
            role="NONE", test_control=True),
    Message(0x67, "TC_READ_COUNTERS", "Read internal counters.",
            request=(),
            response=(f("requests_executed", "u32", "requests executed (not answered from cache)"),
                      f("dedup_hits", "u32", "requests answered from the exactly-once cache"),
                      f("frames_bad", "u32", "frames dropped: CRC, COBS or size"),
                      f("naks_sent", "u32", "NAK frames sent"),
                      f("boluses_delivered", "u32", "boluses started"),
                      f("delivered_ug", "u32", "total dose delivered since reset", "µg"),
                      f("delivered_ul", "u32", "total volume delivered since reset", "µL"),
                      f("filled_ul", "u32", "total volume filled since reset", "µL"),
                      f("removed_ul", "u32", "total volume withdrawn at refills since reset", "µL"),
                      f("reboots", "u16", "reboots since reset")),
            role="NONE", test_control=True),
    Message(0x68, "TC_GET_STATUS", "GET_STATUS without a session role: lets a test watch the pump "
            "while an app holds the session, without touching the app's role.",
            request=(), response=STATUS_FIELDS, role="NONE", test_control=True),
    Message(0x69, "TC_GET_PRESCRIPTION", "GET_PRESCRIPTION without a session role (see TC_GET_STATUS).",
            request=(), response=PRESCRIPTION_ANSWER, role="NONE", test_control=True),
    Message(0x6A, "TC_GET_ALARMS", "GET_ALARMS without a session role (see TC_GET_STATUS).",
            request=(), response=(f("alarms", list_of("alarm_entry", 16), "alarms needing attention"),),
            role="NONE", test_control=True),
    Message(0x6B, "TC_GET_CLOCK", "The pump clock to the millisecond, read when this request is handled: "
            "a host on a real clock learns the exact moment the pump handled what it sent with it.",
            request=(), response=(f("clock_ms", "u64", "pump clock", "ms"),),
            role="NONE", test_control=True),
    Message(0x6C, "TC_HEAP_INFO", "The firmware's heap, for a bench on a small board: free and used bytes "
            "after a garbage collection now, the extremes seen at the firmware's watch points (after each "
            "input, each save and each load) since the previous TC_HEAP_INFO, and the largest single buffer "
            "its storage layer asked for in that time. The first TC_HEAP_INFO since boot starts the watch. "
            "A heap figure of 0 means the port cannot tell (CPython has no gc.mem_free).",
            request=(),
            response=(f("free_bytes", "u32", "gc.mem_free() after gc.collect(), now; 0 = unknown"),
                      f("low_free_bytes", "u32", "lowest free_bytes at a watch point since the last "
                        "TC_HEAP_INFO; 0 = unknown"),
                      f("used_bytes", "u32", "gc.mem_alloc() after gc.collect(), now; 0 = unknown"),
                      f("peak_used_bytes", "u32", "highest used_bytes at a watch point since the last "
                        "TC_HEAP_INFO; 0 = unknown"),
                      f("largest_buffer_bytes", "u32", "largest single buffer a storage read or write, or a "
                        "state record body, needed since the last TC_HEAP_INFO")),
            role="NONE", test_control=True),
    # ---- events (pump to host) ---------------------------------------------------------------
    Message(0x80, "ALARM_RAISED", "An alarm was raised or re-announced (announce_count > 1 means "
            "the same instance again, not a new alarm).",
            request=STRUCTS["alarm_entry"], response=(), role="NONE", event=True),
    Message(0x81, "ALARM_CLEARED", "An alarm instance left the active list.",
            request=(f("code", "u8", "alarm code", codes="alarm"),
                     f("instance", "u16", "instance"),
                     f("cleared_s", "u32", "pump clock", "s")),
            response=(), role="NONE", event=True),
)

# Single-byte list items: an alarm code or a limit code.
STRUCTS["alarm_code"] = (f("code", "u8", "alarm code", codes="alarm"),)
STRUCTS["limit_code"] = (f("limit", "u8", "limit code", codes="limit"),)

CODE_SETS = {cs.name: cs for cs in (FRAME_KIND, ROLE, THERAPY_MODE, THERAPY_STATE, BATTERY_STATE,
                                     BOLUS_KIND, SEVERITY, PRIORITY, ALARM_STATE, FAULT, LOG_KIND,
                                     ALARM, LIMIT, ERROR, DRUG)}
MESSAGES_BY_ID = {m.id: m for m in MESSAGES}
MESSAGES_BY_NAME = {m.name: m for m in MESSAGES}

KIND_SIZE = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}
KIND_MAX = {"u8": 0xFF, "u16": 0xFFFF, "u32": 0xFFFFFFFF, "u64": 0xFFFFFFFFFFFFFFFF}


def field_max(field):
    """The largest value a scalar field accepts."""
    return KIND_MAX[field.kind] if field.max < 0 else field.max
