"""Model-based stateful fuzzing: a hypothesis RuleBasedStateMachine that drives any pump URL against the model.

    from pumpmock.harness.fuzz.stateful import machine_for
    TestPump = machine_for("pumpmock://?clock=virtual").TestCase       # a unittest/pytest test

Every example starts from factory state through test control (TC_RESET), so failures replay.
Each step writes its frames followed by TC_READ_COUNTERS and TC_GET_STATUS in the same write
(and, on a real clock, TC_GET_CLOCK: the ms at which the pump handled the write): the last
answer ends the exchange (so a pump that answers junk, or stays silent, shows at once), and the
counters and status feed the safety invariants after every step. Everything the pump sends is
checked against harness.fuzz.model through harness.fuzz.oracle.

Rules draw abstract choices ("a dose just above what the rolling 24 h allows", "warp to the
end of the PTM lockout, minus a second") that become concrete from the model's state, so the
fuzzer reaches the boundaries where off-by-one bugs live and failures shrink to short stories.
"""

import contextlib
import functools
import math
import signal
import sys
import threading
import time
import urllib.parse

from hypothesis import HealthCheck, Phase, settings, strategies as st
from hypothesis.errors import UnsatisfiedAssumption
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, multiple, rule

from pumpmock.protocol import messages as m
from pumpmock.protocol.auth import auth_mac, role_key
from pumpmock.protocol.catalog import DRUGS, MESSAGES_BY_NAME
from pumpmock.protocol.codes import BolusKind, Limit, Role, TherapyMode
from pumpmock.protocol.framing import FrameDecoder, encode_frame

from ..errors import LinkTimeout, PortError
from ..portio import reader_for, writer_for
from . import strategies as fs
from .model import (ACK, ALARM_INFO, CUT_MAX, DAY, HOUR, MINUTE, RATE_MIN, RESPONSE, NAK, EVENT, REQUEST, SOFT,
                    basal_dose_ug, findings, parse_block)
from .oracle import (Checker, LostTrack, SplitTooWide, Violation, check_observations, clock_report, describe_frame,
                     frames_in, holds_reset)

RESET_SEED = 7
SESSION_ID = 0x5EED0001
SENTINEL_SEQ_FIRST = 0xFF00  # the machine's own observation requests; junk using these seqs is dropped
DRUG_CONC = {code: conc for code, _n, _u, conc, _s, _h in DRUGS}
DRUG_SOFT = {code: soft for code, _n, _u, _c, soft, _h in DRUGS}
DEFAULT_STEPS = 25
# Seconds around a boundary: an off-by-one lives at -1, 0 or +1, a unit mix-up a minute away.
BOUNDARY_DELTAS_S = st.sampled_from([-1, 0, 1, -60, -59, -30, 60, -61, 2, -2])
RESET_SEQ, CLOCK_PROBE_SEQ = 0xFEFF, 0xFEFE
RESERVED_SEQS = frozenset(range(SENTINEL_SEQ_FIRST, 0x10000)) | {RESET_SEQ, CLOCK_PROBE_SEQ}
ANSWER_TIMEOUT_S = 2.0  # the least wait for an answer; a slower line's own round trips raise it
SLOWEST_ROUND_TRIPS = 4  # the wait is at least this many times the slowest round trip seen...
MAX_ANSWER_WAIT_S = 30.0  # ...up to this (one freak answer must not make every silence cost minutes)
RESET_WAITS = 2  # TC_RESET rewrites the pump's storage: a board takes longer over it than over a read
_HYPOTHESIS_DEFAULT = object()  # machine_for's database when none is given
GONE = "the pump went away"  # the category of a port that failed mid-example
AUTH_CHALLENGE = MESSAGES_BY_NAME["AUTH_CHALLENGE"].id
PTM_BOLUS = MESSAGES_BY_NAME["PTM_BOLUS"].id
TC_RESET = MESSAGES_BY_NAME["TC_RESET"].id
TC_WARP_CLOCK = MESSAGES_BY_NAME["TC_WARP_CLOCK"].id
TC_POWER_LOSS = MESSAGES_BY_NAME["TC_POWER_LOSS"].id
TC_READ_COUNTERS = MESSAGES_BY_NAME["TC_READ_COUNTERS"].id
TC_GET_STATUS = MESSAGES_BY_NAME["TC_GET_STATUS"].id
TC_GET_CLOCK = MESSAGES_BY_NAME["TC_GET_CLOCK"].id


# ---------------------------------------------------------------------------------------------
# The line: raw frames, sentinels, and a record of every byte for the transcript
# ---------------------------------------------------------------------------------------------
class Link:
    """A pump opened by URL (through harness.connect: interlock and handshake) used frame by frame."""

    def __init__(self, url, **connect_options):
        from pumpmock import harness
        self.url = url
        # The session's own default wait (250 ms) is shorter than a slow line's round trip: its
        # HELLO would never be answered in time. The fuzzer's least wait unless told otherwise.
        self.session = harness.connect(url, **{"timeout": ANSWER_TIMEOUT_S, **connect_options})
        self.port = self.session.port
        identity = self.session.identity
        self.serial, self.capacity_ul, self.test_mode = identity.serial, identity.capacity_ul, bool(identity.test_mode)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        # Exact: the pump's clock is the line's virtual clock, so each frame's ms is known.
        self.exact = url.startswith("pumpmock://") and query.get("clock", [""])[-1] == "virtual"
        port_clock = getattr(self.port, "clock", None)
        self._clock = port_clock if callable(port_clock) else time.monotonic
        self.slack_ms = 0 if self.exact else 2
        # The caller's timeout (pumpmock fuzz --timeout) is the least wait too: a board that takes
        # seconds over TC_RESET otherwise shows as "no answer" after the default's 2 s.
        self.base_timeout_s = self.timeout_s = max(ANSWER_TIMEOUT_S, connect_options.get("timeout") or 0)
        self.slowest_s = 0.0  # the slowest complete round trip on this link
        self._read, self._write = self._guarded(reader_for(self.port)), self._guarded(writer_for(self.port))
        self._output = FrameDecoder()  # the pump's output, cut into frames; holds one not yet ended
        self.broken = False
        self.record = None  # [(t s, direction, bytes)] of the current example, when recording
        self.frames_out = 0
        self.write(b"\x00")
        # On a real clock every write ends with TC_GET_CLOCK when the pump has it: its answer says
        # at which ms the pump handled the write, so the oracle need not guess among the ms the
        # round trip leaves open (older firmware refuses it; then the oracle guesses).
        self.clock_report = not self.exact and self._answers_clock()

    def _answers_clock(self):
        self.write(encode_frame(REQUEST, TC_GET_CLOCK, CLOCK_PROBE_SEQ))
        frames, complete = self.read_until(lambda f: f[1:3] == (TC_GET_CLOCK, CLOCK_PROBE_SEQ))
        return complete and frames[-1][0] == RESPONSE

    def now_ms(self):
        return self._clock() * 1000

    def write(self, data):
        if self.record is not None:
            self.record.append((self._clock(), "host>pump", bytes(data)))
        self._write(data, self.timeout_s)
        self.frames_out += data.count(0)

    def _guarded(self, io):
        """`io` that marks this link broken and raises PortError when the port itself fails (the
        pump crashed, the child exited, the line dropped): link_for then opens a new one."""
        def guarded(*args):
            try:
                return io(*args)
            except OSError as error:
                self.broken = True
                raise PortError("the port failed: %s" % error) from error
        return guarded

    def read_until(self, done, timeout_s=None):
        """Frames until done(frame) is true for one of them; (frames, complete)."""
        clock = self._clock
        begun = clock()
        deadline = begun + (self.timeout_s if timeout_s is None else timeout_s)
        frames = []
        while True:
            remaining = deadline - clock()
            if remaining <= 0:
                return frames, False
            data = self._read(remaining)
            if not data:
                continue
            if self.record is not None:
                self.record.append((clock(), "pump>host", data))
            new = frames_in(self._output, data)
            frames += new
            if any(frame[0] != "bad" and done(frame) for frame in new):
                self._observe_round_trip(clock() - begun)
                return frames, True

    def _observe_round_trip(self, seconds):
        """Waits follow the line: a slow target (a board at 9600 baud behind a delay, a loaded
        machine) gets SLOWEST_ROUND_TRIPS times its slowest answer, so a late answer is waited
        for instead of being reported as silence (and then seen as junk by the next exchange)."""
        if seconds > self.slowest_s:
            self.slowest_s = seconds
            self.timeout_s = max(self.base_timeout_s, min(SLOWEST_ROUND_TRIPS * seconds, MAX_ANSWER_WAIT_S))

    def drain(self):
        """Whatever the pump has sent and nobody read (nothing waits for it)."""
        frames = []
        while True:
            data = self._read(0)
            if not data:
                return frames
            if self.record is not None:
                self.record.append((self._clock(), "pump>host", data))
            frames += frames_in(self._output, data)

    def close(self):
        try:
            self.session.close()
        except OSError:
            pass  # a broken port may fail to close too; it is gone either way


_LINKS = {}


def link_for(url, **connect_options):
    """One open link per URL, reused by every example (connecting is the slow part on a real line);
    a link whose port failed is replaced (a pump that crashed and restarted is reached again)."""
    link = _LINKS.get(url)
    if link is not None and link.broken:
        del _LINKS[url]
        link.close()
        link = None
    if link is None:
        link = _LINKS[url] = Link(url, **connect_options)
    return link


def close_links():
    for link in list(_LINKS.values()):
        try:
            link.close()
        except Exception:
            pass
    _LINKS.clear()


# ---------------------------------------------------------------------------------------------
# Abstract choices, made concrete from the model's state
# ---------------------------------------------------------------------------------------------
rx_plans = st.fixed_dictionaries({
    "drug": st.sampled_from(["reservoir", 1, 3, 4]),
    "conc": st.sampled_from(["reservoir", "reservoir", "half", "max", "over"]),
    "mode": st.sampled_from([TherapyMode.SIMPLE_CONTINUOUS, TherapyMode.FLEX]),
    "dose_permille": st.sampled_from([300, 100, 600, 1000, 1001, 1500, 1510, 5]),  # of the soft maximum
    "steps": st.sampled_from([1, 2, 3, 0]),
    "order": st.sampled_from(["ok", "ok", "late", "repeat"]),
    "ptm_permille": st.sampled_from([100, 0, 300, 1001]),
    "lockout_min": st.sampled_from([10, 30, 120, 9, 1441]),
    "per_24h": st.sampled_from([3, 1, 24, 0, 25]),
    "max_daily": st.sampled_from(["fit", "fit", "tight", "below", "over_soft", "over_hard"]),
    "refill_days": st.sampled_from([30, 7, 400]),
})
overrides_policies = st.sampled_from(["exact", "exact", "none", "extra", "drop_one"])
# The valid prescription an example starts with: only what varies in it is drawn (fewer choices
# are cheaper to draw and to shrink).
setup_plans = st.fixed_dictionaries({
    "drug": st.sampled_from([1, 1, 3, 4]),
    "mode": st.sampled_from([TherapyMode.SIMPLE_CONTINUOUS, TherapyMode.FLEX]),
    "steps": st.sampled_from([1, 2, 3, 1]),
    "ptm": st.sampled_from([True, False, True, True]),
    "refill_days": st.sampled_from([30, 7, 400]),
})


def make_prescription(model, plan):
    """A Prescription from an abstract plan, using the reservoir's drug and concentration."""
    drug = (model.drug or 1) if plan["drug"] == "reservoir" else plan["drug"]
    base_conc = model.conc if (plan["drug"] == "reservoir" and model.conc) else DRUG_CONC[drug]
    conc = {"reservoir": base_conc, "half": max(base_conc // 2, 1), "max": DRUG_CONC[drug],
            "over": DRUG_CONC[drug] + 1}[plan["conc"]]
    soft = DRUG_SOFT[drug]
    # Below the pump's minimum rate only on purpose (5 per mille): else at least 48 µL/day.
    lowest = 1 if plan["dose_permille"] == 5 else -(-RATE_MIN * conc // 1000)
    dose = max(soft * plan["dose_permille"] // 1000, lowest, 1)
    steps = ()
    if plan["mode"] == TherapyMode.FLEX:
        starts = [0, 480, 1320][:plan["steps"]]
        if plan["order"] == "late" and starts:
            starts[0] = 60
        elif plan["order"] == "repeat" and len(starts) > 1:
            starts[1] = starts[0]
        steps = tuple(m.FlexStep(start, dose * (5 + i) // 5) for i, start in enumerate(starts))
    rx = m.Prescription(drug, conc, plan["mode"], dose, steps, soft * plan["ptm_permille"] // 1000,
                        plan["lockout_min"], plan["per_24h"], 0, plan["refill_days"])
    basal = basal_dose_ug(rx)
    hard = DRUGS[drug - 1][5]
    ptm = rx.ptm_dose_ug * max(rx.ptm_max_per_24h, 0)
    max_daily = {"fit": min(max(basal + ptm, basal + 1), soft), "tight": basal + rx.ptm_dose_ug // 2,
                 "below": max(basal - 1, 0), "over_soft": soft + 1, "over_hard": hard + 1}[plan["max_daily"]]
    return rx._replace(max_daily_dose_ug=max(max_daily, basal if plan["max_daily"] != "below" else 0))


def overrides_for(model, rx, policy):
    soft = [f[0] for f in findings(rx, model.drug, model.conc, model.reservoir_ul) if f[1] == SOFT]
    if policy == "exact":
        return tuple(soft)
    if policy == "extra":
        return tuple(soft) + (Limit.CONCENTRATION_MAX,)
    if policy == "drop_one":
        return tuple(soft[1:])
    return ()


@functools.lru_cache(maxsize=1024)
def _sentinel_frame(msg_id, seq):
    """An observation request (no payload) on one of the machine's own seqs: built once each."""
    return encode_frame(REQUEST, msg_id, seq)


def _defuse(data, sentinel_seqs):
    """Junk minus frames that would derail the run: armed power cuts, century-long warps, our seqs."""
    out = []
    pieces = bytes(data).split(b"\x00")
    for i, block in enumerate(pieces):
        frame = parse_block(block) if block else None
        if frame and frame[1] == REQUEST:
            _version, _kind, msg_id, seq, payload = frame
            if seq in sentinel_seqs or (msg_id == TC_POWER_LOSS and payload != bytes(4)) or (
                    msg_id == TC_WARP_CLOCK and len(payload) == 4 and int.from_bytes(payload, "little") > 400 * 86_400):
                continue
        out.append(block)
    return b"\x00".join(out)


# ---------------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------------
class BudgetSpent(KeyboardInterrupt):
    """The campaign's time is up. Raised as an example would start, it ends the hypothesis run as
    Ctrl-C would: hypothesis lets only a KeyboardInterrupt end a run without recording the example
    (any other exception is checked against the choices it expected, and reported as flaky)."""


class Interrupted(KeyboardInterrupt):
    """A test runner's outcome (pytest-timeout's Failed, pytest.exit) arrived inside an example.
    hypothesis counts pytest's Failed as the example failing and shrinks it, running example after
    example past the alarm, which fires once; raised instead, it ends the run as Ctrl-C would, and
    the campaign raises the runner's exception again (PumpMachine.interrupted)."""


def _is_runner_outcome(error):
    """pytest's outcome exceptions (Failed, Exit, Skipped) are BaseExceptions from _pytest.outcomes;
    looked up in sys.modules so that the firmware-free fuzz code does not import pytest."""
    outcomes = sys.modules.get("_pytest.outcomes")
    return outcomes is not None and isinstance(error, outcomes.OutcomeException)


@contextlib.contextmanager
def runner_alarm_watched():
    """While a campaign runs, a runner's alarm (pytest-timeout's SIGALRM handler, which raises its
    Failed once) is noted as it fires, wherever it lands: inside a rule (teardown sees it), or in
    hypothesis's own code between and around examples, which counts pytest's Failed as a failing
    example and would shrink it, example after example, past the alarm (a CI run hung 60 s so).
    Once noted, the next step or example stops the run (Interrupted)."""
    handler = signal.getsignal(signal.SIGALRM) if hasattr(signal, "SIGALRM") else None
    if not callable(handler) or threading.current_thread() is not threading.main_thread():
        yield
        return

    def noted(signum, frame):
        try:
            handler(signum, frame)
        except BaseException as error:
            if _is_runner_outcome(error) and PumpMachine.interrupted is None:
                PumpMachine.interrupted = error
            raise

    signal.signal(signal.SIGALRM, noted)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGALRM) is noted:
            signal.signal(signal.SIGALRM, handler)


class PumpMachine(RuleBasedStateMachine):
    """Rules are programmer actions and line abuse; the model says what the pump must answer."""

    url = "pumpmock://?clock=virtual"
    connect_options = {}
    stats = None  # a Counter shared with whoever runs the campaign: examples, steps, exchanges
    record_examples = False
    on_example = None  # called as each example starts (the campaign's progress report)
    deadline = None  # time.monotonic() after which no new example starts (BudgetSpent)...
    run_failed = False  # ...unless this hypothesis run has failed: then it must get to shrink
    final_records = []  # records of the examples hypothesis reported as failing (the minimal ones)
    # The first failing example of a run, kept in case hypothesis cannot run it again to shrink it
    # (a pump that never came back; a real clock that made the rules draw differently the next time).
    first_failure = None
    # The latest failing example (while shrinking, the smallest yet): the finding when the
    # campaign's hard end cuts the shrink short.
    last_failure = None
    # time.monotonic() by which even a failed run's shrink stops: the campaign's promise (budget
    # + campaign.overrun_s). Past it no exchange starts and no answer is waited for.
    hard_end = None
    # Set by the campaign: a runner outcome inside an example stops the run (Interrupted); the
    # outcome is kept here for the campaign to raise again.
    stop_on_runner_outcome = False
    interrupted = None

    sent = Bundle("sent")  # (seq, msg_id, payload) of state-changing requests, for retransmission
    alarm_instances = Bundle("alarm_instances")  # (code, instance) seen in GET_ALARMS

    def __init__(self):
        self._check_budget()
        try:
            self._setup()
        except UnsatisfiedAssumption:
            raise  # a setup write left unjudged: no verdict, and no failure to shrink
        except Exception:
            type(self).run_failed = True
            raise
        except BaseException as error:
            self._stop_if_runner_outcome(error)
            raise
        if self.stats is not None:
            self.stats["examples"] += 1
        if self.on_example is not None:
            self.on_example()

    def _setup(self):
        super().__init__()
        self.link = link_for(self.url, **self.connect_options)
        if not self.link.test_mode:
            raise Violation("setup", "the pump at %s is not in test mode: stateful fuzzing needs TC_RESET" % self.url)
        self.link.record = [] if self.record_examples else None
        self.seq = 0
        self.sentinel = 0
        self.acks = b""
        self.session_id = SESSION_ID
        self.counters = self.status = self.previous_counters = None
        self.ptm_accepted = []  # (pump ms, lockout ms, max per 24 h) of PTM boluses the pump accepted
        self.checker = Checker(self.link.serial, self.link.capacity_ul)
        self._reset()

    # ---- plumbing ----------------------------------------------------------------------------
    @property
    def model(self):
        return self.checker.model

    def _next_seq(self):
        self.seq = self.seq % (CLOCK_PROBE_SEQ - 1) + 1  # never a reserved seq
        return self.seq

    def frame(self, message, seq=None):
        seq = self._next_seq() if seq is None else seq
        return seq, encode_frame(REQUEST, message.MESSAGE.id, seq, message.encode())

    def _sentinel_seq(self):
        self.sentinel = (self.sentinel + 1) % 256
        return SENTINEL_SEQ_FIRST + self.sentinel

    def exchange(self, data, observe=True, context=None, until=None):
        """Write data (+ the observation requests), check everything the pump sends back.

        until: (msg_id, seq) of the last answer to wait for, when what follows it gets none (a
        request whose save a power cut stops); then nothing is added after `data`."""
        self._check_budget()
        link = self.link
        counters_seq = status_seq = clock_seq = None
        if until is not None:
            last = until
        elif observe:
            counters_seq, status_seq = self._sentinel_seq(), self._sentinel_seq()
            data = data + _sentinel_frame(TC_READ_COUNTERS, counters_seq) + _sentinel_frame(TC_GET_STATUS, status_seq)
            last = (TC_GET_STATUS, status_seq)
        else:
            requests = [(f[2], f[3]) for f in map(parse_block, data.split(b"\x00")) if f and f[1] == REQUEST]
            last = requests[-1] if requests else None
        if link.clock_report and until is None:
            clock_seq = self._sentinel_seq()
            if holds_reset(data):  # after a reset the clock reads 0 whenever: ask it before, too
                data = _sentinel_frame(TC_GET_CLOCK, self._sentinel_seq()) + data
            data += _sentinel_frame(TC_GET_CLOCK, clock_seq)
            last = (TC_GET_CLOCK, clock_seq)
        data = self.acks + data
        self.acks = b""
        lo = link.now_ms()
        try:
            link.write(data)
            if last is None:
                frames, complete = link.drain(), True
            else:
                frames, complete = link.read_until(lambda f: f[0] in (RESPONSE, NAK) and (f[1], f[2]) == last,
                                                   timeout_s=self._answer_wait(link.timeout_s))
                self._cut_short(complete)
        except PortError as error:
            raise Violation(GONE, "the port failed after this write: the pump crashed or the "
                            "line dropped\n%s" % error) from None
        hi = link.now_ms()
        if self.stats is not None:
            self.stats["exchanges"] += 1
        self.acks = b"".join(encode_frame(ACK, f[1], f[2]) for f in frames if f[0] == EVENT)
        anchor = self.anchor_ms
        if link.exact:  # the virtual clock: the pump handled the bytes at exactly this ms
            lo_shell = hi_shell = round(lo - anchor[0])
        else:  # somewhere between sending and the last answer, on a clock read to the ms
            lo_shell = math.floor(lo - anchor[1]) - link.slack_ms
            hi_shell = math.ceil(hi - anchor[0]) + link.slack_ms
        answers = {(f[1], f[2]): f for f in frames if f[0] in (RESPONSE, NAK)}
        if observe and complete:
            # The safety invariants first, on the pump's own word: they name the worst problem.
            counters, status = answers.get((TC_READ_COUNTERS, counters_seq)), answers.get((TC_GET_STATUS, status_seq))
            if counters and status and counters[0] == status[0] == RESPONSE:
                self.previous_counters = self.counters
                self.counters = m.TcReadCountersResponse.decode(counters[3])
                self.status = m.TcGetStatusResponse.decode(status[3])
                check_observations(self.counters, self.status, self.previous_counters if self.previous_counters
                                   and self.counters.requests_executed >= 2 else None)
        reported = clock_report(data, frames) if clock_seq is not None else None
        if not complete and not link.exact:
            # On a real clock the wait for the answer widened the window to the whole timeout:
            # judging what did arrive would try every ms of it, so the silence is the finding.
            raise self._no_answer(frames)
        try:
            self._judge(data, lo_shell, hi_shell, frames, reported)
        except Violation as violation:
            if context == "retransmission" and not violation.category.startswith("SAFETY"):
                raise Violation("SAFETY: exactly once", "a retransmission (same seq, same bytes) was not answered "
                                "from the cache: " + str(violation)) from None
            raise
        if not complete:
            raise self._no_answer(frames)
        return answers

    def _judge(self, data, lo_shell, hi_shell, frames, clock):
        """The oracle's verdict on one write; a write it cannot judge (LostTrack) ends the example
        without a verdict, and is counted: a campaign with many says little of the pump."""
        try:
            self.checker.exchange(data, lo_shell, hi_shell, frames, exact=self.link.exact, clock=clock)
        except LostTrack as lost:
            if self.stats is not None:
                self.stats["unjudged_writes"] += 1
                self.stats["unjudged_split_writes"] += isinstance(lost, SplitTooWide)
            from hypothesis import reject
            reject()

    def _no_answer(self, frames):
        return Violation("no answer", "the pump did not answer within %.1f s (LinkTimeout); it sent: %s" % (
            self.link.timeout_s, "; ".join(describe_frame(f) for f in frames) or "nothing"))

    def request(self, message, seq=None, observe=True):
        """Send one request; its answer frame (kind, msg_id, seq, payload)."""
        seq, wire = self.frame(message, seq)
        answers = self.exchange(wire, observe)
        return answers.get((message.MESSAGE.id, seq))

    def _reset(self):
        """TC_RESET, HELLO and the clinician's AUTH_CHALLENGE in one write, then AUTH_RESPONSE."""
        link = self.link
        reset = m.encode_message(m.TcResetRequest(RESET_SEED), RESET_SEQ)
        _seq, hello = self.frame(m.HelloRequest(self.session_id, 1))
        challenge_seq, challenge = self.frame(m.AuthChallengeRequest(Role.CLINICIAN))
        rest = hello + challenge
        clock_seq = None
        if link.clock_report:
            clock_seq = self._sentinel_seq()
            rest += _sentinel_frame(TC_GET_CLOCK, clock_seq)
        last = (TC_GET_CLOCK, clock_seq) if clock_seq is not None else (AUTH_CHALLENGE, challenge_seq)
        lo = link.now_ms()
        link.write(b"\x00" + reset + rest)
        frames, complete = link.read_until(lambda f: f[0] in (RESPONSE, NAK) and (f[1], f[2]) == last,
                                           timeout_s=self._answer_wait(RESET_WAITS * link.timeout_s))
        self._cut_short(complete)
        hi = link.now_ms()
        done = [i for i, f in enumerate(frames) if f[0] in (RESPONSE, NAK) and (f[1], f[2]) == (TC_RESET, RESET_SEQ)]
        if not complete or not done:
            raise LinkTimeout("no answer to TC_RESET from %s" % link.url)
        self.anchor_ms = (lo, hi)  # the pump's clock read 0 at a host ms in this interval
        self.checker.model.receive(reset, 0)
        frames = frames[done[0] + 1:]  # what came before is the previous example's
        if self.stats is not None:
            self.stats["exchanges"] += 1
        answers = {(f[1], f[2]): f for f in frames if f[0] in (RESPONSE, NAK)}
        clock = answers.get((TC_GET_CLOCK, clock_seq))
        reported = (clock_seq, m.TcGetClockResponse.decode(clock[3], strict=False).clock_ms) \
            if clock and clock[0] == RESPONSE and len(clock[3]) == 8 else None
        self._judge(rest, 0, 0 if link.exact else math.ceil(hi - lo) + link.slack_ms, frames, reported)
        self.acks = b"".join(encode_frame(ACK, f[1], f[2]) for f in frames if f[0] == EVENT)
        self._authenticate(Role.CLINICIAN, answers.get((AUTH_CHALLENGE, challenge_seq)))

    def login(self, role):
        self._authenticate(role, self.request(m.AuthChallengeRequest(role), observe=False))

    def _authenticate(self, role, answer):
        """AUTH_RESPONSE to the answer an AUTH_CHALLENGE got."""
        if answer is None or answer[0] != RESPONSE:
            return
        nonce = m.AuthChallengeResponse.decode(answer[3]).nonce
        mac = auth_mac(role_key(self.link.serial, role), nonce, self.link.serial, role)
        self.request(m.AuthResponseRequest(role, mac))

    def teardown(self):
        # hypothesis calls this in a `finally`: an exception on its way out is this example failing
        # (a reject() is not), and a failed run must not be stopped before it shrinks.
        error = sys.exc_info()[1]
        if isinstance(error, Exception) and not isinstance(error, UnsatisfiedAssumption):
            type(self).run_failed = True
        link = self.link
        if isinstance(error, Violation):
            PumpMachine.last_failure = {"error": error, "record": list(link.record or []), "serial": link.serial,
                                        "capacity_ul": link.capacity_ul, "url": link.url,
                                        "steps": getattr(self, "_steps", 0)}
            if PumpMachine.first_failure is None:
                PumpMachine.first_failure = PumpMachine.last_failure
        if link.record is not None:
            from hypothesis.control import current_build_context
            try:
                final = current_build_context().is_final
            except Exception:
                final = False
            if final:
                PumpMachine.final_records.append({"record": link.record, "serial": link.serial,
                                                   "capacity_ul": link.capacity_ul, "url": link.url,
                                                   "steps": getattr(self, "_steps", 0), "error": error})
            link.record = None
        self._stop_if_runner_outcome(error)

    def _stop_if_runner_outcome(self, error):
        if self.stop_on_runner_outcome and _is_runner_outcome(error):
            PumpMachine.interrupted = error
            raise Interrupted() from error

    def _count_step(self):
        self._steps = getattr(self, "_steps", 0) + 1
        if self.stats is not None:
            self.stats["steps"] += 1
        self._check_budget()

    def _check_budget(self):
        # Checked at every step and exchange too, not only as an example starts: on a slow target
        # (a board, a loaded machine) one example's setup alone can outlast the budget by seconds.
        if PumpMachine.interrupted is not None:
            raise Interrupted()  # a runner's outcome arrived (teardown, or runner_alarm_watched)
        now = time.monotonic()
        if self.deadline is not None and not self.run_failed and now >= self.deadline:
            raise BudgetSpent()
        if self.hard_end is not None and now >= self.hard_end:
            raise BudgetSpent()  # even a shrink stops here (the campaign keeps its best failure)

    def _answer_wait(self, wait_s):
        """wait_s, cut at the hard end: an answer still on its way then is the campaign's time up,
        not a pump that went silent (see _cut_short)."""
        if self.hard_end is None:
            return wait_s
        return max(min(wait_s, self.hard_end - time.monotonic()), 0.0)

    def _cut_short(self, complete):
        if not complete and self.hard_end is not None and time.monotonic() >= self.hard_end:
            raise BudgetSpent()

    # ---- setup ----------------------------------------------------------------------------------
    @initialize(setup=setup_plans, fill=st.sampled_from(["full", "full", "low", "none"]))
    def prepare(self, setup, fill):
        """Fill the reservoir and program a valid prescription (most examples start in therapy)."""
        if fill == "none":
            return
        drug = setup["drug"]
        volume = self.link.capacity_ul if fill == "full" else 2_100
        self.request(m.RefillRequest(drug, DRUG_CONC[drug], volume))
        rx = make_prescription(self.model, {
            "drug": "reservoir", "conc": "reservoir", "mode": setup["mode"], "dose_permille": 300,
            "steps": setup["steps"], "order": "ok", "ptm_permille": 100 if setup["ptm"] else 0, "lockout_min": 30,
            "per_24h": 3, "max_daily": "fit", "refill_days": setup["refill_days"]})
        self.request(m.ProgramPrescriptionRequest(overrides_for(self.model, rx, "exact"), rx))

    # ---- prescriptions -------------------------------------------------------------------------
    @rule(target=sent, plan=rx_plans, policy=overrides_policies, role=st.sampled_from(["current", "clinician"]))
    def program(self, plan, policy, role):
        self._ensure_role(role)
        rx = make_prescription(self.model, plan)
        return self._state_changing(m.ProgramPrescriptionRequest(overrides_for(self.model, rx, policy), rx))

    @rule(plan=rx_plans)
    def validate(self, plan):
        self._count_step()
        self.request(m.ValidatePrescriptionRequest(make_prescription(self.model, plan)))

    def _state_changing(self, message):
        self._count_step()
        seq, wire = self.frame(message)
        self.exchange(wire)
        return (seq, message.MESSAGE.id, message.encode())

    # ---- reservoir -----------------------------------------------------------------------------
    @rule(target=sent, drug=st.sampled_from(["rx", 1, 3, 4]), conc=st.sampled_from(["max", "max", "half", "over"]),
          volume=st.sampled_from(["full", "over", 1, 2_000, 2_001, 5_000]))
    def refill(self, drug, conc, volume):
        model = self.model
        code = (model.rx.drug if model.rx else 1) if drug == "rx" else drug
        concentration = {"max": DRUG_CONC[code], "half": DRUG_CONC[code] // 2, "over": DRUG_CONC[code] + 1}[conc]
        amount = {"full": model.capacity_ul, "over": model.capacity_ul + 1}.get(volume, volume)
        return self._state_changing(m.RefillRequest(code, concentration, amount))

    @rule(volume=st.sampled_from([0, 1, 50, 1_999, 2_000, 2_001, 2_050, "capacity", "over"]))
    def set_reservoir(self, volume):
        self._count_step()
        amount = {"capacity": self.model.capacity_ul, "over": self.model.capacity_ul + 1}.get(volume, volume)
        self.request(m.TcSetReservoirRequest(amount))

    # ---- boluses ---------------------------------------------------------------------------------
    @rule(target=sent, kind=st.sampled_from(list(BolusKind)), margin=st.integers(-3, 3),
          size=st.sampled_from(["margin", "small", "reservoir", "huge"]),
          duration_s=st.sampled_from([600, 60, 59, 3_600, 86_400, 86_401]),
          role=st.sampled_from(["current", "clinician"]))
    def clinician_bolus(self, kind, margin, size, duration_s, role):
        self._ensure_role(role)
        model = self.model
        room = (model.rx.max_daily_dose_ug - model.delivered_24h_ug()) if model.rx else 100
        conc = model.rx.concentration_ug_per_ml if model.rx else 1
        dose = {"margin": room + margin, "small": 10 + margin, "reservoir": model.reservoir_ul * conc // 1000 + margin,
                "huge": 10 ** 9}[size]
        return self._state_changing(m.ClinicianBolusRequest(kind, max(dose, 1), duration_s))

    @rule(target=sent, role=st.sampled_from(["current", "current", "patient", "clinician"]),
          at=st.sampled_from(["now", "now", "lockout_end", "window_end"]), delta_s=BOUNDARY_DELTAS_S)
    def ptm_bolus(self, role, at, delta_s):
        """The patient presses the button: now, or a few seconds around the end of the lockout or the 24 h window."""
        self._count_step()
        self._ensure_role(role)
        model = self.model
        if at != "now" and model.ptm_history and model.rx is not None:
            end = (model.ptm_history[-1] + model.rx.ptm_lockout_min * MINUTE if at == "lockout_end"
                   else model.ptm_history[0] + DAY)
            self.request(m.TcWarpClockRequest(max((end - model.t + 999) // 1000 + delta_s, 0)))
        rx = self.model.rx
        message = m.PtmBolusRequest()
        seq, wire = self.frame(message)
        answer = self.exchange(wire).get((PTM_BOLUS, seq))
        if answer and answer[0] == RESPONSE and rx is not None and self.checker.certain:
            # The moment the (agreeing) model accepted it. Only a moment the oracle is sure of: a
            # bolus left out can hide a breach, never invent one (it is always sure, but on a real
            # clock without TC_GET_CLOCK).
            self.ptm_accepted.append((self.model.ptm_history[-1], rx.ptm_lockout_min * MINUTE,
                                      rx.ptm_max_per_24h))
        return (seq, PTM_BOLUS, b"")

    def _ensure_role(self, role):
        wanted = {"patient": Role.PATIENT, "clinician": Role.CLINICIAN}.get(role)
        if wanted is not None and self.model.role != wanted:
            self.login(wanted)

    @rule(target=sent, which=st.sampled_from(["suspend", "resume"]))
    def suspend_resume(self, which):
        return self._state_changing(m.SuspendRequest() if which == "suspend" else m.ResumeRequest())

    # ---- time --------------------------------------------------------------------------------------
    @rule(seconds=st.sampled_from([1, 59, 60, 61, 600, 3_599, 3_600, 7_200, 86_399, 86_400]))
    def warp(self, seconds):
        self._count_step()
        self.request(m.TcWarpClockRequest(seconds))

    @rule(days=st.integers(1, 45))
    def warp_days(self, days):
        self._count_step()
        self.request(m.TcWarpClockRequest(days * 86_400))

    @rule(kind=st.sampled_from(["ptm_lockout", "ptm_window", "bolus_end", "hour", "day", "next_event", "alarm",
                                "daily_max"]), delta_s=BOUNDARY_DELTAS_S)
    def warp_to_deadline(self, kind, delta_s):
        """Warp to just before, at, or after a moment where the model says something changes."""
        self._count_step()
        target = deadline(self.model, kind)
        self.request(m.TcWarpClockRequest(max((target - self.model.t + 999) // 1000 + delta_s, 0)))

    # ---- faults and alarms -----------------------------------------------------------------------
    @rule(fault=st.integers(1, 4), inject=st.booleans())
    def fault(self, fault, inject):
        self._count_step()
        self.request(m.TcInjectFaultRequest(fault) if inject else m.TcClearFaultRequest(fault))

    @rule(percent=st.sampled_from([100, 50, 11, 10, 9, 1, 0]))
    def set_battery(self, percent):
        self._count_step()
        self.request(m.TcSetBatteryRequest(percent))

    @rule(target=alarm_instances)
    def get_alarms(self):
        self._count_step()
        answer = self.request(m.GetAlarmsRequest())
        if answer is None or answer[0] != RESPONSE:
            return multiple()
        return multiple(*[(a.code, a.instance) for a in m.GetAlarmsResponse.decode(answer[3]).alarms])

    @rule(target=sent, alarm=consumes(alarm_instances), stale=st.booleans())
    def ack_alarm(self, alarm, stale):
        code, instance = alarm
        return self._state_changing(m.AckAlarmRequest(code, instance + 1 if stale else instance))

    @rule(target=sent, index=st.integers(0, 15))
    def ack_listed_alarm(self, index):
        alarms = self.model.alarms
        code, instance = (alarms[index % len(alarms)].code, alarms[index % len(alarms)].instance) if alarms else (1, 1)
        return self._state_changing(m.AckAlarmRequest(code, instance))

    # ---- reading -----------------------------------------------------------------------------------
    @rule(which=st.sampled_from(["status", "prescription", "log", "tc_prescription"]), start=st.integers(0, 40),
          count=st.integers(1, 12))
    def read(self, which, start, count):
        self._count_step()
        message = {"status": m.GetStatusRequest(), "prescription": m.GetPrescriptionRequest(),
                   "log": m.ReadLogRequest(max(self.model.log_next - start, 0), count),
                   "tc_prescription": m.TcGetPrescriptionRequest()}[which]
        self.request(message)

    # ---- session -------------------------------------------------------------------------------------
    @rule(role=st.sampled_from([Role.CLINICIAN, Role.PATIENT]))
    def login_as(self, role):
        self._count_step()
        self.login(role)

    @rule(role=st.sampled_from([Role.CLINICIAN, Role.PATIENT]), how=st.sampled_from(["forged", "no_nonce"]))
    def bad_login(self, role, how):
        self._count_step()
        if how == "forged":
            self.request(m.AuthChallengeRequest(role), observe=False)
        self.request(m.AuthResponseRequest(role, bytes(32)))

    @rule()
    def logout(self):
        self._count_step()
        self.request(m.LogoutRequest())

    @rule(other_host=st.booleans())
    def hello(self, other_host):
        """HELLO as the same host, or as the other of two hosts (either may come back to retransmit
        what it sent before the other talked: its answers must still be cached)."""
        self._count_step()
        if other_host:
            self.session_id = SESSION_ID + 1 if self.session_id == SESSION_ID else SESSION_ID
        self.request(m.HelloRequest(self.session_id, 1))

    # ---- exactly once --------------------------------------------------------------------------------
    @rule(frame=sent)
    def retransmit(self, frame):
        """The same bytes with the same seq: answered from the cache, never executed twice."""
        self._count_step()
        seq, msg_id, payload = frame
        self.exchange(encode_frame(REQUEST, msg_id, seq, payload), context="retransmission")

    @rule(frame=sent)
    def reuse_seq(self, frame):
        """The same seq for another request: SEQUENCE_REUSED while the first is cached."""
        self._count_step()
        seq = frame[0]
        self.exchange(self.frame(m.ClinicianBolusRequest(BolusKind.CLINICIAN, 7, 600), seq)[1])

    # ---- line abuse -----------------------------------------------------------------------------------
    @rule(junk=st.binary(max_size=64))
    def junk(self, junk):
        self._count_step()
        self.exchange(_defuse(junk, self._sentinels()) + b"\x00")

    @rule(item=fs.near_valid_frames())
    def near_valid(self, item):
        self._count_step()
        self.exchange(b"\x00" + _defuse(item[1], self._sentinels()))

    @rule(data=fs.mutated_vectors())
    def mutated_vector(self, data):
        self._count_step()
        self.exchange(b"\x00" + _defuse(data, self._sentinels()) + b"\x00")

    @rule(item=fs.out_of_range_requests())
    def out_of_range(self, item):
        self._count_step()
        msg_id, payload, _position = item
        if msg_id == TC_POWER_LOSS:
            payload = bytes(len(payload))
        self.exchange(encode_frame(REQUEST, msg_id, self._next_seq(), payload))

    @rule(message=fs.requests())
    def any_request(self, message):
        self._count_step()
        if isinstance(message, m.TcPowerLossRequest):
            message = m.TcPowerLossRequest(0)
        elif isinstance(message, m.TcWarpClockRequest):
            message = m.TcWarpClockRequest(message.advance_s % (40 * 86_400))
        self.request(message)

    @rule()
    def power_loss(self):
        self._count_step()
        self.request(m.TcPowerLossRequest(0))

    @rule(cut=st.integers(1, CUT_MAX), command=st.sampled_from(["warp", "battery", "fault", "clear", "reset"]),
          advance_s=st.sampled_from([1, 3599, 86_400, 7 * 86_400]))
    def power_cut_during_test_control(self, cut, command, advance_s):
        """TC_POWER_LOSS(n), then a test control whose save power fails in (14): it never happened,
        the pump rebooted at its moment; the observation after it must show the pump clock and
        delivery where the model has them (a cut save that moved the clock freezes delivery)."""
        self._count_step()
        message = {"warp": m.TcWarpClockRequest(advance_s), "battery": m.TcSetBatteryRequest(50),
                   "fault": m.TcInjectFaultRequest(2), "clear": m.TcClearFaultRequest(2),
                   "reset": m.TcResetRequest(RESET_SEED)}[command]
        arm_seq, arm = self.frame(m.TcPowerLossRequest(cut))
        _seq, wire = self.frame(message)
        self.exchange(arm + wire, observe=False, until=(TC_POWER_LOSS, arm_seq))
        self.exchange(b"")  # counters and status after the reboot
        self.request(m.TcWarpClockRequest(HOUR // 1000))  # an hour on: delivery must go on as the model's
        self.request(m.TcGetClockRequest())

    def _sentinels(self):
        return RESERVED_SEQS

    # ---- invariants (the pump's own observations, after every step) -------------------------------
    @invariant()
    def pump_observations_are_safe(self):
        """Conservation, required alarms, therapy state (checked on every exchange; here after every step)."""
        if self.status is not None:
            check_observations(self.counters, self.status)

    @invariant()
    def ptm_boluses_kept_their_limits(self):
        accepted = self.ptm_accepted
        if len(accepted) < 2:
            return
        t, lockout_ms, _max = accepted[-1]
        previous = accepted[-2][0]
        if t - previous < lockout_ms:
            raise Violation("SAFETY: dose beyond a limit", "PTM boluses %d ms apart under a %d min lockout"
                            % (t - previous, lockout_ms // MINUTE))
        window = [a for a in accepted if t - a[0] < DAY]
        if len(window) > accepted[-1][2]:
            raise Violation("SAFETY: dose beyond a limit", "%d PTM boluses within 24 h, at most %d allowed"
                            % (len(window), accepted[-1][2]))

    @invariant()
    def model_agrees_on_totals(self):
        """Exactly once: the pump's bolus count and doses are the model's (retransmissions included)."""
        if self.counters is None or not self.checker.certain:
            return
        model = self.model
        if self.counters.boluses_delivered != model.boluses & 0xFFFFFFFF:
            raise Violation("SAFETY: exactly once", "the pump started %d boluses, the model %d"
                            % (self.counters.boluses_delivered, model.boluses))


def deadline(model, kind):
    """The next moment (pump ms) of a kind where something changes; the next model event if none."""
    t = model.t
    moments = {
        "ptm_lockout": model.ptm_history[-1] + model.rx.ptm_lockout_min * MINUTE
        if model.ptm_history and model.rx is not None else None,
        "ptm_window": model.ptm_history[0] + DAY if model.ptm_history else None,
        "bolus_end": model.bolus.start_ms + model.bolus.duration_ms if model.bolus else None,
        "hour": (t // HOUR + 1) * HOUR,
        "day": (t // DAY + 1) * DAY,
        "alarm": min([a.raised_ms + a.count(t) * ALARM_INFO[a.code][2] for a in model.alarms if not a.acked_count],
                     default=None),
        "daily_max": max(model.daily_max_until, model.ptm_lockout_until) or None,
    }
    moment = moments.get(kind)
    return moment if moment is not None else model.next_event(t)


def machine_for(url, steps=DEFAULT_STEPS, max_examples=100, database=_HYPOTHESIS_DEFAULT, stats=None, record=False,
                on_example=None, **connect_options):
    """A PumpMachine subclass bound to `url`, with its TestCase's settings (deadline=None: a line is slow).

    database: hypothesis's own default (failing examples are kept and tried first next time)
    unless given; None keeps nothing.
    """
    machine = type("PumpMachineFor", (PumpMachine,), {
        "url": url, "connect_options": connect_options, "stats": stats, "record_examples": record,
        "on_example": staticmethod(on_example) if on_example else None})
    # No explain phase: it runs a failing program again and again with variations, which costs
    # minutes on a real line; the shrunk program itself is printed all the same.
    chosen = {} if database is _HYPOTHESIS_DEFAULT else {"database": database}
    machine.TestCase.settings = settings(
        max_examples=max_examples, stateful_step_count=steps, deadline=None, **chosen,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    return machine

