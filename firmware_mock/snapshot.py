"""The pump's persistent state as compact bytes, and back (the body of a storage record).

Everything a reboot must keep except the log entries themselves (persist.py journals those):
the model, the exactly-once cache, the host session id, the nonce seed (or none), the nonce
epoch, the authentication failures and lockout, and the event counter.
Fixed-size fields are one struct call; lists carry a one-byte count.

A body is never one buffer (up to ~6.7 KB with 32 cached prescription answers and 16 alarms, a
block a fragmented board heap may not have): encode() returns its parts, each at most a few
hundred bytes (the exactly-once cache's records are the ones it already holds), and decode()
takes them back through a reader that asks storage for one field group at a time
(persist.BodyReader, through its 240-byte buffer) or walks bytes (BytesReader, for tests).
"""

from . import codec
from . import spec
from .alarms import Alarm
from .dedup import RECORD_HEAD, RECORD_HEAD_V2
from .model import HOUR_MS, WINDOW_HOURS, Bolus
from .packing import packer

VERSION = 3  # 3: each exactly-once answer carries its host session (2 is still read)
_FIXED = packer("<BQIBIBIHBBIIIQQQQQQQQBHQQQQHBBBBB")
_AUTH = packer("<QBQ")  # nonce epoch, authentication failures, lockout end (pump clock ms)
_BOLUS = packer("<BIIQQQQ")
_BUCKET_HOURS = packer("<B")  # ng width (4 or 8), then ng of the window's hours, oldest first
_TIME = packer("<Q")
_ALARM = packer("<BHBQQ")
_RX_SIZE = packer("<H")
_RX_LAYOUT = spec.REQUEST[spec.ID_VALIDATE_PRESCRIPTION][0][2]


_REPEATED = {}
_RX_MEMO = [None, b""]  # the prescription last encoded: it changes far less often than it is saved


def _repeated(item, count):
    key = (item, count)
    compiled = _REPEATED.get(key)
    if compiled is None:
        compiled = _REPEATED[key] = packer("<" + item * count)
    return compiled


def _prescription(rx):
    if _RX_MEMO[0] is not rx:
        encoded = codec.encode(_RX_LAYOUT, rx)
        _RX_MEMO[0], _RX_MEMO[1] = rx, _RX_SIZE.pack(len(encoded)) + encoded
    return _RX_MEMO[1]


class Body(list):
    """A body's parts, in order. Equal to the bytes they make, so a test can compare what a pump
    holds (Pump._body()) with what storage holds (Persistence.load())."""

    def __eq__(self, other):
        if isinstance(other, list):
            return list.__eq__(self, other)
        return b"".join(self) == other

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = None


class BytesReader:
    """The reader decode() takes, over a body in memory."""

    def __init__(self, data):
        self.data = data
        self.offset = 0
        self.size = len(data)

    def unpack(self, compiled):
        if self.offset + compiled.size > self.size:
            raise ValueError("snapshot truncated")
        values = compiled.unpack_from(self.data, self.offset)
        self.offset += compiled.size
        return values

    def take(self, size):
        if self.offset + size > self.size:
            raise ValueError("snapshot truncated")
        data = bytes(self.data[self.offset:self.offset + size])
        self.offset += size
        return data


def encode(model, cache, host_session_id, seed, event_seq, auth):
    """The body as a list of parts (persist.Persistence.save writes them one after the other).

    auth: (nonce epoch, failures, lockout end ms)."""
    bolus = model.bolus
    order, answers = cache.order, cache.answers
    newest = model.clock_ms // HOUR_MS  # only the hours of the rolling window are worth keeping
    hour_ng = model.buckets.get
    buckets = [hour_ng(hour, 0) for hour in range(newest - (WINDOW_HOURS - 1), newest + 1)]
    width = 4 if max(buckets) <= 0xFFFFFFFF else 8
    alarms = model.alarms.alarms
    fixed = _FIXED.pack(
        VERSION, model.clock_ms, model.reboots & 0xFFFFFFFF, 0 if seed is None else 1, (seed or 0) & 0xFFFFFFFF,
        0 if host_session_id is None else 1, (host_session_id or 0) & 0xFFFFFFFF, event_seq & 0xFFFF,
        1 if model.suspended else 0, model.drug, model.conc, model.reservoir_ul, model.phase,
        model.delivered_ng, model.delivered_ul, model.filled_ul, model.removed_ul, model.boluses_started,
        model.basal_log_ng, model.basal_log_ul, model.battery_ms, model.faults, model.alarms.last_instance,
        model.daily_max_until_ms, model.ptm_lockout_until_ms, model.log.oldest_index, model.log.next_index,
        model.rx_version, 0 if model.rx is None else 1, 0 if bolus is None else 1,
        len(model.ptm_times), len(alarms), len(order))
    parts = Body((fixed, _AUTH.pack(auth[0], auth[1], auth[2])))
    if model.rx is not None:
        parts.append(_prescription(model.rx))
    if bolus is not None:
        parts.append(_BOLUS.pack(bolus.kind, bolus.dose_ug, bolus.volume_ul, bolus.start_ms, bolus.duration_ms,
                                 bolus.done_ul, bolus.done_ng))
    parts.append(_BUCKET_HOURS.pack(width))
    parts.append(_repeated("I" if width == 4 else "Q", WINDOW_HOURS).pack(*buckets))
    if model.ptm_times:
        parts.append(_repeated("Q", len(model.ptm_times)).pack(*model.ptm_times))
    for alarm in alarms:
        parts.append(_ALARM.pack(alarm.code, alarm.instance, 1 if alarm.latched else 0, alarm.raised_ms,
                                 alarm.acked_count))
    for key in order:
        parts.append(answers[key][4])  # the record the cache already holds: no copy
    return parts


def decode(body, model, cache):
    """Load a body (a reader: BytesReader or persist.BodyReader; bytes are wrapped) into the model and
    the cache; returns (host_session_id, seed, event_seq, log span, auth) with auth as encode() takes it.
    ValueError for another format version (before anything changed) or a body too short."""
    reader = body if hasattr(body, "unpack") else BytesReader(body)
    if reader.size < _FIXED.size:
        raise ValueError("snapshot of %d bytes" % reader.size)
    values = reader.unpack(_FIXED)
    if values[0] not in (2, VERSION):
        raise ValueError("snapshot version %d" % values[0])
    (version, clock_ms, reboots, has_seed, seed, has_session, session_id, event_seq, suspended, drug, conc,
     reservoir_ul, phase, delivered_ng, delivered_ul, filled_ul, removed_ul, boluses_started,
     basal_log_ng, basal_log_ul, battery_ms, faults, last_instance, daily_max_until_ms,
     ptm_lockout_until_ms, log_oldest, log_next, rx_version, has_rx, has_bolus,
     n_ptm, n_alarms, n_answers) = values
    auth = reader.unpack(_AUTH)
    model.reset()
    model.clock_ms = clock_ms
    model.reboots = reboots
    model.suspended = bool(suspended)
    model.drug, model.conc, model.reservoir_ul, model.phase = drug, conc, reservoir_ul, phase
    model.delivered_ng, model.delivered_ul = delivered_ng, delivered_ul
    model.filled_ul, model.removed_ul, model.boluses_started = filled_ul, removed_ul, boluses_started
    model.basal_log_ng, model.basal_log_ul = basal_log_ng, basal_log_ul
    model.battery_ms, model.faults = battery_ms, faults
    model.alarms.last_instance = last_instance
    model.daily_max_until_ms, model.ptm_lockout_until_ms = daily_max_until_ms, ptm_lockout_until_ms
    rx = None
    if has_rx:
        size = reader.unpack(_RX_SIZE)[0]
        rx = codec.decode(_RX_LAYOUT, reader.take(size))
    model.set_prescription(rx, rx_version)
    if has_bolus:
        model.bolus = Bolus(*reader.unpack(_BOLUS))
    width = reader.unpack(_BUCKET_HOURS)[0]
    values = reader.unpack(_repeated("I" if width == 4 else "Q", WINDOW_HOURS))
    newest = clock_ms // HOUR_MS
    for i in range(WINDOW_HOURS):
        if values[i]:
            model.buckets[newest - (WINDOW_HOURS - 1) + i] = values[i]
    for _i in range(n_ptm):
        model.ptm_times.append(reader.unpack(_TIME)[0])
    for _i in range(n_alarms):
        code, instance, latched, raised_ms, acked_count = reader.unpack(_ALARM)
        model.alarms.alarms.append(Alarm(code, instance, raised_ms, bool(latched), acked_count))
    cache.clear()
    current = session_id if has_session else None
    for _i in range(n_answers):  # as ExactlyOnceCache packed them: a head, then the payload
        if version == 2:  # no session in the head: every answer was the saved session's
            seq, msg_id, digest, kind, size = reader.unpack(RECORD_HEAD_V2)
            owner = current
        else:
            has_owner, owner, seq, msg_id, digest, kind, size = reader.unpack(RECORD_HEAD)
            owner = owner if has_owner else None
        cache.restore(owner, seq, msg_id, bytes(digest), kind, reader.take(size))
    cache.session = current
    return ((session_id if has_session else None), (seed if has_seed else None), event_seq, (log_oldest, log_next),
            auth)
