"""The protocol catalog as plain data for the firmware (runs on MicroPython).

GENERATED from protocol/catalog.py by `python -m pumpmock.protocol.firmware_gen`: do not edit.
Layout fields are (name, kind, arg, min, max, code set): kinds B H I Q are little-endian
u8 u16 u32 u64; b fixed bytes (arg = size); t u8-length-prefixed ASCII (arg = max);
L u8-count-prefixed list (arg = (item layout, max count, bare single value));
S nested struct (arg = layout).
"""

PROTOCOL_VERSION = 1
MAGIC = b'PMCK'
BANNER = 'NOT FOR CLINICAL USE'
HEADER_SIZE = 5
CRC_SIZE = 2
MAX_PAYLOAD = 240
MAX_BODY = 247
MAX_ENCODED = 248
EVENT_RETRY_MS = 500
EVENT_MAX_RETRIES = 5
DEDUP_CACHE_SIZE = 32

# Code constants, prefixed by code set.
K_REQUEST = 0
K_RESPONSE = 1
K_EVENT = 2
K_ACK = 3
K_NAK = 4
ROLE_NONE = 0
ROLE_PATIENT = 1
ROLE_CLINICIAN = 2
MODE_NONE = 0
MODE_SIMPLE_CONTINUOUS = 1
MODE_FLEX = 2
STATE_NOT_PROGRAMMED = 0
STATE_RUNNING = 1
STATE_SUSPENDED = 2
STATE_STOPPED = 3
BATT_OK = 0
BATT_ERI = 1
BATT_EOS = 2
BOLUS_BRIDGE = 1
BOLUS_PRIMING = 2
BOLUS_CLINICIAN = 3
SEV_SOFT = 1
SEV_HARD = 2
PRIO_LOW = 1
PRIO_MEDIUM = 2
PRIO_HIGH = 3
ALST_ACTIVE = 1
ALST_LATCHED = 2
FAULT_MOTOR_STALL = 1
FAULT_CATHETER_OCCLUSION = 2
FAULT_MEMORY_ERROR = 3
FAULT_LOW_BATTERY = 4
LOG_POWER_UP = 1
LOG_BASAL = 2
LOG_BOLUS = 3
LOG_PROGRAM = 4
LOG_REFILL = 5
LOG_ALARM_RAISED = 6
LOG_ALARM_CLEARED = 7
LOG_ALARM_ACKED = 8
LOG_SUSPEND = 9
LOG_RESUME = 10
LOG_AUTH = 11
LOG_PTM_REFUSED = 12
LOG_TEST_CONTROL = 13
AL_MOTOR_STALL = 1
AL_EMPTY_RESERVOIR = 2
AL_END_OF_SERVICE = 3
AL_MEMORY_ERROR = 4
AL_CATHETER_OCCLUSION = 5
AL_LOW_RESERVOIR = 6
AL_ELECTIVE_REPLACEMENT = 7
AL_DAILY_MAX_REACHED = 8
AL_PTM_LOCKOUT = 9
LIM_CONCENTRATION_MAX = 1
LIM_DAILY_DOSE_SOFT = 2
LIM_DAILY_DOSE_HARD = 3
LIM_MAX_DAILY_SOFT = 4
LIM_MAX_DAILY_HARD = 5
LIM_MAX_DAILY_BELOW_PLAN = 6
LIM_RATE_MIN = 7
LIM_RATE_MAX = 8
LIM_RESERVOIR_DURATION = 9
LIM_CONCENTRATION_MISMATCH = 10
LIM_DRUG_MISMATCH = 11
LIM_PTM_LOCKOUT_RANGE = 12
LIM_PTM_ACTIVATIONS_RANGE = 13
LIM_PTM_DOSE_MAX = 14
LIM_SCHEDULE_INVALID = 15
LIM_DAILY_MAX_24H = 16
LIM_PTM_LOCKOUT = 17
LIM_PTM_ACTIVATIONS = 18
LIM_RESERVOIR_VOLUME = 19
LIM_RESERVOIR_CAPACITY = 20
LIM_BOLUS_DURATION = 21
E_UNKNOWN_MESSAGE = 1
E_BAD_LENGTH = 2
E_BAD_VERSION = 3
E_OUT_OF_RANGE = 4
E_UNAUTHORIZED = 5
E_WRONG_ROLE = 6
E_AUTH_LOCKED_OUT = 7
E_HARD_LIMIT = 8
E_SOFT_LIMIT_NEEDS_OVERRIDE = 9
E_OVERRIDE_MISMATCH = 10
E_LOCKOUT_ACTIVE = 11
E_MAX_ACTIVATIONS = 12
E_DAILY_MAX_REACHED = 13
E_RESERVOIR_INSUFFICIENT = 14
E_THERAPY_STOPPED = 15
E_NOT_PROGRAMMED = 16
E_BUSY = 17
E_NOT_IN_TEST_MODE = 18
E_SEQUENCE_REUSED = 19
E_NO_SUCH_ALARM = 20
E_INVALID_STATE = 21
E_PTM_DISABLED = 22
DRUG_NONE = 0
DRUG_MORPHINE = 1
DRUG_HYDROMORPHONE = 2
DRUG_ZICONOTIDE = 3
DRUG_FENTANYL = 4
DRUG_BUPIVACAINE = 5
DRUG_CLONIDINE = 6
DRUG_BACLOFEN = 7

# Valid values of each code set.
CODE_SETS = {
    'frame_kind': (0, 1, 2, 3, 4),
    'role': (0, 1, 2),
    'therapy_mode': (0, 1, 2),
    'therapy_state': (0, 1, 2, 3),
    'battery_state': (0, 1, 2),
    'bolus_kind': (1, 2, 3),
    'severity': (1, 2),
    'priority': (1, 2, 3),
    'alarm_state': (1, 2),
    'fault': (1, 2, 3, 4),
    'log_kind': (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13),
    'alarm': (1, 2, 3, 4, 5, 6, 7, 8, 9),
    'limit': (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21),
    'error': (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22),
    'drug': (0, 1, 2, 3, 4, 5, 6, 7),
}

# Drug library: drug -> (max concentration µg/mL, soft max µg/day, hard max µg/day).
DRUGS = {
    1: (20000, 10000, 15000),  # MORPHINE
    2: (15000, 6000, 10000),  # HYDROMORPHONE
    3: (100, 12, 19),  # ZICONOTIDE
    4: (10000, 500, 1000),  # FENTANYL
    5: (30000, 15000, 20000),  # BUPIVACAINE
    6: (1000, 300, 600),  # CLONIDINE
    7: (2000, 800, 1500),  # BACLOFEN
}

# Alarms: code -> (priority, latching, re-announce interval s).
ALARMS = {
    1: (3, True, 60),  # MOTOR_STALL
    2: (3, False, 60),  # EMPTY_RESERVOIR
    3: (3, True, 60),  # END_OF_SERVICE
    4: (3, True, 60),  # MEMORY_ERROR
    5: (3, True, 60),  # CATHETER_OCCLUSION
    6: (2, False, 600),  # LOW_RESERVOIR
    7: (2, False, 600),  # ELECTIVE_REPLACEMENT
    8: (1, False, 3600),  # DAILY_MAX_REACHED
    9: (1, False, 3600),  # PTM_LOCKOUT
}

# Pump limits and defaults.
RATE_MIN_UL_PER_DAY = 48
RATE_MAX_UL_PER_DAY = 24000
CAPACITY_UL = 20000
LOW_RESERVOIR_UL = 2000
MIN_RESERVOIR_DAYS = 7
MAX_FLEX_STEPS = 24
PTM_LOCKOUT_MIN_MIN = 10
PTM_LOCKOUT_MAX_MIN = 1440
PTM_ACTIVATIONS_MAX = 24
BOLUS_DURATION_MIN_S = 60
BOLUS_DURATION_MAX_S = 86400
BATTERY_ERI_PCT = 10
BATTERY_LIFE_DAYS = 2190
AUTH_MAX_FAILURES = 3
AUTH_LOCKOUT_S = 300
NONCE_LIFETIME_S = 60
LOG_CAPACITY = 512
MAX_ACTIVE_ALARMS = 16

ROLE_OF = {'NONE': 0, 'PATIENT': 1, 'CLINICIAN': 2}

# Messages: id -> (name, minimum role, state changing, test control).
MESSAGES = {
    0x01: ('HELLO', ROLE_NONE, False, False),
    0x02: ('AUTH_CHALLENGE', ROLE_NONE, False, False),
    0x03: ('AUTH_RESPONSE', ROLE_NONE, True, False),
    0x04: ('LOGOUT', ROLE_NONE, True, False),
    0x10: ('GET_STATUS', ROLE_PATIENT, False, False),
    0x11: ('GET_PRESCRIPTION', ROLE_CLINICIAN, False, False),
    0x12: ('VALIDATE_PRESCRIPTION', ROLE_CLINICIAN, False, False),
    0x13: ('PROGRAM_PRESCRIPTION', ROLE_CLINICIAN, True, False),
    0x20: ('REFILL', ROLE_CLINICIAN, True, False),
    0x21: ('CLINICIAN_BOLUS', ROLE_CLINICIAN, True, False),
    0x22: ('PTM_BOLUS', ROLE_PATIENT, True, False),
    0x23: ('SUSPEND', ROLE_CLINICIAN, True, False),
    0x24: ('RESUME', ROLE_CLINICIAN, True, False),
    0x30: ('GET_ALARMS', ROLE_PATIENT, False, False),
    0x31: ('ACK_ALARM', ROLE_CLINICIAN, True, False),
    0x40: ('READ_LOG', ROLE_CLINICIAN, False, False),
    0x60: ('TC_RESET', ROLE_NONE, False, True),
    0x61: ('TC_INJECT_FAULT', ROLE_NONE, False, True),
    0x62: ('TC_CLEAR_FAULT', ROLE_NONE, False, True),
    0x63: ('TC_SET_RESERVOIR', ROLE_NONE, False, True),
    0x64: ('TC_SET_BATTERY', ROLE_NONE, False, True),
    0x65: ('TC_WARP_CLOCK', ROLE_NONE, False, True),
    0x66: ('TC_POWER_LOSS', ROLE_NONE, False, True),
    0x67: ('TC_READ_COUNTERS', ROLE_NONE, False, True),
    0x68: ('TC_GET_STATUS', ROLE_NONE, False, True),
    0x69: ('TC_GET_PRESCRIPTION', ROLE_NONE, False, True),
    0x6a: ('TC_GET_ALARMS', ROLE_NONE, False, True),
    0x6b: ('TC_GET_CLOCK', ROLE_NONE, False, True),
    0x6c: ('TC_HEAP_INFO', ROLE_NONE, False, True),
}
EVENTS = {
    0x80: 'ALARM_RAISED',
    0x81: 'ALARM_CLEARED',
}

ID_HELLO = 0x01
ID_AUTH_CHALLENGE = 0x02
ID_AUTH_RESPONSE = 0x03
ID_LOGOUT = 0x04
ID_GET_STATUS = 0x10
ID_GET_PRESCRIPTION = 0x11
ID_VALIDATE_PRESCRIPTION = 0x12
ID_PROGRAM_PRESCRIPTION = 0x13
ID_REFILL = 0x20
ID_CLINICIAN_BOLUS = 0x21
ID_PTM_BOLUS = 0x22
ID_SUSPEND = 0x23
ID_RESUME = 0x24
ID_GET_ALARMS = 0x30
ID_ACK_ALARM = 0x31
ID_READ_LOG = 0x40
ID_TC_RESET = 0x60
ID_TC_INJECT_FAULT = 0x61
ID_TC_CLEAR_FAULT = 0x62
ID_TC_SET_RESERVOIR = 0x63
ID_TC_SET_BATTERY = 0x64
ID_TC_WARP_CLOCK = 0x65
ID_TC_POWER_LOSS = 0x66
ID_TC_READ_COUNTERS = 0x67
ID_TC_GET_STATUS = 0x68
ID_TC_GET_PRESCRIPTION = 0x69
ID_TC_GET_ALARMS = 0x6a
ID_TC_GET_CLOCK = 0x6b
ID_TC_HEAP_INFO = 0x6c
ID_ALARM_RAISED = 0x80
ID_ALARM_CLEARED = 0x81

# Payload layouts by message id.
REQUEST = {
    0x01: (('host_session_id', 'I', None, 0, 4294967295, None), ('protocol_version', 'B', None, 1, 255, None)),
    0x02: (('role', 'B', None, 1, 255, 'role'),),
    0x03: (('role', 'B', None, 1, 255, 'role'), ('mac', 'b', 32, 0, 0, None)),
    0x04: (),
    0x10: (),
    0x11: (),
    0x12: (('prescription', 'S', (('drug', 'B', None, 1, 255, 'drug'), ('concentration_ug_per_ml', 'I', None, 1, 4294967295, None), ('mode', 'B', None, 1, 255, 'therapy_mode'), ('daily_dose_ug', 'I', None, 0, 4294967295, None), ('steps', 'L', ((('start_min', 'H', None, 0, 1439, None), ('dose_rate_ug_per_day', 'I', None, 0, 4294967295, None)), 24, False), 0, 24, None), ('ptm_dose_ug', 'I', None, 0, 4294967295, None), ('ptm_lockout_min', 'H', None, 0, 65535, None), ('ptm_max_per_24h', 'B', None, 0, 255, None), ('max_daily_dose_ug', 'I', None, 0, 4294967295, None), ('refill_interval_days', 'H', None, 0, 65535, None)), 0, 0, None),),
    0x13: (('overrides', 'L', ((('limit', 'B', None, 0, 255, 'limit'),), 16, True), 0, 16, None), ('prescription', 'S', (('drug', 'B', None, 1, 255, 'drug'), ('concentration_ug_per_ml', 'I', None, 1, 4294967295, None), ('mode', 'B', None, 1, 255, 'therapy_mode'), ('daily_dose_ug', 'I', None, 0, 4294967295, None), ('steps', 'L', ((('start_min', 'H', None, 0, 1439, None), ('dose_rate_ug_per_day', 'I', None, 0, 4294967295, None)), 24, False), 0, 24, None), ('ptm_dose_ug', 'I', None, 0, 4294967295, None), ('ptm_lockout_min', 'H', None, 0, 65535, None), ('ptm_max_per_24h', 'B', None, 0, 255, None), ('max_daily_dose_ug', 'I', None, 0, 4294967295, None), ('refill_interval_days', 'H', None, 0, 65535, None)), 0, 0, None)),
    0x20: (('drug', 'B', None, 1, 255, 'drug'), ('concentration_ug_per_ml', 'I', None, 1, 4294967295, None), ('volume_added_ul', 'I', None, 1, 4294967295, None)),
    0x21: (('kind', 'B', None, 0, 255, 'bolus_kind'), ('dose_ug', 'I', None, 1, 4294967295, None), ('duration_s', 'I', None, 0, 4294967295, None)),
    0x22: (),
    0x23: (),
    0x24: (),
    0x30: (),
    0x31: (('code', 'B', None, 0, 255, 'alarm'), ('instance', 'H', None, 0, 65535, None)),
    0x40: (('start_index', 'I', None, 0, 4294967295, None), ('max_entries', 'B', None, 1, 12, None)),
    0x60: (('seed', 'I', None, 0, 4294967295, None),),
    0x61: (('fault', 'B', None, 0, 255, 'fault'),),
    0x62: (('fault', 'B', None, 0, 255, 'fault'),),
    0x63: (('reservoir_ul', 'I', None, 0, 4294967295, None),),
    0x64: (('battery_pct', 'B', None, 0, 100, None),),
    0x65: (('advance_s', 'I', None, 0, 4294967295, None),),
    0x66: (('cut_after_bytes', 'I', None, 0, 4294967295, None),),
    0x67: (),
    0x68: (),
    0x69: (),
    0x6a: (),
    0x6b: (),
    0x6c: (),
}
RESPONSE = {
    0x01: (('magic', 'b', 4, 0, 0, None), ('banner', 't', 32, 0, 32, None), ('protocol_version', 'B', None, 0, 255, None), ('firmware_version', 'H', None, 0, 65535, None), ('serial', 't', 16, 0, 16, None), ('test_mode', 'B', None, 0, 1, None), ('capacity_ul', 'I', None, 0, 4294967295, None)),
    0x02: (('nonce', 'b', 16, 0, 0, None),),
    0x03: (('role', 'B', None, 0, 255, 'role'),),
    0x04: (),
    0x10: (('clock_s', 'I', None, 0, 4294967295, None), ('therapy_state', 'B', None, 0, 255, 'therapy_state'), ('mode', 'B', None, 0, 255, 'therapy_mode'), ('drug', 'B', None, 0, 255, 'drug'), ('concentration_ug_per_ml', 'I', None, 0, 4294967295, None), ('reservoir_ul', 'I', None, 0, 4294967295, None), ('capacity_ul', 'I', None, 0, 4294967295, None), ('basal_rate_ug_per_day', 'I', None, 0, 4294967295, None), ('basal_rate_ul_per_day', 'I', None, 0, 4294967295, None), ('bolus_remaining_ug', 'I', None, 0, 4294967295, None), ('delivered_24h_ug', 'I', None, 0, 4294967295, None), ('battery_state', 'B', None, 0, 255, 'battery_state'), ('battery_pct', 'B', None, 0, 100, None), ('days_to_low_reservoir', 'H', None, 0, 65535, None), ('days_to_empty', 'H', None, 0, 65535, None), ('role', 'B', None, 0, 255, 'role'), ('active_alarms', 'L', ((('code', 'B', None, 0, 255, 'alarm'),), 16, True), 0, 16, None)),
    0x11: (('version', 'H', None, 0, 65535, None), ('prescription', 'S', (('drug', 'B', None, 1, 255, 'drug'), ('concentration_ug_per_ml', 'I', None, 1, 4294967295, None), ('mode', 'B', None, 1, 255, 'therapy_mode'), ('daily_dose_ug', 'I', None, 0, 4294967295, None), ('steps', 'L', ((('start_min', 'H', None, 0, 1439, None), ('dose_rate_ug_per_day', 'I', None, 0, 4294967295, None)), 24, False), 0, 24, None), ('ptm_dose_ug', 'I', None, 0, 4294967295, None), ('ptm_lockout_min', 'H', None, 0, 65535, None), ('ptm_max_per_24h', 'B', None, 0, 255, None), ('max_daily_dose_ug', 'I', None, 0, 4294967295, None), ('refill_interval_days', 'H', None, 0, 65535, None)), 0, 0, None)),
    0x12: (('findings', 'L', ((('limit', 'B', None, 0, 255, 'limit'), ('severity', 'B', None, 0, 255, 'severity'), ('limit_value', 'I', None, 0, 4294967295, None), ('actual_value', 'I', None, 0, 4294967295, None)), 16, False), 0, 16, None),),
    0x13: (('version', 'H', None, 0, 65535, None), ('findings', 'L', ((('limit', 'B', None, 0, 255, 'limit'), ('severity', 'B', None, 0, 255, 'severity'), ('limit_value', 'I', None, 0, 4294967295, None), ('actual_value', 'I', None, 0, 4294967295, None)), 16, False), 0, 16, None)),
    0x20: (('reservoir_ul', 'I', None, 0, 4294967295, None), ('days_to_empty', 'H', None, 0, 65535, None)),
    0x21: (('volume_ul', 'I', None, 0, 4294967295, None), ('ends_s', 'I', None, 0, 4294967295, None)),
    0x22: (('dose_ug', 'I', None, 0, 4294967295, None), ('activations_24h', 'B', None, 0, 255, None), ('next_allowed_s', 'I', None, 0, 4294967295, None)),
    0x23: (('therapy_state', 'B', None, 0, 255, 'therapy_state'),),
    0x24: (('therapy_state', 'B', None, 0, 255, 'therapy_state'),),
    0x30: (('alarms', 'L', ((('code', 'B', None, 0, 255, 'alarm'), ('priority', 'B', None, 0, 255, 'priority'), ('latching', 'B', None, 0, 1, None), ('state', 'B', None, 0, 255, 'alarm_state'), ('instance', 'H', None, 0, 65535, None), ('raised_s', 'I', None, 0, 4294967295, None), ('announce_count', 'B', None, 0, 255, None)), 16, False), 0, 16, None),),
    0x31: (('remaining', 'B', None, 0, 255, None),),
    0x40: (('oldest_index', 'I', None, 0, 4294967295, None), ('next_index', 'I', None, 0, 4294967295, None), ('entries', 'L', ((('index', 'I', None, 0, 4294967295, None), ('clock_s', 'I', None, 0, 4294967295, None), ('kind', 'B', None, 0, 255, 'log_kind'), ('code', 'B', None, 0, 255, None), ('value', 'I', None, 0, 4294967295, None), ('value2', 'I', None, 0, 4294967295, None)), 12, False), 0, 12, None)),
    0x60: (),
    0x61: (('alarm', 'B', None, 0, 255, 'alarm'),),
    0x62: (),
    0x63: (),
    0x64: (),
    0x65: (('clock_s', 'I', None, 0, 4294967295, None),),
    0x66: (('reboots', 'H', None, 0, 65535, None),),
    0x67: (('requests_executed', 'I', None, 0, 4294967295, None), ('dedup_hits', 'I', None, 0, 4294967295, None), ('frames_bad', 'I', None, 0, 4294967295, None), ('naks_sent', 'I', None, 0, 4294967295, None), ('boluses_delivered', 'I', None, 0, 4294967295, None), ('delivered_ug', 'I', None, 0, 4294967295, None), ('delivered_ul', 'I', None, 0, 4294967295, None), ('filled_ul', 'I', None, 0, 4294967295, None), ('removed_ul', 'I', None, 0, 4294967295, None), ('reboots', 'H', None, 0, 65535, None)),
    0x68: (('clock_s', 'I', None, 0, 4294967295, None), ('therapy_state', 'B', None, 0, 255, 'therapy_state'), ('mode', 'B', None, 0, 255, 'therapy_mode'), ('drug', 'B', None, 0, 255, 'drug'), ('concentration_ug_per_ml', 'I', None, 0, 4294967295, None), ('reservoir_ul', 'I', None, 0, 4294967295, None), ('capacity_ul', 'I', None, 0, 4294967295, None), ('basal_rate_ug_per_day', 'I', None, 0, 4294967295, None), ('basal_rate_ul_per_day', 'I', None, 0, 4294967295, None), ('bolus_remaining_ug', 'I', None, 0, 4294967295, None), ('delivered_24h_ug', 'I', None, 0, 4294967295, None), ('battery_state', 'B', None, 0, 255, 'battery_state'), ('battery_pct', 'B', None, 0, 100, None), ('days_to_low_reservoir', 'H', None, 0, 65535, None), ('days_to_empty', 'H', None, 0, 65535, None), ('role', 'B', None, 0, 255, 'role'), ('active_alarms', 'L', ((('code', 'B', None, 0, 255, 'alarm'),), 16, True), 0, 16, None)),
    0x69: (('version', 'H', None, 0, 65535, None), ('prescription', 'S', (('drug', 'B', None, 1, 255, 'drug'), ('concentration_ug_per_ml', 'I', None, 1, 4294967295, None), ('mode', 'B', None, 1, 255, 'therapy_mode'), ('daily_dose_ug', 'I', None, 0, 4294967295, None), ('steps', 'L', ((('start_min', 'H', None, 0, 1439, None), ('dose_rate_ug_per_day', 'I', None, 0, 4294967295, None)), 24, False), 0, 24, None), ('ptm_dose_ug', 'I', None, 0, 4294967295, None), ('ptm_lockout_min', 'H', None, 0, 65535, None), ('ptm_max_per_24h', 'B', None, 0, 255, None), ('max_daily_dose_ug', 'I', None, 0, 4294967295, None), ('refill_interval_days', 'H', None, 0, 65535, None)), 0, 0, None)),
    0x6a: (('alarms', 'L', ((('code', 'B', None, 0, 255, 'alarm'), ('priority', 'B', None, 0, 255, 'priority'), ('latching', 'B', None, 0, 1, None), ('state', 'B', None, 0, 255, 'alarm_state'), ('instance', 'H', None, 0, 65535, None), ('raised_s', 'I', None, 0, 4294967295, None), ('announce_count', 'B', None, 0, 255, None)), 16, False), 0, 16, None),),
    0x6b: (('clock_ms', 'Q', None, 0, 18446744073709551615, None),),
    0x6c: (('free_bytes', 'I', None, 0, 4294967295, None), ('low_free_bytes', 'I', None, 0, 4294967295, None), ('used_bytes', 'I', None, 0, 4294967295, None), ('peak_used_bytes', 'I', None, 0, 4294967295, None), ('largest_buffer_bytes', 'I', None, 0, 4294967295, None)),
}
EVENT = {
    0x80: (('code', 'B', None, 0, 255, 'alarm'), ('priority', 'B', None, 0, 255, 'priority'), ('latching', 'B', None, 0, 1, None), ('state', 'B', None, 0, 255, 'alarm_state'), ('instance', 'H', None, 0, 65535, None), ('raised_s', 'I', None, 0, 4294967295, None), ('announce_count', 'B', None, 0, 255, None)),
    0x81: (('code', 'B', None, 0, 255, 'alarm'), ('instance', 'H', None, 0, 65535, None), ('cleared_s', 'I', None, 0, 4294967295, None)),
}
ERROR_LAYOUT = (('code', 'B', None, 0, 255, 'error'), ('subject', 'B', None, 0, 255, None), ('limit_value', 'I', None, 0, 4294967295, None), ('actual_value', 'I', None, 0, 4294967295, None))
