"""Built-in conformance checks: does a target (emulator, runner, board) behave like the pumpmock pump?

`pumpmock check [URL]` runs them all over one connection, opened once and held from the first
check to the last, so no other client can take a served line between two checks (issue 12). Each
check starts a fresh host session on it (a new host session id, HELLO: role NONE), puts the pump in
a known state through test control (when it has test mode; checks that need it are skipped
otherwise) and asserts one documented behaviour. A check fails with a sentence saying what the
pump did instead.
"""

import time

from pumpmock.protocol import encode_frame, encode_message
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import (Alarm, BolusKind, Drug, Error, Fault, Limit, Role, Severity, TherapyMode,
                            TherapyState)
from pumpmock.protocol.framing import REQUEST, decode_frame

from . import connect
from .client import PumpSession
from .errors import LinkError, LinkTimeout, NotAMockError, PumpRefusedError
from .interlock import PortBusyError

MORPHINE_UG_PER_ML = 20_000


class CheckFailed(AssertionError):
    """A conformance check found the target misbehaving."""


class Check:
    def __init__(self, name, function, needs_test_control, doc):
        self.name = name
        self.function = function
        self.needs_test_control = needs_test_control
        self.doc = doc


CHECKS = []


def check(name, needs_test_control=True):
    def register(function):
        CHECKS.append(Check(name, function, needs_test_control, (function.__doc__ or "").strip()))
        return function
    return register


def expect(condition, message, *args):
    if not condition:
        raise CheckFailed(message % args if args else message)


def refused(call, error, what):
    """Run `call`, which must be refused with `error`; returns the refusal."""
    try:
        call()
    except PumpRefusedError as refusal:
        expect(refusal.error == error, "%s: expected NAK %s, got %s", what, error.name, refusal)
        return refusal
    raise CheckFailed("%s: expected NAK %s, but the pump accepted it" % (what, error.name))


def morphine(daily_dose_ug=3_000, **changes):
    """A simple-continuous morphine prescription that is valid in a full 20 mL reservoir."""
    rx = m.Prescription(drug=Drug.MORPHINE, concentration_ug_per_ml=MORPHINE_UG_PER_ML,
                        mode=TherapyMode.SIMPLE_CONTINUOUS, daily_dose_ug=daily_dose_ug,
                        ptm_dose_ug=200, ptm_lockout_min=120, ptm_max_per_24h=3,
                        max_daily_dose_ug=5_000, refill_interval_days=30)
    return rx._replace(**changes)


def ready(session):
    """Reset, fill with morphine and program a plain prescription."""
    session.test.reset(seed=1)
    session.authenticate(Role.CLINICIAN)
    session.refill(Drug.MORPHINE, MORPHINE_UG_PER_ML, 20_000)
    session.program(morphine())


# ---- the checks ------------------------------------------------------------------------------
@check("identity", needs_test_control=False)
def check_identity(session):
    """HELLO answers the mock identity: magic, banner, version, a serial number."""
    identity = session.identity
    expect(identity.serial != "", "the pump reported an empty serial number")


@check("authentication")
def check_authentication(session):
    """Clinician challenge–response works; forged and replayed responses are refused."""
    session.test.reset(seed=2)
    serial = session.identity.serial
    nonce = session.request(m.AuthChallengeRequest(Role.CLINICIAN)).nonce
    refused(lambda: session.request(m.AuthResponseRequest(Role.CLINICIAN, bytes(32))), Error.UNAUTHORIZED,
            "a forged MAC")
    from pumpmock.protocol.auth import auth_mac, role_key
    mac = auth_mac(role_key(serial, Role.CLINICIAN), nonce, serial, Role.CLINICIAN)
    refused(lambda: session.request(m.AuthResponseRequest(Role.CLINICIAN, mac)), Error.UNAUTHORIZED,
            "a MAC for a nonce that was already spent")
    expect(session.authenticate(Role.CLINICIAN) == Role.CLINICIAN, "clinician authentication failed")


@check("roles")
def check_roles(session):
    """No role: status refused; patient: status yes, programming no (WRONG_ROLE)."""
    session.test.reset(seed=3)
    session.logout()
    refused(session.status, Error.UNAUTHORIZED, "GET_STATUS before authenticating")
    session.authenticate(Role.PATIENT)
    session.status()
    refused(lambda: session.program(morphine()), Error.WRONG_ROLE, "PROGRAM_PRESCRIPTION as patient")


@check("test control is refused outside test mode", needs_test_control=False)
def check_test_mode_gate(session):
    """A pump not in test mode answers every test-control message NOT_IN_TEST_MODE."""
    if session.test.available:
        return "skip: the pump is in test mode"
    refused(lambda: session.test.warp_clock(1), Error.NOT_IN_TEST_MODE, "TC_WARP_CLOCK outside test mode")


@check("hard limit refuses")
def check_hard_limit(session):
    """A daily dose above the drug's hard maximum is refused with the limit and both values."""
    ready(session)
    refusal = refused(lambda: session.program(morphine(daily_dose_ug=15_001, max_daily_dose_ug=15_001)),
                      Error.HARD_LIMIT, "morphine 15.001 mg/day")
    expect(refusal.limit in (Limit.DAILY_DOSE_HARD, Limit.MAX_DAILY_HARD),
           "the refusal named limit %s", refusal.limit)
    expect(refusal.limit_value == 15_000, "hard limit reported as %d µg, expected 15000", refusal.limit_value)


@check("soft limit needs exactly its override")
def check_soft_limit(session):
    """Above the soft maximum: refused without override, refused with a wrong one, accepted with it."""
    ready(session)
    rx = morphine(daily_dose_ug=11_000, max_daily_dose_ug=12_000)
    findings = session.validate(rx)
    soft = sorted(f.limit for f in findings if f.severity == Severity.SOFT)
    expect(Limit.DAILY_DOSE_SOFT in soft, "VALIDATE did not report DAILY_DOSE_SOFT: %s", findings)
    expect(all(f.severity == Severity.SOFT for f in findings), "unexpected hard findings: %s", findings)
    refused(lambda: session.program(rx), Error.SOFT_LIMIT_NEEDS_OVERRIDE, "soft findings without override")
    refused(lambda: session.program(rx, soft + [Limit.CONCENTRATION_MAX]), Error.OVERRIDE_MISMATCH,
            "an override for a limit with no soft finding")
    answer = session.program(rx, soft)
    expect(sorted(f.limit for f in answer.findings) == soft, "PROGRAM did not list the overridden findings")
    version, stored = session.prescription()
    expect(stored.daily_dose_ug == 11_000, "read-back dose %d µg, programmed 11000", stored.daily_dose_ug)


@check("PTM bolus limits")
def check_ptm_limits(session):
    """PTM lockout, activations per 24 h and the rolling daily maximum refuse boluses."""
    ready(session)
    session.authenticate(Role.PATIENT)
    session.ptm_bolus()
    refused(session.ptm_bolus, Error.LOCKOUT_ACTIVE, "a second PTM bolus inside the lockout")
    for _ in range(2):
        session.test.warp_clock(121 * 60)
        session.ptm_bolus()
    session.test.warp_clock(121 * 60)
    refused(session.ptm_bolus, Error.MAX_ACTIVATIONS, "a fourth PTM bolus in 24 h")


@check("alarms are raised, re-announced and acknowledged")
def check_alarms(session):
    """A motor stall raises a latching high alarm event; it is re-announced until ACK_ALARM."""
    ready(session)
    session.poll_events()
    alarm = session.test.inject_fault(Fault.MOTOR_STALL)
    expect(alarm == Alarm.MOTOR_STALL, "injecting a motor stall raised %s", alarm)
    raised = session.wait_for_event(lambda e: isinstance(e, m.AlarmRaised) and e.code == Alarm.MOTOR_STALL,
                                    timeout=2)
    expect(raised is not None, "no ALARM_RAISED event for MOTOR_STALL")
    expect(raised.latching == 1 and raised.announce_count == 1, "first announcement looks wrong: %s", raised)
    session.test.warp_clock(61)
    again = session.wait_for_event(lambda e: isinstance(e, m.AlarmRaised) and e.code == Alarm.MOTOR_STALL,
                                   timeout=2)
    expect(again is not None and again.instance == raised.instance and again.announce_count == 2,
           "the unacknowledged alarm was not re-announced as the same instance: %s", again)
    expect(session.status().therapy_state == TherapyState.STOPPED, "therapy did not stop on a motor stall")
    session.test.clear_fault(Fault.MOTOR_STALL)
    listed = {a.code: a for a in session.alarms()}
    expect(Alarm.MOTOR_STALL in listed, "a latching alarm left the list before it was acknowledged")
    session.ack_alarm(Alarm.MOTOR_STALL, raised.instance)
    session.poll_events()
    session.test.warp_clock(120)
    expect(not any(isinstance(e, m.AlarmRaised) and e.code == Alarm.MOTOR_STALL
                   for e in session.poll_events(0.2)), "the alarm was re-announced after ACK_ALARM")
    expect(session.status().therapy_state == TherapyState.RUNNING, "therapy did not resume after clear + ack")


@check("low and empty reservoir")
def check_reservoir_alarms(session):
    """LOW_RESERVOIR at the threshold; EMPTY_RESERVOIR stops delivery; a refill clears both."""
    ready(session)
    session.test.set_reservoir(2_050)
    session.test.warp_clock(86_400)  # 150 µL/day at 3 mg/day of 20 mg/mL
    expect(Alarm.LOW_RESERVOIR in session.status().active_alarms, "no LOW_RESERVOIR below 2 mL")
    session.test.set_reservoir(10)
    session.test.warp_clock(86_400)
    status = session.status()
    expect(Alarm.EMPTY_RESERVOIR in status.active_alarms and status.therapy_state == TherapyState.STOPPED,
           "an empty reservoir did not stop therapy: %s", status)
    session.refill(Drug.MORPHINE, MORPHINE_UG_PER_ML, 20_000)
    status = session.status()
    expect(not {Alarm.EMPTY_RESERVOIR, Alarm.LOW_RESERVOIR} & set(status.active_alarms),
           "a refill did not clear the reservoir alarms: %s", status.active_alarms)


@check("exactly once on retransmission")
def check_exactly_once(session):
    """A bolus retransmitted with the same seq gets the cached answer and is delivered once."""
    ready(session)
    before = session.test.counters().boluses_delivered
    request = m.ClinicianBolusRequest(BolusKind.CLINICIAN, 100, 600)
    wire = encode_message(request, 0x7000)
    answers = []
    for _ in range(3):
        answers.append(_raw_answer(session, wire))
    expect(len(set(answers)) == 1, "a retransmitted bolus was executed again: the same seq got different "
           "answers %s", answers)
    expect(session.test.counters().boluses_delivered == before + 1, "a retransmitted bolus was executed again")
    answer = m.Nak.decode(_raw_answer(session, encode_message(request._replace(dose_ug=101), 0x7000))[1],
                          request.MESSAGE.id)
    expect(answer.code == Error.SEQUENCE_REUSED, "same seq, new content: expected SEQUENCE_REUSED, got %s", answer)


def _raw_answer(session, wire):
    """(kind, payload) of the pump's answer to a frame the check built itself, through the session."""
    try:
        return session.request_frame(wire)
    except LinkTimeout:  # sent 1 + retries times, a timeout each
        raise CheckFailed("no answer to seq %d within %.1f s" % (decode_frame(wire).seq,
                                                                session.timeout * (session.retries + 1))) from None


@check("garbage on the line", needs_test_control=False)
def check_garbage(session):
    """Noise, bad CRCs and oversized junk are skipped; the pump answers the next good frame."""
    session.port.write(b"\x13\x37\xff" * 50 + b"\x00" + b"\x01" * 400 + b"\x00\x05\x01\x02\x03\x04\x00")
    expect(session.hello().magic == b"PMCK", "the pump did not answer after garbage")


@check("malformed requests get typed NAKs", needs_test_control=False)
def check_malformed(session):
    """Unknown message ids and wrong payload lengths are answered NAK, not ignored or crashed on."""
    kind, payload = _raw_answer(session, encode_frame(REQUEST, _UNKNOWN_ID, 0x7100))
    expect(m.Nak.decode(payload, _UNKNOWN_ID).code == Error.UNKNOWN_MESSAGE, "unknown id not answered UNKNOWN_MESSAGE")
    hello = m.HelloRequest.MESSAGE.id
    kind, payload = _raw_answer(session, encode_frame(REQUEST, hello, 0x7101, b"\x01"))
    expect(m.Nak.decode(payload, hello).code == Error.BAD_LENGTH, "short HELLO not answered BAD_LENGTH")


_UNKNOWN_ID = 0x7E  # no message in the catalog has this id: the point of the check


@check("conservation of volume")
def check_conservation(session):
    """Filled = delivered + withdrawn + remaining, to the µL, after a week of therapy and boluses."""
    ready(session)
    session.clinician_bolus(300, 3_600)
    session.test.warp_clock(7 * 86_400)
    session.refill(Drug.MORPHINE, MORPHINE_UG_PER_ML, 18_000)
    session.test.warp_clock(86_400)
    counters = session.test.counters()
    remaining = session.status().reservoir_ul
    expect(counters.filled_ul == counters.delivered_ul + counters.removed_ul + remaining,
           "filled %d µL != delivered %d + withdrawn %d + remaining %d", counters.filled_ul,
           counters.delivered_ul, counters.removed_ul, remaining)


@check("prescription survives power loss")
def check_power_loss(session):
    """After a simulated power loss the prescription and reservoir are as before."""
    ready(session)
    before_rx = session.prescription()
    before_ul = session.status().reservoir_ul
    session.test.power_loss()
    session.authenticate(Role.CLINICIAN)
    expect(session.prescription() == before_rx, "the prescription changed across a power loss")
    expect(session.status().reservoir_ul == before_ul, "the reservoir changed across a power loss")


@check("event log pages")
def check_event_log(session):
    """The event log downloads as a contiguous run of indices ending at next_index."""
    ready(session)
    session.test.warp_clock(3 * 86_400)
    entries = session.download_log()
    indices = [e.index for e in entries]
    expect(indices == list(range(indices[0], indices[0] + len(indices))) if indices else False,
           "log indices are not contiguous: %s", indices[:20])


@check("exactly once under link faults")
def check_exactly_once_under_faults(session, commands=200):
    """Through 1% frame corruption, 1% drops and 0.5% duplication, N boluses execute exactly N times."""
    from .client import PumpSession
    from .faults import FaultModel
    from .faulty_port import FaultyPort
    ready(session)
    before = session.test.counters().boluses_delivered
    model = FaultModel.parse("corrupt=1%,drop=1%,duplicate=0.5%,unit=frame,seed=11")
    faulty = PumpSession(FaultyPort(session.port, model), clock=session.clock, retries=8,
                         host_session_id=session.host_session_id)
    faulty.hello()
    faulty.authenticate(Role.CLINICIAN)
    for _ in range(commands):
        faulty.clinician_bolus(1, 60)
        faulty.test.warp_clock(61)
    delivered = session.test.counters().boluses_delivered - before
    expect(delivered == commands, "%d boluses acknowledged, %d delivered", commands, delivered)


# ---- running them ----------------------------------------------------------------------------
class Result:
    def __init__(self, check, status, detail, seconds):
        self.check, self.status, self.detail, self.seconds = check, status, detail, seconds


def run_checks(url, selected=None, progress=None, session=None, **connect_options):
    """Run every (or the selected) check against `url`; returns a list of Result.

    The line is opened once (connect(url, **connect_options)) and held until the last check is
    done, then closed; or `session`, a connection the caller opened (and closes), is used. Each
    check gets a fresh host session over it. PortBusyError (another client holds the line) is
    raised, not reported as a check's failure: it says nothing about the pump.
    """
    results = []
    line = _HeldLine(url, session, connect_options)
    try:
        for item in CHECKS:
            if selected and item.name not in selected:
                continue
            start = time.perf_counter()
            try:
                status, detail = _run_one(item, line.take())
            except PortBusyError:
                raise  # another client took the line (it was lost and opened again): no verdict on the pump
            except Exception as error:  # no session for this check: the target cannot be reached now
                status, detail = "fail", "%s: %s" % (type(error).__name__, error)
            if status == "fail" and line.held is not None:
                # Was the line itself taken? Then the check was cut off by another client, and the
                # run stops with the busy line instead of blaming the pump. Otherwise the next
                # check's session is ready (or the next check says why there is none).
                try:
                    line.prepare()
                except PortBusyError:
                    raise
                except Exception:
                    pass
            result = Result(item, status, detail, time.perf_counter() - start)
            results.append(result)
            if progress:
                progress(result)
    finally:
        line.close()
    return results


def _run_one(item, session):
    """(status, detail) of one check on a session whose HELLO is done."""
    try:
        if item.needs_test_control and not session.test.available:
            return "skip", "needs test mode"
        outcome = item.function(session)
    except CheckFailed as failure:
        return "fail", str(failure)
    except PortBusyError:
        raise
    except Exception as error:  # a crash in a check is a failure of the target or the link
        return "fail", "%s: %s" % (type(error).__name__, error)
    if isinstance(outcome, str) and outcome.startswith("skip:"):
        return "skip", outcome[5:].strip()
    return "pass", ""


class _HeldLine:
    """The connection a run of checks holds, and a fresh host session on it for each check.

    A fresh host session is what each check needs from "fresh": a new host session id (its seqs
    share nothing with the last check's, whose raw frames chose their own), HELLO (role NONE, the
    mock's identity checked again), nothing left over in the port's input. The connection stays:
    closing and opening it again would leave the served line free for anyone in between.
    """

    def __init__(self, url, session, options):
        self.url = url
        self.options = options
        self.held = session  # the connection's first session (its port is the line), None until opened
        self.owned = session is None  # ours to close
        self.ready = session  # a session whose HELLO is done and which no check has used yet

    def take(self):
        if self.ready is None:
            self.prepare()
        ready, self.ready = self.ready, None
        ready.url = self.url
        return ready

    def prepare(self):
        """Make the next check's session ready now (PortBusyError if the line was lost and taken)."""
        if self.ready is not None:
            return
        if self.held is not None:
            try:
                self.ready = self._new_host_session()
                return
            except (LinkError, NotAMockError, OSError):
                # The connection no longer answers (the peer closed or replaced it, a child behind
                # exec:// exited, the pump went silent): there is no hold left to keep. The line is
                # opened again, as a new run would open it; a client that took it meanwhile makes
                # that a PortBusyError, and a target that is gone fails the check with the reason.
                self.close()
        self.held = self.ready = connect(self.url, **self.options)
        self.owned = True

    def _new_host_session(self):
        held = self.held
        _drain(held.port)
        session = PumpSession(held.port, timeout=held.timeout, retries=held.retries, clock=held.clock,
                              busy_poll_s=held.busy_poll_s, host_session_id=self.options.get("host_session_id"),
                              initial_seq=self.options.get("initial_seq"))
        session.hello()
        return session

    def close(self):
        held, self.held, self.ready = self.held, None, None
        if held is not None and self.owned:
            try:
                held.close()
            except OSError:
                pass  # a line that is gone already


def _drain(port):
    """Read and drop what the last check left unread (late answers, events): it is no business of
    the next. Through the port's read, so a tap under the session records it; bounded."""
    for _read in range(64):
        waiting = port.in_waiting
        if not waiting or not port.read(waiting):
            return
