"""Shared test helpers for the firmware tests: a virtual-time host that drives firmware_mock's Pump.

Not a test module of its own (no tests here); the firmware tests import it. Frames are built
and parsed with the HOST codec (protocol), so every test is also a conformance check of the
firmware against the catalog.
"""

from pumpmock.protocol import messages as m
from pumpmock.protocol.auth import auth_mac, role_key
from pumpmock.protocol.codes import Drug, Role, TherapyMode
from pumpmock.protocol.framing import ACK, EVENT, NAK, FrameDecoder, encode_frame

from pumpmock.firmware_mock.core import Pump

SERIAL = "PM-000001"
MORPHINE_UG_PER_ML = 20_000
DAY_S = 86_400
DAY_MS = DAY_S * 1000


def plain(value):
    """A host message as the plain data firmware_mock.codec uses (dicts, lists, ints)."""
    if hasattr(value, "_fields"):
        return {name: plain(getattr(value, name)) for name in value._fields}
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    if isinstance(value, (bytes, bytearray, str)):
        return value
    return int(value)


def morphine(daily_dose_ug=3_000, **changes):
    """A SIMPLE morphine prescription that is valid in a full 20 mL reservoir of 20 mg/mL."""
    rx = m.Prescription(drug=Drug.MORPHINE, concentration_ug_per_ml=MORPHINE_UG_PER_ML,
                        mode=TherapyMode.SIMPLE_CONTINUOUS, daily_dose_ug=daily_dose_ug,
                        ptm_dose_ug=200, ptm_lockout_min=120, ptm_max_per_24h=3,
                        max_daily_dose_ug=5_000, refill_interval_days=30)
    return rx._replace(**changes)


def flex(steps, **changes):
    """A FLEX morphine prescription from [(start_min, dose_rate_ug_per_day)]."""
    rx = morphine(mode=TherapyMode.FLEX, daily_dose_ug=0,
                  steps=tuple(m.FlexStep(start, rate) for start, rate in steps))
    return rx._replace(**changes)


class Host:
    """A programmer on a perfect line: sends frames at virtual ms, collects answers and events."""

    def __init__(self, pump=None, test_mode=True, seed=0, storage=None, auto_ack=True, **options):
        self.pump = pump if pump is not None else Pump(serial=SERIAL, test_mode=test_mode, storage=storage,
                                                       seed=seed, **options)
        self.now = 0
        self.seq = 0x100
        self.decoder = FrameDecoder()
        self.events = []  # decoded events, in arrival order (re-sends included)
        self.event_frames = []  # (seq, message) of every EVENT frame
        self.answers = []  # frames answering requests
        self.auto_ack = auto_ack

    # ---- the line ----------------------------------------------------------------------------
    def _take(self, out):
        frames = []
        for frame in self.decoder.feed(out):
            assert not isinstance(frame, Exception), "the pump sent a malformed frame: %r" % frame
            if frame.kind == EVENT:
                event = m.decode_message(frame)
                self.events.append(event)
                self.event_frames.append((frame.seq, event))
                if self.auto_ack:
                    self.pump.receive(encode_frame(ACK, frame.msg_id, frame.seq), self.now)
            else:
                self.answers.append(frame)
                frames.append(frame)
        return frames

    def write(self, wire):
        """Raw bytes to the pump now; the answer frames (events are collected separately)."""
        return self._take(self.pump.receive(wire, self.now))

    def advance(self, ms):
        """Let ms of virtual time pass, polling at every deadline the pump names."""
        target = self.now + ms
        while True:
            deadline = self.pump.next_deadline_ms()
            if deadline is None or deadline > target:
                break
            self.now = max(self.now, deadline)
            self._take(self.pump.poll(self.now))
        self.now = target
        self._take(self.pump.poll(self.now))

    # ---- requests ----------------------------------------------------------------------------
    def next_seq(self):
        self.seq = (self.seq + 1) & 0xFFFF
        return self.seq

    def request(self, message, seq=None):
        """Send a request; the decoded answer (a Response message or a Nak)."""
        seq = self.next_seq() if seq is None else seq
        frames = self.write(m.encode_message(message, seq))
        assert len(frames) == 1, "expected one answer to %r, got %r" % (message, frames)
        frame = frames[0]
        assert frame.seq == seq and frame.msg_id == message.MESSAGE.id
        return m.decode_message(frame)

    def call(self, message, seq=None):
        """A request that must succeed: its response."""
        answer = self.request(message, seq)
        assert not isinstance(answer, m.Nak), "%r refused: %r" % (message, answer)
        return answer

    def refused(self, message, seq=None):
        """A request that must be refused: its Nak."""
        answer = self.request(message, seq)
        assert isinstance(answer, m.Nak), "%r accepted: %r" % (message, answer)
        return answer

    # ---- flows -------------------------------------------------------------------------------
    def hello(self, host_session_id=1):
        return self.call(m.HelloRequest(host_session_id, 1))

    def authenticate(self, role=Role.CLINICIAN):
        nonce = self.call(m.AuthChallengeRequest(role)).nonce
        mac = auth_mac(role_key(SERIAL, role), nonce, SERIAL, role)
        return self.call(m.AuthResponseRequest(role, mac)).role

    def refill(self, volume_ul=20_000, drug=Drug.MORPHINE, conc=MORPHINE_UG_PER_ML):
        return self.call(m.RefillRequest(drug, conc, volume_ul))

    def program(self, rx, overrides=()):
        return self.call(m.ProgramPrescriptionRequest(tuple(overrides), rx))

    def ready(self, rx=None, volume_ul=20_000):
        """Authenticated clinician, reservoir filled with morphine, prescription programmed."""
        self.hello()
        self.authenticate()
        self.refill(volume_ul)
        return self.program(rx if rx is not None else morphine())

    def status(self):
        return self.call(m.TcGetStatusRequest())

    def counters(self):
        return self.call(m.TcReadCountersRequest())

    def warp(self, seconds):
        return self.call(m.TcWarpClockRequest(seconds)).clock_s

    def log(self):
        """Every held log entry, paged with READ_LOG (needs the clinician role)."""
        entries = []
        start = 0
        while True:
            page = self.call(m.ReadLogRequest(start, 12))
            entries += page.entries
            if not page.entries:
                return entries
            start = page.entries[-1].index + 1

    def alarms(self):
        return self.call(m.GetAlarmsRequest()).alarms

    def raised(self, code=None):
        return [e for e in self.events if isinstance(e, m.AlarmRaised) and (code is None or e.code == code)]

    def cleared(self, code=None):
        return [e for e in self.events if isinstance(e, m.AlarmCleared) and (code is None or e.code == code)]


def conserved(host):
    """filled == delivered + withdrawn + remaining, to the µL."""
    counters = host.counters()
    remaining = host.status().reservoir_ul
    return counters.filled_ul == counters.delivered_ul + counters.removed_ul + remaining


__all__ = ["Host", "morphine", "flex", "plain", "conserved", "NAK", "SERIAL", "DAY_S", "DAY_MS",
           "MORPHINE_UG_PER_ML"]
