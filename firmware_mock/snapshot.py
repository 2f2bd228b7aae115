"""The pump's persistent state as compact bytes, and back (the body of a storage record).

Everything a reboot must keep except the log entries themselves (persist.py journals those):
the model, the exactly-once cache, the host session id, the nonce seed and the event counter.
Fixed-size fields are one struct call; lists carry a one-byte count.
"""

from . import codec
from . import spec
from .alarms import Alarm
from .model import Bolus
from .packing import packer

VERSION = 1
_FIXED = packer("<BQHIBIHBBIIIQQQQQQQQBHQQQQHBBBBBB")
_BOLUS = packer("<BIIQQQQ")
_BUCKET_HOURS = packer("<QB")  # newest hour, ng width (4 or 8 bytes)
_BUCKET = {4: packer("<BI"), 8: packer("<BQ")}  # hours before the newest, ng
_TIME = packer("<Q")
_ALARM = packer("<BHBQQ")
_ANSWER = packer("<HB8sBB")
_RX_SIZE = packer("<H")
_RX_LAYOUT = spec.REQUEST[spec.ID_VALIDATE_PRESCRIPTION][0][2]


def encode(model, cache, host_session_id, seed, event_seq):
    bolus = model.bolus
    answers = cache.entries()
    buckets = sorted(model.buckets.items())
    alarms = model.alarms.alarms
    fixed = _FIXED.pack(
        VERSION, model.clock_ms, model.reboots & 0xFFFF, seed & 0xFFFFFFFF,
        0 if host_session_id is None else 1, (host_session_id or 0) & 0xFFFFFFFF, event_seq & 0xFFFF,
        1 if model.suspended else 0, model.drug, model.conc, model.reservoir_ul, model.phase,
        model.delivered_ng, model.delivered_ul, model.filled_ul, model.removed_ul, model.boluses_started,
        model.basal_log_ng, model.basal_log_ul, model.battery_ms, model.faults, model.alarms.last_instance,
        model.daily_max_until_ms, model.ptm_lockout_until_ms, model.log.oldest_index, model.log.next_index,
        model.rx_version, 0 if model.rx is None else 1, 0 if bolus is None else 1, len(buckets),
        len(model.ptm_times), len(alarms), len(answers))
    parts = [fixed]
    if model.rx is not None:
        rx = codec.encode(_RX_LAYOUT, model.rx)
        parts.append(_RX_SIZE.pack(len(rx)))
        parts.append(rx)
    if bolus is not None:
        parts.append(_BOLUS.pack(bolus.kind, bolus.dose_ug, bolus.volume_ul, bolus.start_ms, bolus.duration_ms,
                                 bolus.done_ul, bolus.done_ng))
    if buckets:
        newest = buckets[-1][0]
        width = 4 if max(ng for _hour, ng in buckets) <= 0xFFFFFFFF else 8
        parts.append(_BUCKET_HOURS.pack(newest, width))
        for hour, ng in buckets:
            parts.append(_BUCKET[width].pack(newest - hour, ng))
    for at in model.ptm_times:
        parts.append(_TIME.pack(at))
    for alarm in alarms:
        parts.append(_ALARM.pack(alarm.code, alarm.instance, 1 if alarm.latched else 0, alarm.raised_ms,
                                 alarm.acked_count))
    for seq, msg_id, digest, kind, payload in answers:
        parts.append(_ANSWER.pack(seq, msg_id, digest, kind, len(payload)))
        parts.append(payload)
    return b"".join(parts)


def decode(body, model, cache):
    """Load a body into the model and the cache; returns (host_session_id, seed, event_seq, log span)."""
    values = _FIXED.unpack_from(body, 0)
    offset = _FIXED.size
    (version, clock_ms, reboots, seed, has_session, session_id, event_seq, suspended, drug, conc,
     reservoir_ul, phase, delivered_ng, delivered_ul, filled_ul, removed_ul, boluses_started,
     basal_log_ng, basal_log_ul, battery_ms, faults, last_instance, daily_max_until_ms,
     ptm_lockout_until_ms, log_oldest, log_next, rx_version, has_rx, has_bolus, n_buckets,
     n_ptm, n_alarms, n_answers) = values
    if version != VERSION:
        raise ValueError("snapshot version %d" % version)
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
    if n_buckets:
        newest, width = _BUCKET_HOURS.unpack_from(body, offset)
        offset += _BUCKET_HOURS.size
        for _i in range(n_buckets):
            age, ng = _BUCKET[width].unpack_from(body, offset)
            model.buckets[newest - age] = ng
            offset += _BUCKET[width].size
    for _i in range(n_ptm):
        model.ptm_times.append(_TIME.unpack_from(body, offset)[0])
        offset += _TIME.size
    for _i in range(n_alarms):
        code, instance, latched, raised_ms, acked_count = _ALARM.unpack_from(body, offset)
        model.alarms.alarms.append(Alarm(code, instance, raised_ms, bool(latched), acked_count))
        offset += _ALARM.size
    cache.clear()
    for _i in range(n_answers):
        seq, msg_id, digest, kind, size = _ANSWER.unpack_from(body, offset)
        offset += _ANSWER.size
        cache.store(seq, msg_id, bytes(digest), kind, bytes(body[offset:offset + size]))
        offset += size
    return (session_id if has_session else None), seed, event_seq, (log_oldest, log_next)
