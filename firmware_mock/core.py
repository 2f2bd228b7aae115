"""The pump emulator core: a sans-I/O state machine. Bytes and the time in, bytes out.

    pump = Pump(serial="PM-000001", test_mode=False, storage=None, seed=None)
    out = pump.receive(data, now_ms)   # bytes from the line -> bytes to write
    out = pump.poll(now_ms)            # no input: run time forward -> bytes to write
    pump.next_deadline_ms()            # when poll() next has something to do, or None

now_ms is the shell's monotonic clock in integer ms. The core never reads a clock, sleeps
or does I/O, so any shell (pty, TCP, a MicroPython board, WebAssembly) drives it the same
way. This module is the protocol side: frames, dispatch, the session, the exactly-once
cache, events and persistence; model.py and commands.py are the pump itself.
"""

from . import codec
from . import snapshot
from . import spec
from .auth import Authenticator, default_role_key
from .dedup import REUSED, ExactlyOnceCache, request_digest
from .errors import Refusal
from .framing import FrameReader, encode_frame
from .handlers import HANDLERS, get_status
from .model import PumpModel
from .packing import packer
from .persist import Persistence
from .storage import PowerCut, RamStorage, adapt
from .therapy import clamp32

_NAK = packer("<BBII")
# spec's constants the per-request path reads, bound here (a module attribute costs a lookup each)
_VERSION, _K_REQUEST, _K_RESPONSE, _K_ACK, _K_NAK = (spec.PROTOCOL_VERSION, spec.K_REQUEST, spec.K_RESPONSE,
                                                     spec.K_ACK, spec.K_NAK)
_ROLE_NONE = spec.ROLE_NONE
_MASK32 = 0xFFFFFFFF
_PENDING_MAX = 32  # unacknowledged event frames kept for re-sending
_BOOT_EVENT_SEQ_SKIP = 1024  # after a real reboot, event seqs restart well past the saved one


class Pump:
    """One emulated pump and its single host session."""

    def __init__(self, serial="PM-000001", test_mode=False, storage=None, seed=None,
                 capacity_ul=spec.CAPACITY_UL, role_keys=None):
        self.serial = serial
        self.test_mode = bool(test_mode)
        self.storage = adapt(storage) if storage is not None else RamStorage()
        self.role_keys = role_keys or {spec.ROLE_PATIENT: default_role_key(serial, spec.ROLE_PATIENT),
                                       spec.ROLE_CLINICIAN: default_role_key(serial, spec.ROLE_CLINICIAN)}
        self.model = PumpModel(capacity_ul, sink=self)
        self.cache = ExactlyOnceCache(spec.DEDUP_CACHE_SIZE)
        self.persistence = Persistence(self.storage, self.model.log.capacity)
        self.reader = FrameReader()
        self.seed = seed  # None: random nonces; an integer: a reproducible test run
        self.nonce_epoch = 0  # saved; up at every boot and TC_RESET (auth.py)
        self.auth = None
        self.request_seq = None
        self.event_seq = 0
        self.requests_executed = 0
        self.dedup_hits = 0
        self.naks_sent = 0
        self._origin_ms = None  # shell ms of the first call; the pump clock is relative to it
        self._base_ms = 0  # pump clock at _origin_ms (moved by warps and resets)
        self._last_now = 0
        self._out = None  # frames produced by the current call
        self._now_shell = 0
        self._replaying = False
        self._pending = []  # [msg_id, seq, frame, next retry shell ms, retries left]
        self._announced = {}  # alarm instance -> announce_count last sent
        self._deadline = None
        self._dirty = False
        self._boot(None)
        self._volatile_reset()

    # ---- the sans-I/O API --------------------------------------------------------------------
    def receive(self, data, now_ms):
        """Bytes from the line at now_ms -> bytes to write (answers, NAKs, events due)."""
        self._begin(now_ms)
        out = self._out
        for frame in self.reader.feed(data):
            mark = len(out)
            clock = self._base_ms + (self._last_now - self._origin_ms)  # a warp or a reset earlier in this input moved it
            # What a handler may change in RAM besides the model, the cache and what storage
            # holds: a cut save means the request never happened, so these go back with it.
            volatile = (self._base_ms, self.event_seq, self.requests_executed, self.dedup_hits,
                        self.naks_sent, self.reader.frames_bad)
            try:
                self._handle(frame, clock)
            except PowerCut:
                del out[mark:]  # the pump died before sending anything for this frame
                if not self.persistence.last_save_landed():  # the request never happened
                    (self._base_ms, self.event_seq, self.requests_executed, self.dedup_hits,
                     self.naks_sent, self.reader.frames_bad) = volatile
                self._restart(self._clock())
                break  # the rest of this input arrived while the pump was rebooting
        return self._end()

    def poll(self, now_ms):
        """Run time forward to now_ms -> bytes to write (events, re-announcements, re-sends)."""
        self._begin(now_ms)
        return self._end()

    def connection_made(self):
        """A shell saw a new host connect (a TCP client, a pty opened): it starts unauthenticated."""
        self._end_session()

    def connection_lost(self):
        """A shell saw the host go (a socket closed, a pty hung up): nothing of its session stays."""
        self._end_session()

    def _end_session(self):
        # The role and an outstanding nonce belong to the connection that earned them; a partial
        # frame belongs to its writer. The host session id and the exactly-once cache stay: a
        # host that reconnects after a dropped line retransmits safely (after HELLO and auth).
        self.role = spec.ROLE_NONE
        self.auth.nonce = None
        self.reader.reset()

    def next_deadline_ms(self):
        """Shell ms when poll() next has work (model events, re-announcements, event re-sends)."""
        if self._origin_ms is None:
            return None
        if self._deadline is None:
            model = self.model
            due = model.next_event_ms(model.clock_ms)
            for alarm in model.alarms.alarms:
                if not alarm.acked_count:
                    sent = self._announced.get(alarm.instance, 0)
                    announce = alarm.raised_ms + sent * alarm.interval_ms
                    if announce < due:
                        due = announce
            deadline = due - self._base_ms + self._origin_ms
            for entry in self._pending:
                if entry[3] < deadline:
                    deadline = entry[3]
            self._deadline = deadline
        return self._deadline

    # ---- one call ----------------------------------------------------------------------------
    def _begin(self, now_ms):
        if self._origin_ms is None:
            self._origin_ms = now_ms
            self._last_now = now_ms
            self._base_ms = self.model.clock_ms
        if now_ms < self._last_now:
            now_ms = self._last_now  # the shell's clock must not run backwards; treat it as now
        self._last_now = now_ms
        self._now_shell = now_ms
        self._out = []
        self._deadline = None
        clock = self._base_ms + (now_ms - self._origin_ms)  # _clock()
        if clock > self.model.clock_ms:  # else advance has nothing to do
            self.model.advance(clock)
        return clock

    def _clock(self):
        return self._base_ms + (self._last_now - self._origin_ms)

    def _end(self):
        """Link duties at the end of every call: re-announcements, then event re-sends."""
        out = self._out
        clock = self.model.clock_ms
        for alarm in self.model.alarms.alarms:
            if not alarm.acked_count:
                count = alarm.announce_count(clock)
                if count > self._announced.get(alarm.instance, 0):
                    self._emit(spec.ID_ALARM_RAISED, alarm.entry(clock))
                    self._announced[alarm.instance] = count
        if self._pending:
            now = self._now_shell
            keep = []
            for entry in self._pending:
                if entry[3] <= now and entry[4] > 0:
                    out.append(entry[2])
                    entry[3] = now + spec.EVENT_RETRY_MS
                    entry[4] -= 1
                if entry[4] > 0:
                    keep.append(entry)
            self._pending = keep
        self._out = None
        return b"".join(out)

    # ---- events --------------------------------------------------------------------------------
    def alarm_raised(self, alarm, t):
        """Model sink: a new instance is listed."""
        if self._out is None or self._replaying:
            return
        self._announced[alarm.instance] = 1
        self._emit(spec.ID_ALARM_RAISED, alarm.entry(t))

    def alarm_cleared(self, alarm, t):
        """Model sink: an instance left the list."""
        self._announced.pop(alarm.instance, None)
        if self._out is None or self._replaying:
            return
        self._emit(spec.ID_ALARM_CLEARED, {"code": alarm.code, "instance": alarm.instance,
                                           "cleared_s": (t // 1000) & _MASK32})

    def _emit(self, msg_id, values):
        seq = self.event_seq
        self.event_seq = (seq + 1) & 0xFFFF
        frame = encode_frame(spec.K_EVENT, msg_id, seq, codec.encode(spec.EVENT[msg_id], values))
        self._out.append(frame)
        self._pending.append([msg_id, seq, frame, self._now_shell + spec.EVENT_RETRY_MS,
                              spec.EVENT_MAX_RETRIES])
        if len(self._pending) > _PENDING_MAX:
            self._pending.pop(0)

    def _acknowledged(self, msg_id, seq):
        self._pending = [e for e in self._pending if e[0] != msg_id or e[1] != seq]

    # ---- requests ------------------------------------------------------------------------------
    def _handle(self, frame, clock):
        version, kind, msg_id, seq, payload = frame
        if kind == _K_ACK:
            if version == _VERSION and not payload:
                self._acknowledged(msg_id, seq)
            return
        if version != _VERSION:
            return self._refuse(msg_id, seq, Refusal(spec.E_BAD_VERSION, 0, _VERSION, version))
        route = _ROUTES.get(msg_id) if kind == _K_REQUEST else None
        if route is None:
            return self._refuse(msg_id, seq, Refusal(spec.E_UNKNOWN_MESSAGE))
        needed_role, state_changing, test_control, request_layout, encode = route
        if test_control and not self.test_mode:
            return self._refuse(msg_id, seq, Refusal(spec.E_NOT_IN_TEST_MODE))
        if needed_role != _ROLE_NONE:
            if self.role == _ROLE_NONE:
                return self._refuse(msg_id, seq, Refusal(spec.E_UNAUTHORIZED))
            if self.role < needed_role:
                return self._refuse(msg_id, seq, Refusal(spec.E_WRONG_ROLE, needed_role))
        digest = None
        if state_changing:
            digest = request_digest(msg_id, payload)
            cached = self.cache.lookup(seq, msg_id, digest)
            if cached is REUSED:
                return self._refuse(msg_id, seq, Refusal(spec.E_SEQUENCE_REUSED))
            if cached is not None:
                self.dedup_hits += 1
                return self._send(cached[2], msg_id, seq, cached[3])
        self._dirty = state_changing
        self.requests_executed += 1
        self.request_seq = seq  # for a handler that answers a retransmission as the first (AUTH_CHALLENGE)
        try:
            # Most reads carry no payload: nothing to parse, and nothing to check but that.
            request = codec.decode_request(request_layout, payload) if payload or request_layout else {}
            # Looked up per request, not kept in the route: a planted defect (a test's one-line
            # monkeypatch of HANDLERS) must reach the pump.
            response = HANDLERS[msg_id](self, request, clock)
            # A handler may answer with the payload's bytes (GET_STATUS: no dict in between).
            body = response if isinstance(response, bytes) else encode(response or {})
            kind_out = _K_RESPONSE
        except Refusal as refusal:
            kind_out, body = _K_NAK, _nak_payload(refusal)
        if state_changing:
            self.cache.store(seq, msg_id, digest, kind_out, body)
        if self._dirty:
            self._save()
        if kind_out == _K_NAK:  # after the save: a power cut in it sent nothing
            self.naks_sent += 1
        self._out.append(encode_frame(kind_out, msg_id, seq, body))

    def _refuse(self, msg_id, seq, refusal):
        self.requests_executed += 1
        self._send(spec.K_NAK, msg_id, seq, _nak_payload(refusal))

    def _send(self, kind, msg_id, seq, body):
        if kind == _K_NAK:
            self.naks_sent += 1
        self._out.append(encode_frame(kind, msg_id, seq, body))

    @property
    def host_session_id(self):
        """The host session now talking (HELLO's id; None after factory reset). Kept by the
        exactly-once cache, whose answers are looked up under it: one copy, never two."""
        return self.cache.session

    @host_session_id.setter
    def host_session_id(self, session_id):
        self.cache.session = session_id

    # ---- persistence and reboots ---------------------------------------------------------------
    def _body(self):
        """The state record's body: everything a reboot must keep but the log entries."""
        auth = self.auth
        return snapshot.encode(self.model, self.cache, self.host_session_id, self.seed, self.event_seq,
                               (self.nonce_epoch, auth.failures, auth.locked_until_ms))

    def _save(self):
        self.persistence.save(self._body(), self.model.log)
        self._dirty = False

    def _load(self):
        """Load the newest saved state; False (and factory state) when there is none."""
        body = self.persistence.load_stream()  # read field by field, never the whole body
        loaded = None
        if body is not None:
            try:
                loaded = snapshot.decode(body, self.model, self.cache)
            except ValueError:  # a record from another firmware version: start from the factory
                loaded = None
        failures, locked_until_ms = 0, 0
        if loaded is None:
            self.model.reset()
            self.cache.clear()
            self.host_session_id = None
        else:
            session_id, seed, event_seq, (log_oldest, log_next), auth = loaded
            self.host_session_id, self.seed, self.event_seq = session_id, seed, event_seq
            self.nonce_epoch, failures, locked_until_ms = auth
            oldest, entries = self.persistence.load_log(log_oldest, log_next)
            self.model.log.restore(oldest, log_next, entries)
        # A failure count and a lockout outlive any reboot: power-cycling gives no extra tries.
        self.auth = Authenticator(self.serial, self.role_keys, self.seed, self.nonce_epoch, failures,
                                  locked_until_ms)
        return loaded is not None

    def _boot(self, clock):
        """Start from storage. clock None: a real power-up, the pump clock resumes where the saved
        state left it. Else a simulated power loss at that pump clock: the real-time clock ran on,
        and nothing but time changed the state since the last save, so replaying the time since
        then reproduces every dose, log entry and alarm. A boot counts, logs and saves itself;
        a save cut short by an armed power cut boots again."""
        event_seq = self.event_seq  # link state: the host's de-duplication must not be fooled
        while True:
            loaded = self._load()
            if clock is None:
                if not loaded:
                    return  # factory state: nothing to count or save
                self.event_seq = (self.event_seq + _BOOT_EVENT_SEQ_SKIP) & 0xFFFF
            else:
                self._replaying = True
                try:
                    self.model.advance(clock)
                finally:
                    self._replaying = False
                self.event_seq = event_seq
            model = self.model
            model.reboots += 1
            self.nonce_epoch += 1  # saved below, before this boot issues any nonce
            model.log_entry(model.clock_ms, spec.LOG_POWER_UP, 0, model.reboots)
            try:
                self._save()
                return
            except PowerCut:
                continue

    def _restart(self, clock, keep_input=False):
        """A power loss at pump clock `clock`. keep_input: the simulated loss of TC_POWER_LOSS,
        which reboots between two frames, so the part of the next one already read still counts."""
        self._boot(clock)
        # The real-time clock reads what the state says: the same as `clock`, unless the record
        # is ahead of it (a save that landed as the power failed, of a warp or a reset).
        if self._origin_ms is not None:
            self._base_ms += self.model.clock_ms - self._clock()
        self._volatile_reset(keep_input)

    def _volatile_reset(self, keep_input=False):
        """What a reboot forgets: the session role, nonces, pending events, partial input.
        keep_input: not a reboot (TC_RESET): the line kept running, so the part of the next frame
        already read still counts (on a paced line it arrives in pieces)."""
        self.role = spec.ROLE_NONE
        auth = self.auth  # the failures and the lockout stay; the nonce and its counter do not
        self.auth = Authenticator(self.serial, self.role_keys, self.seed, self.nonce_epoch, auth.failures,
                                  auth.locked_until_ms)
        self._pending = []
        if not keep_input:
            self.reader.reset()
        clock = self.model.clock_ms
        self._announced = {}
        for alarm in self.model.alarms.alarms:
            self._announced[alarm.instance] = alarm.announce_count(clock)

    # ---- readings --------------------------------------------------------------------------------
    def status(self, clock):
        """GET_STATUS's answer as a dict, as the codec decodes it."""
        return codec.decode(spec.RESPONSE[spec.ID_GET_STATUS], get_status(self, None, clock))

    def counters(self):
        model = self.model
        return {"requests_executed": self.requests_executed & _MASK32, "dedup_hits": self.dedup_hits & _MASK32,
                "frames_bad": self.reader.frames_bad & _MASK32, "naks_sent": self.naks_sent & _MASK32,
                "boluses_delivered": model.boluses_started & _MASK32,
                "delivered_ug": (model.delivered_ng // 1000) & _MASK32,
                "delivered_ul": model.delivered_ul & _MASK32, "filled_ul": model.filled_ul & _MASK32,
                "removed_ul": model.removed_ul & _MASK32, "reboots": model.reboots & 0xFFFF}


# msg_id -> (role needed, state-changing, test control, request layout, response encoder)
_ROUTES = {}
for _id, (_name, _role, _changing, _test) in spec.MESSAGES.items():
    _ROUTES[_id] = (_role, _changing, _test, spec.REQUEST[_id],
                    codec.encoder(spec.RESPONSE[_id]))


def _nak_payload(refusal):
    return _NAK.pack(refusal.code, refusal.subject & 0xFF, clamp32(refusal.limit_value),
                     clamp32(refusal.actual_value))

