"""The pump's persistent state as compact bytes, and back (the body of a storage record).

Everything a reboot must keep except the log entries themselves (persist.py journals those):
the model, the exactly-once cache, the host session id, the nonce seed (or none), the nonce
epoch, the authentication failures and lockout, and the event counter.
Fixed-size fields are one struct call; lists carry a one-byte count.
"""

from . import codec
from . import spec
from .alarms import Alarm
from .model import HOUR_MS, WINDOW_HOURS, Bolus
from .packing import packer

VERSION = 2
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


def encode(model, cache, host_session_id, seed, event_seq, auth):
    """auth: (nonce epoch, failures, lockout end ms)."""
    bolus = model.bolus
    n_answers, answers = cache.records()
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
        len(model.ptm_times), len(alarms), n_answers)
    parts = [fixed, _AUTH.pack(auth[0], auth[1], auth[2])]
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
    parts.append(answers)
    return b"".join(parts)


def decode(body, model, cache):
    """Load a body into the model and the cache; returns (host_session_id, seed, event_seq, log span,
    auth) with auth as encode() takes it."""
    if not body or body[0] != VERSION:
        raise ValueError("snapshot version %d" % (body[0] if body else -1))
    values = _FIXED.unpack_from(body, 0)
    offset = _FIXED.size
    (version, clock_ms, reboots, has_seed, seed, has_session, session_id, event_seq, suspended, drug, conc,
     reservoir_ul, phase, delivered_ng, delivered_ul, filled_ul, removed_ul, boluses_started,
     basal_log_ng, basal_log_ul, battery_ms, faults, last_instance, daily_max_until_ms,
     ptm_lockout_until_ms, log_oldest, log_next, rx_version, has_rx, has_bolus,
     n_ptm, n_alarms, n_answers) = values
    auth = _AUTH.unpack_from(body, offset)
    offset += _AUTH.size
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
        size = _RX_SIZE.unpack_from(body, offset)[0]
        offset += _RX_SIZE.size
        rx = codec.decode(_RX_LAYOUT, body[offset:offset + size])
        offset += size
    model.set_prescription(rx, rx_version)
    if has_bolus:
        model.bolus = Bolus(*_BOLUS.unpack_from(body, offset))
        offset += _BOLUS.size
    width = _BUCKET_HOURS.unpack_from(body, offset)[0]
    offset += _BUCKET_HOURS.size
    values = _repeated("I" if width == 4 else "Q", WINDOW_HOURS).unpack_from(body, offset)
    offset += width * WINDOW_HOURS
    newest = clock_ms // HOUR_MS
    for i in range(WINDOW_HOURS):
        if values[i]:
            model.buckets[newest - (WINDOW_HOURS - 1) + i] = values[i]
    for _i in range(n_ptm):
        model.ptm_times.append(_TIME.unpack_from(body, offset)[0])
        offset += _TIME.size
    for _i in range(n_alarms):
        code, instance, latched, raised_ms, acked_count = _ALARM.unpack_from(body, offset)
        model.alarms.alarms.append(Alarm(code, instance, raised_ms, bool(latched), acked_count))
        offset += _ALARM.size
    cache.load(n_answers, body, offset)
    return ((session_id if has_session else None), (seed if has_seed else None), event_seq, (log_oldest, log_next),
            auth)
