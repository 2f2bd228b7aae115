"""An independent model of the pumpmock pump, written from docs/PUMP_MODEL.md: the fuzzing oracle.

    model = OracleModel(serial="PM-000001", capacity_ul=20_000)
    frames = model.receive(data, shell_ms)   # [(kind, msg_id, seq, payload)] the pump must send
                                             # (events carry seq None: the pump numbers them)

It imports nothing from firmware_mock: a bug the firmware and its oracle shared could not be
found. Each section below names the section of PUMP_MODEL.md it follows. Integers only.
Differences from the firmware that are deliberate: the model keeps no storage (a power loss
reloads exactly what was last saved, which is the state itself, PUMP_MODEL.md 14) and knows
nothing of event re-sends, which depend on shell time and ACKs, not on the pump's state.
"""

import collections
import struct

from pumpmock.protocol import cobs
from pumpmock.protocol import messages as m
from pumpmock.protocol.auth import auth_mac, role_key
from pumpmock.protocol.catalog import (ALARMS, DEDUP_CACHE_SIZE, DRUGS, MAX_ENCODED, MESSAGES_BY_ID,
                                       MESSAGES_BY_NAME, PUMP, REANNOUNCE_S, STRUCTS, field_max)
from pumpmock.protocol.codes import ENUMS, Error, Limit
from pumpmock.protocol.crc import crc16
from pumpmock.protocol.framing import FrameDecoder

DAY = 86_400_000
HOUR = 3_600_000
MINUTE = 60_000
U32 = 0xFFFFFFFF

REQUEST, RESPONSE, EVENT, ACK, NAK = range(5)
NONE, PATIENT, CLINICIAN = 0, 1, 2
ROLE_OF = {"NONE": NONE, "PATIENT": PATIENT, "CLINICIAN": CLINICIAN}
SIMPLE, FLEX = 1, 2
NOT_PROGRAMMED, RUNNING, SUSPENDED, STOPPED = 0, 1, 2, 3
SOFT, HARD = 1, 2
PTM_KIND = 4  # bolus kind of a PTM bolus in BOLUS log entries

# Alarm codes (11.1) and the five that stop delivery (6.1).
MOTOR_STALL, EMPTY_RESERVOIR, END_OF_SERVICE, MEMORY_ERROR, CATHETER_OCCLUSION = 1, 2, 3, 4, 5
LOW_RESERVOIR, ELECTIVE_REPLACEMENT, DAILY_MAX_REACHED, PTM_LOCKOUT = 6, 7, 8, 9
STOPPING = (MOTOR_STALL, EMPTY_RESERVOIR, END_OF_SERVICE, MEMORY_ERROR, CATHETER_OCCLUSION)
_PRIORITY = {"LOW": 1, "MEDIUM": 2, "HIGH": 3}
ALARM_INFO = {code: (_PRIORITY[priority], latching, REANNOUNCE_S[priority] * 1000)
              for code, _name, priority, latching, _doc in ALARMS}  # code -> (priority, latching, interval ms)

# Faults (13) and the alarm each one causes.
FAULT_ALARM = {1: MOTOR_STALL, 2: CATHETER_OCCLUSION, 3: MEMORY_ERROR, 4: ELECTIVE_REPLACEMENT}

# Log kinds (12).
(LOG_POWER_UP, LOG_BASAL, LOG_BOLUS, LOG_PROGRAM, LOG_REFILL, LOG_ALARM_RAISED, LOG_ALARM_CLEARED,
 LOG_ALARM_ACKED, LOG_SUSPEND, LOG_RESUME, LOG_AUTH, LOG_PTM_REFUSED, LOG_TEST_CONTROL) = range(1, 14)

DRUG_LIMITS = {code: (max_conc, soft, hard) for code, _n, _u, max_conc, soft, hard in DRUGS}
RATE_MIN = PUMP["rate_min_ul_per_day"]
RATE_MAX = PUMP["rate_max_ul_per_day"]
LOW_UL = PUMP["low_reservoir_ul"]
MIN_DAYS = PUMP["min_reservoir_days"]
LOCKOUT_MIN, LOCKOUT_MAX = PUMP["ptm_lockout_min_min"], PUMP["ptm_lockout_max_min"]
ACTIVATIONS_MAX = PUMP["ptm_activations_max"]
BOLUS_MIN_S, BOLUS_MAX_S = PUMP["bolus_duration_min_s"], PUMP["bolus_duration_max_s"]
BATTERY_FULL_MS = PUMP["battery_life_days"] * DAY
BATTERY_ERI_MS = BATTERY_FULL_MS * PUMP["battery_eri_pct"] // 100
AUTH_MAX_FAILURES = PUMP["auth_max_failures"]
AUTH_LOCKOUT_MS = PUMP["auth_lockout_s"] * 1000
NONCE_LIFETIME_MS = PUMP["nonce_lifetime_s"] * 1000
PENDING_NONCE = b"pending-nonc"  # + a u32 counter: 16 bytes, where the model awaits the pump's nonce
LOG_CAPACITY = PUMP["log_capacity"]
MAX_ALARMS = PUMP["max_active_alarms"]
NEVER_DAYS = 65535
FIRMWARE_VERSION = 0x0100
# Message ids the rules name (the catalog's; TC_* also mark test-control log entries, 12).
TC_RESET = MESSAGES_BY_NAME["TC_RESET"].id
TC_INJECT_FAULT = MESSAGES_BY_NAME["TC_INJECT_FAULT"].id
TC_CLEAR_FAULT = MESSAGES_BY_NAME["TC_CLEAR_FAULT"].id
TC_SET_RESERVOIR = MESSAGES_BY_NAME["TC_SET_RESERVOIR"].id
TC_SET_BATTERY = MESSAGES_BY_NAME["TC_SET_BATTERY"].id
TC_WARP_CLOCK = MESSAGES_BY_NAME["TC_WARP_CLOCK"].id
ALARM_RAISED = MESSAGES_BY_NAME["ALARM_RAISED"].id
ALARM_CLEARED = MESSAGES_BY_NAME["ALARM_CLEARED"].id
ALWAYS_SAVING = (TC_RESET, TC_INJECT_FAULT, TC_CLEAR_FAULT, TC_SET_BATTERY, TC_WARP_CLOCK)  # 14: each writes storage
CUT_MAX = 64  # bytes: less than a log entry and a state record together, so no record of the cut save lands


class Refuse(Exception):
    """A NAK: error code, subject, limit value, actual value."""

    def __init__(self, code, subject=0, limit_value=0, actual_value=0):
        super().__init__(code)
        self.values = (int(code), subject, limit_value, actual_value)


def clamp32(value):
    return value if value <= U32 else U32


def ceil_div(a, b):
    return (a + b - 1) // b


def days(volume_ul, daily_ul):
    """7: whole days a volume lasts; 65535 when nothing is used."""
    if daily_ul <= 0:
        return NEVER_DAYS
    return min(volume_ul // daily_ul, NEVER_DAYS - 1)


# ---- 5.1 payload checks, from the catalog's layouts ----------------------------------------------
_SIZE = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}
_FORMAT = {"u8": "<B", "u16": "<H", "u32": "<I", "u64": "<Q"}
_CODE_VALUES = {name: frozenset(int(member) for member in enum) for name, enum in ENUMS.items()}


def _expected_length(fields, payload, offset):
    """The offset after `fields` laid out from `offset`, reading counts where the payload has them."""
    for field in fields:
        kind = field.kind
        if isinstance(kind, str):
            offset += _SIZE[kind]
        elif kind[0] == "bytes":
            offset += kind[1]
        elif kind[0] == "text":
            offset += 1 + (payload[offset] if offset < len(payload) else 0)
        elif kind[0] == "struct":
            offset = _expected_length(STRUCTS[kind[1]], payload, offset)
        else:  # list
            count = payload[offset] if offset < len(payload) else 0
            offset += 1
            for _ in range(count):
                offset = _expected_length(STRUCTS[kind[1]], payload, offset)
    return offset


def _check_fields(fields, payload, offset, position=None):
    """OUT_OF_RANGE for the first field out of its range or code set; returns the end offset."""
    for index, field in enumerate(fields, 1):
        where = position or index  # a nested field reports its top-level field
        kind = field.kind
        if isinstance(kind, str):
            (value,) = struct.unpack_from(_FORMAT[kind], payload, offset)
            offset += _SIZE[kind]
            if value < field.min:
                raise Refuse(Error.OUT_OF_RANGE, where, field.min, value)
            if value > field_max(field):
                raise Refuse(Error.OUT_OF_RANGE, where, field_max(field), value)
            if field.codes and value not in _CODE_VALUES[field.codes]:
                raise Refuse(Error.OUT_OF_RANGE, where, 0, value)
        elif kind[0] == "bytes":
            offset += kind[1]
        elif kind[0] == "text":
            size = payload[offset]
            if size > kind[1]:
                raise Refuse(Error.OUT_OF_RANGE, where, kind[1], size)
            offset += 1 + size
        elif kind[0] == "struct":
            offset = _check_fields(STRUCTS[kind[1]], payload, offset, where)
        else:
            count = payload[offset]
            if count > kind[2]:
                raise Refuse(Error.OUT_OF_RANGE, where, kind[2], count)
            offset += 1
            for _ in range(count):
                offset = _check_fields(STRUCTS[kind[1]], payload, offset, where)
    return offset


def decode_request(msg_id, payload):
    """The typed request, or Refuse(BAD_LENGTH / OUT_OF_RANGE) as 5.1 says."""
    fields = MESSAGES_BY_ID[msg_id].request
    expected = _expected_length(fields, payload, 0)
    if expected != len(payload):
        raise Refuse(Error.BAD_LENGTH, 0, expected, len(payload))
    _check_fields(fields, payload, 0)
    return m.CLASSES[(REQUEST, msg_id)].decode(payload, strict=False)


# ---- 4 frames --------------------------------------------------------------------------------------
def parse_block(block):
    """(version, kind, msg_id, seq, payload) of one block between delimiters, or None if dropped."""
    if len(block) > MAX_ENCODED:
        return None
    try:
        body = cobs.decode(bytes(block))
    except Exception:
        return None
    if len(body) < 7 or crc16(body) != 0 or body[1] > NAK:
        return None
    version, kind, msg_id, seq = struct.unpack_from("<BBBH", body)
    return version, kind, msg_id, seq, body[5:-2]


_PARSED = {}
_PARSED_MAX = 4096


def _parse_remembered(piece):
    """parse_block of a request block ending with its 0x00, remembered: a fuzzer sends the same
    observation frames (a few hundred seqs) at every step."""
    frame = _PARSED.get(piece, _PARSED)
    if frame is _PARSED:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        frame = _PARSED[piece] = parse_block(piece[:-1])
    return frame


# ---- 7 prescriptions -----------------------------------------------------------------------------
def schedule(rx):
    """[(start_min, dose rate µg/day, minutes)]: SIMPLE is one step over the whole day."""
    if rx.mode != FLEX:
        return [(0, rx.daily_dose_ug, 1440)]
    steps = rx.steps
    out = []
    for i, step in enumerate(steps):
        end = steps[i + 1].start_min if i + 1 < len(steps) else 1440
        out.append((step.start_min, step.dose_rate_ug_per_day, max(end - step.start_min, 0)))
    return out


def volume_rate(dose_rate, conc):
    return dose_rate * 1000 // conc


def basal_dose_ug(rx):
    if rx.mode != FLEX:
        return rx.daily_dose_ug
    return sum(rate * minutes for _s, rate, minutes in schedule(rx)) // 1440


def basal_volume_ul(rx):
    conc = rx.concentration_ug_per_ml
    return sum(volume_rate(rate, conc) * minutes for _s, rate, minutes in schedule(rx)) // 1440


def ptm_volume_ul(rx):
    return volume_rate(rx.ptm_dose_ug, rx.concentration_ug_per_ml)


def findings(rx, reservoir_drug, reservoir_conc, reservoir_ul):
    """7.1: [(limit, severity, limit_value, actual_value)] in limit-code order."""
    max_conc, soft, hard = DRUG_LIMITS[rx.drug]
    conc = rx.concentration_ug_per_ml
    basal = basal_dose_ug(rx)
    max_daily = rx.max_daily_dose_ug
    ptm = rx.ptm_dose_ug
    found = []
    if conc > max_conc:
        found.append((Limit.CONCENTRATION_MAX, HARD, max_conc, conc))
    if basal > soft:
        found.append((Limit.DAILY_DOSE_SOFT, SOFT, soft, basal))
    if basal > hard:
        found.append((Limit.DAILY_DOSE_HARD, HARD, hard, basal))
    if max_daily > soft:
        found.append((Limit.MAX_DAILY_SOFT, SOFT, soft, max_daily))
    if max_daily > hard:
        found.append((Limit.MAX_DAILY_HARD, HARD, hard, max_daily))
    if max_daily < basal:
        found.append((Limit.MAX_DAILY_BELOW_PLAN, HARD, basal, max_daily))
    rates = [volume_rate(rate, conc) for _s, rate, _m in schedule(rx)]
    if rates and min(rates) < RATE_MIN:
        found.append((Limit.RATE_MIN, HARD, RATE_MIN, min(rates)))
    if rates and max(rates) > RATE_MAX:
        found.append((Limit.RATE_MAX, HARD, RATE_MAX, max(rates)))
    daily = basal_volume_ul(rx) + (rx.ptm_max_per_24h * ptm_volume_ul(rx) if ptm > 0 else 0)
    need = max(rx.refill_interval_days, MIN_DAYS)
    if daily > 0 and reservoir_ul // daily < need:
        found.append((Limit.RESERVOIR_DURATION, SOFT, need, reservoir_ul // daily))
    if reservoir_drug != 0:
        if conc != reservoir_conc:
            found.append((Limit.CONCENTRATION_MISMATCH, HARD, reservoir_conc, conc))
        if rx.drug != reservoir_drug:
            found.append((Limit.DRUG_MISMATCH, HARD, reservoir_drug, rx.drug))
    if ptm > 0:
        lockout = rx.ptm_lockout_min
        if lockout < LOCKOUT_MIN or lockout > LOCKOUT_MAX:
            found.append((Limit.PTM_LOCKOUT_RANGE, HARD, LOCKOUT_MIN if lockout < LOCKOUT_MIN else LOCKOUT_MAX,
                          lockout))
        count = rx.ptm_max_per_24h
        if count < 1 or count > ACTIVATIONS_MAX:
            found.append((Limit.PTM_ACTIVATIONS_RANGE, HARD, 1 if count < 1 else ACTIVATIONS_MAX, count))
        if ptm > soft:
            found.append((Limit.PTM_DOSE_MAX, HARD, soft, ptm))
    if rx.mode == FLEX:
        problem = None
        if not rx.steps:
            problem = (1, 0)
        elif rx.steps[0].start_min != 0:
            problem = (0, rx.steps[0].start_min)
        else:
            for previous, step in zip(rx.steps, rx.steps[1:]):
                if step.start_min <= previous.start_min:
                    problem = (previous.start_min + 1, step.start_min)
                    break
        if problem:
            found.append((Limit.SCHEDULE_INVALID, HARD) + problem)
    return found


def finding_messages(found):
    return tuple(m.Finding(limit, severity, clamp32(value), clamp32(actual))
                 for limit, severity, value, actual in found)


class Bolus:
    """A bolus in progress (6.1): volume_ul evenly over duration_ms from start_ms."""

    __slots__ = ("kind", "dose_ug", "volume_ul", "start_ms", "duration_ms", "done_ul", "done_ng")

    def __init__(self, kind, dose_ug, volume_ul, start_ms, duration_ms):
        self.kind, self.dose_ug, self.volume_ul = kind, dose_ug, volume_ul
        self.start_ms, self.duration_ms = start_ms, duration_ms
        self.done_ul = self.done_ng = 0

    def moved_by(self, t):
        if t - self.start_ms >= self.duration_ms:
            return self.volume_ul
        return self.volume_ul * (t - self.start_ms) // self.duration_ms

    def copy(self):
        other = Bolus(self.kind, self.dose_ug, self.volume_ul, self.start_ms, self.duration_ms)
        other.done_ul, other.done_ng = self.done_ul, self.done_ng
        return other

    def key(self):
        return (self.kind, self.dose_ug, self.volume_ul, self.start_ms, self.duration_ms, self.done_ul, self.done_ng)


class AlarmInstance:
    """One listed alarm (11.1): acked_count 0 until ACK_ALARM freezes its announce count."""

    __slots__ = ("code", "instance", "raised_ms", "latched", "acked_count")

    def __init__(self, code, instance, raised_ms):
        self.code, self.instance, self.raised_ms = code, instance, raised_ms
        self.latched = False
        self.acked_count = 0

    def count(self, t):
        if self.acked_count:
            return self.acked_count
        return 1 + (t - self.raised_ms) // ALARM_INFO[self.code][2]

    def entry(self, t):
        priority, latching, _interval = ALARM_INFO[self.code]
        return m.AlarmEntry(self.code, priority, int(latching), 2 if self.latched else 1, self.instance,
                            (self.raised_ms // 1000) & U32, min(self.count(t), 255))

    def copy(self):
        other = AlarmInstance(self.code, self.instance, self.raised_ms)
        other.latched, other.acked_count = self.latched, self.acked_count
        return other

    def key(self):
        return (self.code, self.instance, self.raised_ms, self.latched, self.acked_count)


class OracleModel:
    """The fuzz oracle's model of the pump: its state and rules; receive() answers as the pump must
    (PUMP_MODEL.md 2-14). Not firmware_mock.model.PumpModel, the firmware's own therapy state."""

    def __init__(self, serial="PM-000001", capacity_ul=PUMP["capacity_ul"], test_mode=True, seed=0):
        self.serial = serial
        self.capacity_ul = capacity_ul
        self.test_mode = test_mode
        self.keys = {role: role_key(serial, role) for role in (PATIENT, CLINICIAN)}
        self.base = 0  # pump clock = base + shell ms (3)
        self.last_shell = None
        self.requests_executed = self.dedup_hits = self.frames_bad = self.naks_sent = 0
        self.reader = FrameDecoder()  # partial input (4)
        self.out = []
        self.cut_armed = False  # TC_POWER_LOSS(n > 0) waits for the next save
        self.request_seq = None  # the seq of the request being handled
        self.auth_failures = 0
        self.auth_locked_until = 0
        self.factory(seed)

    # ---- state ------------------------------------------------------------------------------------
    def factory(self, seed):
        """TC_RESET (13): everything but the event counter and test mode."""
        self.t = 0
        self.seed = seed
        self.reboots = 0
        self.session_id = None
        self.rx = None
        self.rx_version = 0
        self._set_rx(None)
        self.suspended = False
        self.drug = self.conc = self.reservoir_ul = 0
        self.phase = 0
        self.bolus = None
        self.delivered_ng = self.delivered_ul = self.filled_ul = self.removed_ul = self.boluses = 0
        self.basal_log_ng = self.basal_log_ul = 0
        self.buckets = {}  # clock hour -> ng delivered in it (only the last 25 hours matter)
        self.ptm_history = []
        self.battery_ms = BATTERY_FULL_MS
        self.faults = frozenset()
        self.daily_max_until = self.ptm_lockout_until = 0
        self.alarms = []
        self.last_instance = 0
        self.log = collections.deque(maxlen=LOG_CAPACITY)
        self.log_next = 0
        # (host session, seq) -> (msg_id, payload, answer kind, answer payload): a session's answers
        # outlive another session's HELLO, oldest first out whatever its session
        self.cache = collections.OrderedDict()
        self.requests_executed = self.dedup_hits = self.frames_bad = self.naks_sent = 0
        self.auth_failures = 0
        self.auth_locked_until = 0
        self._volatile()

    def _volatile(self):
        """What a reboot forgets (14): role, authentication, announce bookkeeping, partial input."""
        self.role = NONE
        self.nonce_counter = 0
        self.nonce = None  # (nonce, role, issued ms); failures and lockout are saved (10)
        self.nonce_seq = None  # the seq of the challenge that issued it
        self.announced = {alarm.instance: alarm.count(self.t) for alarm in self.alarms}
        self.reader = FrameDecoder()

    def _set_rx(self, rx):
        self.rx = rx
        self.steps = []  # [(start ms in the day, dose rate µg/day, volume rate µL/day)]
        self.per_day = 0
        self.basal_ul = 0
        if rx is not None:
            conc = rx.concentration_ug_per_ml
            self.steps = [(start * MINUTE, rate, volume_rate(rate, conc)) for start, rate, _m in schedule(rx)]
            self.per_day = self._partial_integral(DAY)
            self.basal_ul = basal_volume_ul(rx)

    def copy(self):
        other = object.__new__(OracleModel)
        other.__dict__.update(self.__dict__)
        other.buckets = dict(self.buckets)
        other.ptm_history = list(self.ptm_history)
        other.alarms = [alarm.copy() for alarm in self.alarms]
        other.bolus = self.bolus.copy() if self.bolus else None
        other.log = collections.deque(self.log, maxlen=LOG_CAPACITY)
        other.cache = collections.OrderedDict(self.cache)
        other.announced = dict(self.announced)
        other.out = list(self.out)
        other.reader = self.reader.copy()
        return other

    def key(self):
        """Everything that can change what the pump does next: equal keys, equal futures."""
        skip = ("out", "bolus", "alarms", "log", "buckets", "cache", "announced", "ptm_history", "steps", "keys")
        plain = tuple(value for name, value in sorted(self.__dict__.items()) if name not in skip)
        return plain + (self.bolus.key() if self.bolus else None, tuple(a.key() for a in self.alarms),
                        tuple(self.log), tuple(sorted(self.buckets.items())), tuple(self.cache.items()),
                        tuple(sorted(self.announced.items())), tuple(self.ptm_history))

    # ---- readings -----------------------------------------------------------------------------------
    def stopping_alarm(self):
        codes = [alarm.code for alarm in self.alarms if alarm.code in STOPPING]
        return min(codes) if codes else 0

    def delivering(self):
        return self.rx is not None and not self.suspended and not self.stopping_alarm()

    def therapy_state(self):
        if self.rx is None:
            return NOT_PROGRAMMED
        if self.stopping_alarm():
            return STOPPED
        return SUSPENDED if self.suspended else RUNNING

    def find_alarm(self, code):
        for alarm in self.alarms:
            if alarm.code == code:
                return alarm
        return None

    def delivered_24h_ug(self):
        hour = self.t // HOUR
        return sum(ng for h, ng in self.buckets.items() if hour - 24 <= h <= hour) // 1000

    def battery_state(self):
        if self.battery_ms == 0:
            return 2
        return 1 if self.battery_ms <= BATTERY_ERI_MS else 0

    def step_at(self, t):
        offset = t % DAY
        chosen = self.steps[0]
        for step in self.steps:
            if step[0] <= offset:
                chosen = step
        return chosen

    # ---- 6.1 delivery ---------------------------------------------------------------------------------
    def _partial_integral(self, offset):
        """Σ of the volume rate over the ms [0, offset) of one day."""
        total = 0
        for i, (start, _dose, rate) in enumerate(self.steps):
            end = self.steps[i + 1][0] if i + 1 < len(self.steps) else DAY
            if offset <= start:
                break
            total += rate * (min(offset, end) - start)
        return total

    def integral(self, t):
        """I(t) = Σ over ms τ < t of r(τ)."""
        day, offset = divmod(t, DAY)
        return day * self.per_day + self._partial_integral(offset)

    def _due(self, t0, t, integral_t0=None):
        """(basal µL, bolus µL) due over (t0, t], uncapped."""
        if integral_t0 is None:
            integral_t0 = self.integral(t0)
        basal = (self.phase + self.integral(t) - integral_t0) // DAY
        bolus = self.bolus.moved_by(t) - self.bolus.done_ul if self.bolus else 0
        return basal, bolus

    def _deliver(self, t0, t1):
        """Time passes over (t0, t1]: the battery drains, and drug moves while delivering."""
        self.battery_ms = max(self.battery_ms - (t1 - t0), 0)
        self.t = t1
        if not self.delivering() or t1 <= t0:
            return
        available = self.reservoir_ul
        integral_t0 = self.integral(t0)
        basal, extra = self._due(t0, t1, integral_t0)
        basal = min(basal, available)
        extra = min(extra, available - basal)
        # The rolling window (6.5): each hour that can still count gets what moved in it. What
        # moved by ms t is capped by the reservoir (only t1 can reach it: emptying is an event).
        conc = self.conc
        first = max((t0 + 1) // HOUR, t1 // HOUR - 24)
        before = sum(self._due(t0, max(t0, first * HOUR - 1), integral_t0))
        for hour in range(first, t1 // HOUR + 1):
            after = min(sum(self._due(t0, min(t1, (hour + 1) * HOUR - 1), integral_t0)), available)
            if after != before:
                self.buckets[hour] = self.buckets.get(hour, 0) + (after - before) * conc
            before = after
        for hour in [h for h in self.buckets if h < t1 // HOUR - 24]:
            del self.buckets[hour]
        self.phase = (self.phase + self.integral(t1) - integral_t0) % DAY
        self.reservoir_ul -= basal + extra
        self.delivered_ul += basal + extra
        self.delivered_ng += (basal + extra) * conc
        self.basal_log_ul += basal
        self.basal_log_ng += basal * conc
        if self.bolus:
            self.bolus.done_ul += extra
            self.bolus.done_ng += extra * conc

    # ---- 6.2 events ---------------------------------------------------------------------------------
    def next_event(self, t0):
        candidates = [(t0 // DAY + 1) * DAY]
        if self.bolus:
            candidates.append(self.bolus.start_ms + self.bolus.duration_ms)
        if self.battery_ms > BATTERY_ERI_MS:
            candidates.append(t0 + self.battery_ms - BATTERY_ERI_MS)
        elif self.battery_ms > 0:
            candidates.append(t0 + self.battery_ms)
        candidates += [u for u in (self.daily_max_until, self.ptm_lockout_until) if u > t0]
        end = min(candidates)
        if self.delivering() and self.reservoir_ul > 0:
            k = self.reservoir_ul - LOW_UL if self.reservoir_ul > LOW_UL else self.reservoir_ul
            integral_t0 = self.integral(t0)
            if sum(self._due(t0, end, integral_t0)) >= k:
                low, high = t0, end  # sum(due(low)) < k <= sum(due(high))
                while high - low > 1:
                    middle = (low + high) // 2
                    if sum(self._due(t0, middle, integral_t0)) >= k:
                        high = middle
                    else:
                        low = middle
                end = high
        return end

    def advance(self, target):
        while self.t < target:
            event = self.next_event(self.t)
            if event > target:
                self._deliver(self.t, target)
                return
            self._deliver(self.t, event)
            self._events_at(event)

    def _events_at(self, t):
        """6.3: bolus end, day boundary, then the alarm update."""
        if self.bolus and t >= self.bolus.start_ms + self.bolus.duration_ms:
            self._finish_bolus()
        if t % DAY == 0:
            self._log_basal()
        self.refresh()

    # ---- 11 alarms ----------------------------------------------------------------------------------
    def causes(self):
        t = self.t
        present = set()
        if 1 in self.faults:
            present.add(MOTOR_STALL)
        if self.rx is not None and self.reservoir_ul == 0:
            present.add(EMPTY_RESERVOIR)
        if self.battery_ms == 0:
            present.add(END_OF_SERVICE)
        if 3 in self.faults:
            present.add(MEMORY_ERROR)
        if 2 in self.faults:
            present.add(CATHETER_OCCLUSION)
        if self.rx is not None and self.reservoir_ul <= LOW_UL:
            present.add(LOW_RESERVOIR)
        if self.battery_ms <= BATTERY_ERI_MS:
            present.add(ELECTIVE_REPLACEMENT)
        if t < self.daily_max_until:
            present.add(DAILY_MAX_REACHED)
        if t < self.ptm_lockout_until:
            present.add(PTM_LOCKOUT)
        return present

    def refresh(self):
        """The alarm update (11.1), then a bolus ends if delivery stopped (6.3)."""
        present = self.causes()
        for code in sorted(ALARM_INFO):
            alarm = self.find_alarm(code)
            if code in present:
                if alarm is None and len(self.alarms) < MAX_ALARMS:
                    self.last_instance = self.last_instance % 65535 + 1
                    alarm = AlarmInstance(code, self.last_instance, self.t)
                    self.alarms.append(alarm)
                    self._log(LOG_ALARM_RAISED, code, alarm.instance)
                    self.announced[alarm.instance] = 1
                    self._event(ALARM_RAISED, alarm.entry(self.t))
                elif alarm is not None and alarm.latched:
                    alarm.latched = False
            elif alarm is not None:
                if ALARM_INFO[code][1] and not alarm.acked_count:
                    alarm.latched = True
                else:
                    self.alarms.remove(alarm)
                    self._log(LOG_ALARM_CLEARED, code, alarm.instance)
                    self.announced.pop(alarm.instance, None)
                    self._event(ALARM_CLEARED, m.AlarmCleared(code, alarm.instance, (self.t // 1000) & U32))
        if self.bolus and not self.delivering():
            self._finish_bolus()

    def _reannounce(self):
        """11.5: at the end of every call."""
        for alarm in self.alarms:
            if not alarm.acked_count:
                count = alarm.count(self.t)
                if count > self.announced.get(alarm.instance, 0):
                    self._event(ALARM_RAISED, alarm.entry(self.t))
                    self.announced[alarm.instance] = count

    def _event(self, msg_id, message):
        self.out.append((EVENT, msg_id, None, message.encode()))

    # ---- 12 log ---------------------------------------------------------------------------------------
    def _log(self, kind, code=0, value=0, value2=0):
        self.log.append(m.LogEntry(self.log_next & U32, (self.t // 1000) & U32, kind, code, value & U32, value2 & U32))
        self.log_next += 1

    def _log_basal(self):
        if self.basal_log_ul > 0:
            self._log(LOG_BASAL, 0, self.basal_log_ng // 1000, self.basal_log_ul)
            self.basal_log_ng %= 1000
            self.basal_log_ul = 0

    def _finish_bolus(self):
        bolus = self.bolus
        self.bolus = None
        self._log(LOG_BOLUS, bolus.kind, bolus.done_ng // 1000, bolus.done_ul)

    def _start_bolus(self, kind, dose_ug, volume_ul, duration_ms):
        self.bolus = Bolus(kind, dose_ug, volume_ul, self.t, duration_ms)
        self.boluses += 1
        if duration_ms <= 0:
            self._finish_bolus()

    # ---- 2-4 the sans-I/O call --------------------------------------------------------------------
    def receive(self, data, shell_ms):
        """Bytes from the line at shell_ms -> the frames the pump must send, in order."""
        self._begin(shell_ms)
        frames = []
        for block in self._blocks(bytes(data)):  # 4: the whole input is read (and counted) first
            frame = _parse_remembered(block)
            if frame is None:
                self.frames_bad += 1
            else:
                frames.append(frame)
        for frame in frames:
            self.advance(self.base + self.last_shell)  # a warp or reset earlier in this input moved it
            if self.cut_armed and self._saves(frame):
                self._cut()
                break  # 14: the rest of this input arrived while the pump was rebooting
            self._frame(*frame)
        return self._end()

    def _saves(self, frame):
        """A test-control request that always writes storage (14) and will reach its handler."""
        version, kind, msg_id, _seq, _payload = frame
        return version == 1 and kind == REQUEST and msg_id in ALWAYS_SAVING and self.test_mode

    def _cut(self):
        """TC_POWER_LOSS(n) armed, then a request whose save reaches byte n first: its record never
        lands (n is below any record's size), so it never happened; no answer, no events; the pump
        reboots at that request's moment (14)."""
        self.cut_armed = False
        self.power_loss()

    def poll(self, shell_ms):
        self._begin(shell_ms)
        return self._end()

    def _begin(self, shell_ms):
        if self.last_shell is None or shell_ms > self.last_shell:
            self.last_shell = shell_ms
        self.out = []
        self.advance(self.base + self.last_shell)

    def _end(self):
        self._reannounce()
        out, self.out = self.out, []
        return out

    def _blocks(self, data):
        """4: the blocks `data` completes, each with its 0x00, cut by protocol's FrameDecoder; a run
        longer than a frame is counted once here and skipped to the next 0x00."""
        reader = self.reader
        in_run = reader.skipping
        pieces = reader.cut(data)
        if not in_run and len(pieces) == data.count(0):  # every piece ends at a delimiter: no run
            return [piece for piece in pieces if len(piece) > 1]
        blocks = []
        for piece in pieces:
            if piece[-1]:  # MAX_ENCODED bytes of a run with no delimiter: longer than any frame
                if not in_run:
                    self.frames_bad += 1
                in_run = True
            elif in_run:  # the run's rest, up to and with its delimiter
                in_run = False
            elif len(piece) > 1:  # not a spare delimiter
                blocks.append(piece)
        return blocks

    # ---- 5 handling a frame -------------------------------------------------------------------------
    def _frame(self, version, kind, msg_id, seq, payload):
        if kind == ACK:
            return
        message = MESSAGES_BY_ID.get(msg_id)
        try:
            if version != 1:
                raise Refuse(Error.BAD_VERSION, 0, 1, version)
            if kind != REQUEST or message is None or message.event:
                raise Refuse(Error.UNKNOWN_MESSAGE)
            if message.test_control and not self.test_mode:
                raise Refuse(Error.NOT_IN_TEST_MODE)
            needed = ROLE_OF[message.role]
            if needed != NONE and self.role == NONE:
                raise Refuse(Error.UNAUTHORIZED)
            if needed == CLINICIAN and self.role == PATIENT:
                raise Refuse(Error.WRONG_ROLE, CLINICIAN)
            if message.state_changing and (self.session_id, seq) in self.cache:
                cached = self.cache[(self.session_id, seq)]
                if cached[:2] != (msg_id, payload):
                    raise Refuse(Error.SEQUENCE_REUSED)
                self.dedup_hits += 1
                return self._send(cached[2], msg_id, seq, cached[3])
        except Refuse as refusal:
            self.requests_executed += 1
            return self._send(NAK, msg_id, seq, _nak(refusal))
        self.requests_executed += 1
        if msg_id not in HANDLERS:
            raise Unmodelled("the model has no rule for %s (0x%02x)" % (message.name, msg_id))
        try:
            request = decode_request(msg_id, payload)
            self.request_seq = seq
            answer_kind, answer = RESPONSE, HANDLERS[msg_id](self, request)
            if not isinstance(answer, _AnyPayload):  # already encoded
                answer = m.CLASSES[(RESPONSE, msg_id)](*answer).encode()
        except Refuse as refusal:
            answer_kind, answer = NAK, _nak(refusal)
        if message.state_changing:
            key = (self.session_id, seq)
            self.cache.pop(key, None)  # a re-stored answer is the newest again, as in the pump
            self.cache[key] = (msg_id, payload, answer_kind, answer)
            while len(self.cache) > DEDUP_CACHE_SIZE:
                self.cache.popitem(last=False)
        self._send(answer_kind, msg_id, seq, answer)

    def _send(self, kind, msg_id, seq, payload):
        if kind == NAK:
            self.naks_sent += 1
        self.out.append((kind, msg_id, seq, payload))

    # ---- 10 session ----------------------------------------------------------------------------------
    def hello(self, request):
        self.session_id = request.host_session_id  # the cache keeps every session's answers
        self.role = NONE
        return (b"PMCK", "NOT FOR CLINICAL USE", 1, FIRMWARE_VERSION, self.serial, int(self.test_mode),
                self.capacity_ul)

    def _auth_lockout(self):
        if self.t < self.auth_locked_until:
            raise Refuse(Error.AUTH_LOCKED_OUT, 0, AUTH_LOCKOUT_MS // 1000, ceil_div(self.auth_locked_until - self.t, 1000))

    def auth_challenge(self, request):
        # A nonce cannot be predicted (unseeded pumps draw it at random, 10): the model answers a
        # placeholder and learn_nonce() puts in the one the pump sent, once the oracle has seen it.
        self._auth_lockout()
        role = int(request.role)
        if self.nonce is not None and self.nonce_seq == self.request_seq and self.nonce[1] == role:
            return (self.nonce[0],)  # 10: a retransmission of the challenge gets its nonce again
        self.nonce_seq = self.request_seq
        nonce = PENDING_NONCE + struct.pack("<I", self.nonce_counter & U32)
        self.nonce_counter += 1
        self.nonce = (nonce, role, self.t)
        return (nonce,)

    def learn_nonce(self, placeholder, nonce):
        """The pump answered `nonce` where the model said `placeholder`: it is the outstanding one now."""
        if self.nonce is not None and self.nonce[0] == placeholder:
            self.nonce = (nonce,) + self.nonce[1:]

    def auth_response(self, request):
        self._auth_lockout()
        role = int(request.role)
        outstanding, self.nonce = self.nonce, None
        ok = (outstanding is not None and self.t - outstanding[2] <= NONCE_LIFETIME_MS and outstanding[1] == role
              and request.mac == auth_mac(self.keys[role], outstanding[0], self.serial, role))
        if ok:
            self.role = role
            self.auth_failures = 0
            self._log(LOG_AUTH, role, 1)
            return (role,)
        self._log(LOG_AUTH, role, 0)
        self.auth_failures += 1
        if self.auth_failures >= AUTH_MAX_FAILURES:
            self.auth_failures = 0
            self.auth_locked_until = self.t + AUTH_LOCKOUT_MS
        raise Refuse(Error.UNAUTHORIZED)

    def logout(self, request):
        self.role = NONE
        return ()

    # ---- 13 status ---------------------------------------------------------------------------------------
    def status(self, request=None):
        dose_rate = volume = 0
        if self.delivering():
            _start, dose_rate, volume = self.step_at(self.t)
        bolus = self.bolus
        remaining = 0
        if bolus and bolus.volume_ul:
            remaining = bolus.dose_ug * (bolus.volume_ul - bolus.done_ul) // bolus.volume_ul
        daily = self.basal_ul if self.rx is not None else 0
        return ((self.t // 1000) & U32, self.therapy_state(), self.rx.mode if self.rx else 0, self.drug, self.conc,
                self.reservoir_ul, self.capacity_ul, clamp32(dose_rate), clamp32(volume), clamp32(remaining),
                clamp32(self.delivered_24h_ug()), self.battery_state(),
                ceil_div(self.battery_ms * 100, BATTERY_FULL_MS), days(max(self.reservoir_ul - LOW_UL, 0), daily),
                days(self.reservoir_ul, daily), self.role, tuple(alarm.code for alarm in self.alarms))

    def get_prescription(self, request):
        if self.rx is None:
            raise Refuse(Error.NOT_PROGRAMMED)
        return (self.rx_version, self.rx)

    # ---- 7 prescriptions ----------------------------------------------------------------------------------
    def validate(self, request):
        return (finding_messages(findings(request.prescription, self.drug, self.conc, self.reservoir_ul)),)

    def program(self, request):
        rx = request.prescription
        found = findings(rx, self.drug, self.conc, self.reservoir_ul)
        for limit, severity, value, actual in found:
            if severity == HARD:
                raise Refuse(Error.HARD_LIMIT, limit, value, actual)
        limits = [f[0] for f in found]
        for limit in request.overrides:
            if limit not in limits:
                raise Refuse(Error.OVERRIDE_MISMATCH, limit)
        for limit, _severity, value, actual in found:
            if limit not in request.overrides:
                raise Refuse(Error.SOFT_LIMIT_NEEDS_OVERRIDE, limit, value, actual)
        self._log_basal()
        self.rx_version = (self.rx_version + 1) % 65536
        self._set_rx(rx)
        self.suspended = False
        self._log(LOG_PROGRAM, rx.drug, self.rx_version, basal_dose_ug(rx))
        self.refresh()
        return (self.rx_version, finding_messages(found))

    # ---- 8 reservoir --------------------------------------------------------------------------------------
    def refill(self, request):
        drug, conc, volume = int(request.drug), request.concentration_ug_per_ml, request.volume_added_ul
        max_conc = DRUG_LIMITS[drug][0]
        if conc > max_conc:
            raise Refuse(Error.HARD_LIMIT, Limit.CONCENTRATION_MAX, max_conc, conc)
        if self.rx is not None and self.rx.drug != drug:
            raise Refuse(Error.HARD_LIMIT, Limit.DRUG_MISMATCH, self.rx.drug, drug)
        if volume > self.capacity_ul:
            raise Refuse(Error.HARD_LIMIT, Limit.RESERVOIR_CAPACITY, self.capacity_ul, volume)
        if self.bolus:
            raise Refuse(Error.BUSY)
        self.removed_ul += self.reservoir_ul
        self.filled_ul += volume
        self.reservoir_ul, self.drug, self.conc = volume, drug, conc
        self._log(LOG_REFILL, drug, conc, volume)
        self.refresh()
        return (self.reservoir_ul, days(self.reservoir_ul, self.basal_ul if self.rx else 0))

    # ---- 9 boluses -------------------------------------------------------------------------------------------
    def _can_deliver(self):
        if self.rx is None:
            raise Refuse(Error.NOT_PROGRAMMED)

    def _running(self):
        stopping = self.stopping_alarm()
        if stopping:
            raise Refuse(Error.THERAPY_STOPPED, stopping)
        if self.suspended:
            raise Refuse(Error.INVALID_STATE, 0, RUNNING, SUSPENDED)

    def _daily_max(self, dose_ug):
        maximum = self.rx.max_daily_dose_ug
        reach = self.delivered_24h_ug() + dose_ug
        if reach > maximum:
            self.daily_max_until = max(self.daily_max_until, (self.t // HOUR + 1) * HOUR)
            self.refresh()
            raise Refuse(Error.DAILY_MAX_REACHED, Limit.DAILY_MAX_24H, maximum, reach)

    def _reservoir(self, volume_ul):
        if volume_ul > self.reservoir_ul:
            raise Refuse(Error.RESERVOIR_INSUFFICIENT, Limit.RESERVOIR_VOLUME, self.reservoir_ul, volume_ul)

    def clinician_bolus(self, request):
        self._can_deliver()
        duration = request.duration_s
        if duration < BOLUS_MIN_S:
            raise Refuse(Error.HARD_LIMIT, Limit.BOLUS_DURATION, BOLUS_MIN_S, duration)
        if duration > BOLUS_MAX_S:
            raise Refuse(Error.HARD_LIMIT, Limit.BOLUS_DURATION, BOLUS_MAX_S, duration)
        self._running()
        self._daily_max(request.dose_ug)
        if self.bolus:
            raise Refuse(Error.BUSY)
        volume = volume_rate(request.dose_ug, self.rx.concentration_ug_per_ml)
        self._reservoir(volume)
        self._start_bolus(int(request.kind), request.dose_ug, volume, duration * 1000)
        return (volume, ceil_div(self.t + duration * 1000, 1000) & U32)

    def ptm_bolus(self, request):
        try:
            return self._ptm_bolus()
        except Refuse as refusal:
            _code, _subject, value, actual = refusal.values
            self._log(LOG_PTM_REFUSED, refusal.values[0], value, actual)
            raise

    def _ptm_bolus(self):
        self._can_deliver()
        self._running()
        rx = self.rx
        if rx.ptm_dose_ug == 0:
            raise Refuse(Error.PTM_DISABLED)
        t = self.t
        self.ptm_history = [a for a in self.ptm_history if t - a < DAY]
        lockout = rx.ptm_lockout_min * MINUTE
        if self.ptm_history and t < self.ptm_history[-1] + lockout:
            until = self.ptm_history[-1] + lockout
            self.ptm_lockout_until = max(self.ptm_lockout_until, until)
            self.refresh()
            raise Refuse(Error.LOCKOUT_ACTIVE, Limit.PTM_LOCKOUT, lockout // 1000, ceil_div(until - t, 1000))
        count = len(self.ptm_history)
        if count >= rx.ptm_max_per_24h:
            self.ptm_lockout_until = max(self.ptm_lockout_until, self.ptm_history[count - rx.ptm_max_per_24h] + DAY)
            self.refresh()
            raise Refuse(Error.MAX_ACTIVATIONS, Limit.PTM_ACTIVATIONS, rx.ptm_max_per_24h, count)
        self._daily_max(rx.ptm_dose_ug)
        if self.bolus:
            raise Refuse(Error.BUSY)
        volume = ptm_volume_ul(rx)
        self._reservoir(volume)
        self.ptm_history.append(t)
        self._start_bolus(PTM_KIND, rx.ptm_dose_ug, volume, ceil_div(volume * DAY, RATE_MAX))
        return (rx.ptm_dose_ug, len(self.ptm_history), ceil_div(t + lockout, 1000) & U32)

    def suspend(self, request):
        self._can_deliver()
        if self.suspended:
            raise Refuse(Error.INVALID_STATE, 0, RUNNING, SUSPENDED)
        self.suspended = True
        self._log(LOG_SUSPEND)
        self.refresh()
        return (self.therapy_state(),)

    def resume(self, request):
        self._can_deliver()
        if not self.suspended:
            raise Refuse(Error.INVALID_STATE, 0, SUSPENDED, self.therapy_state())
        self.suspended = False
        self._log(LOG_RESUME)
        self.refresh()
        return (self.therapy_state(),)

    # ---- 11.3-11.4 alarms ------------------------------------------------------------------------------------
    def get_alarms(self, request):
        return (tuple(alarm.entry(self.t) for alarm in self.alarms),)

    def ack_alarm(self, request):
        alarm = self.find_alarm(int(request.code))
        if alarm is None or alarm.instance != request.instance or alarm.acked_count:
            raise Refuse(Error.NO_SUCH_ALARM, request.code, 0, request.instance)
        alarm.acked_count = alarm.count(self.t)
        self._log(LOG_ALARM_ACKED, alarm.code, alarm.instance, self.role)
        self.refresh()
        return (len(self.alarms),)

    def read_log(self, request):
        oldest = self.log_next - len(self.log)
        start = max(request.start_index, oldest)
        entries = [entry for entry in self.log if entry.index >= start][:request.max_entries]
        return (oldest & U32, self.log_next & U32, tuple(entries))

    # ---- 13 test control ---------------------------------------------------------------------------------------
    def tc_reset(self, request):
        self.factory(request.seed)
        self.base = -self.last_shell  # the pump clock reads 0 now
        self.requests_executed = 0
        return ()

    def tc_inject_fault(self, request):
        fault = int(request.fault)
        self._log(LOG_TEST_CONTROL, TC_INJECT_FAULT, fault)
        if fault == 4:
            self.battery_ms = min(self.battery_ms, BATTERY_ERI_MS)
        else:
            self.faults = self.faults | {fault}
        self.refresh()
        return (FAULT_ALARM[fault],)

    def tc_clear_fault(self, request):
        fault = int(request.fault)
        self._log(LOG_TEST_CONTROL, TC_CLEAR_FAULT, fault)
        if fault == 4:
            self.battery_ms = BATTERY_FULL_MS
        else:
            self.faults = self.faults - {fault}
        self.refresh()
        return ()

    def tc_set_reservoir(self, request):
        volume = request.reservoir_ul
        if volume > self.capacity_ul:
            raise Refuse(Error.HARD_LIMIT, Limit.RESERVOIR_CAPACITY, self.capacity_ul, volume)
        self._log(LOG_TEST_CONTROL, TC_SET_RESERVOIR, volume)
        if volume > self.reservoir_ul:
            self.filled_ul += volume - self.reservoir_ul
        else:
            self.removed_ul += self.reservoir_ul - volume
        self.reservoir_ul = volume
        self.refresh()
        return ()

    def tc_set_battery(self, request):
        self._log(LOG_TEST_CONTROL, TC_SET_BATTERY, request.battery_pct)
        self.battery_ms = BATTERY_FULL_MS * request.battery_pct // 100
        self.refresh()
        return ()

    def tc_warp_clock(self, request):
        self._log(LOG_TEST_CONTROL, TC_WARP_CLOCK, request.advance_s)
        self.base += request.advance_s * 1000
        self.advance(self.t + request.advance_s * 1000)
        return ((self.t // 1000) & U32,)

    def tc_power_loss(self, request):
        if request.cut_after_bytes:
            # Modelled for a cut that the next request's save reaches before any record is whole
            # (the fuzzer arms at most CUT_MAX bytes, then sends one of ALWAYS_SAVING at once).
            if request.cut_after_bytes > CUT_MAX:
                raise Unmodelled("a power cut after %d bytes: only cuts within the first %d bytes of a save "
                                 "are modelled" % (request.cut_after_bytes, CUT_MAX))
            self.cut_armed = True
            return (self.reboots & 0xFFFF,)
        self.power_loss()
        return (self.reboots & 0xFFFF,)

    def power_loss(self):
        """TC_POWER_LOSS(0): the saved state is the state (14); a reboot forgets the volatile part."""
        self.reboots += 1
        self._log(LOG_POWER_UP, 0, self.reboots)
        self._volatile()

    def tc_read_counters(self, request):
        return (self.requests_executed & U32, self.dedup_hits & U32, self.frames_bad & U32, self.naks_sent & U32,
                self.boluses & U32, (self.delivered_ng // 1000) & U32, self.delivered_ul & U32, self.filled_ul & U32,
                self.removed_ul & U32, self.reboots & 0xFFFF)

    def tc_get_clock(self, request):
        return (self.t,)

    def tc_heap_info(self, request):
        """Heap figures are the port's own (0 where it cannot tell): any five u32 are right."""
        return ANY_HEAP_INFO


class _AnyPayload(bytes):
    """An encoded answer whose values the model cannot know: equal to any payload of its length."""

    def __eq__(self, other):
        return isinstance(other, (bytes, bytearray)) and len(other) == len(self)

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = bytes.__hash__


ANY_HEAP_INFO = _AnyPayload(m.TcHeapInfoResponse(0, 0, 0, 0, 0).encode())


def _nak(refusal):
    code, subject, value, actual = refusal.values
    return m.Nak(0, code, subject & 0xFF, clamp32(value), clamp32(actual)).encode()


# Catalog name -> rule. A message the catalog gains later is unknown here until modelled:
# tests/test_fuzz_model.py fails until it is, and the checker reports it rather than guessing.
_RULES = {
    "HELLO": OracleModel.hello, "AUTH_CHALLENGE": OracleModel.auth_challenge,
    "AUTH_RESPONSE": OracleModel.auth_response,
    "LOGOUT": OracleModel.logout, "GET_STATUS": OracleModel.status, "GET_PRESCRIPTION": OracleModel.get_prescription,
    "VALIDATE_PRESCRIPTION": OracleModel.validate, "PROGRAM_PRESCRIPTION": OracleModel.program,
    "REFILL": OracleModel.refill, "CLINICIAN_BOLUS": OracleModel.clinician_bolus, "PTM_BOLUS": OracleModel.ptm_bolus,
    "SUSPEND": OracleModel.suspend, "RESUME": OracleModel.resume, "GET_ALARMS": OracleModel.get_alarms,
    "ACK_ALARM": OracleModel.ack_alarm, "READ_LOG": OracleModel.read_log, "TC_RESET": OracleModel.tc_reset,
    "TC_INJECT_FAULT": OracleModel.tc_inject_fault, "TC_CLEAR_FAULT": OracleModel.tc_clear_fault,
    "TC_SET_RESERVOIR": OracleModel.tc_set_reservoir, "TC_SET_BATTERY": OracleModel.tc_set_battery,
    "TC_WARP_CLOCK": OracleModel.tc_warp_clock, "TC_POWER_LOSS": OracleModel.tc_power_loss,
    "TC_READ_COUNTERS": OracleModel.tc_read_counters, "TC_GET_STATUS": OracleModel.status,
    "TC_GET_PRESCRIPTION": OracleModel.get_prescription, "TC_GET_ALARMS": OracleModel.get_alarms,
    "TC_GET_CLOCK": OracleModel.tc_get_clock, "TC_HEAP_INFO": OracleModel.tc_heap_info,
}

HANDLERS = {mid: _RULES[message.name] for mid, message in MESSAGES_BY_ID.items() if message.name in _RULES}
UNMODELLED = sorted(message.name for message in MESSAGES_BY_ID.values()
                    if not message.event and message.name not in _RULES)


class Unmodelled(Exception):
    """The catalog has a request the model does not know yet."""
