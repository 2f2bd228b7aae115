"""The reference client against the in-process emulator: scenario, faults, exactly once, refusals."""

import pytest
import serial

from pumpmock import harness
from pumpmock.harness.checks import run_checks
from pumpmock.harness.client import PumpSession
from pumpmock.harness.faults import FaultModel
from pumpmock.harness.faulty_port import FaultyPort, PortWrapper
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm, Drug, Error, Fault, Limit, Role, TherapyMode, TherapyState
from pumpmock.protocol.framing import REQUEST, RESPONSE, Frame, FrameDecoder

RX = m.Prescription(drug=Drug.MORPHINE, concentration_ug_per_ml=20_000, mode=TherapyMode.SIMPLE_CONTINUOUS,
                    daily_dose_ug=3_000, ptm_dose_ug=200, ptm_lockout_min=120, ptm_max_per_24h=3,
                    max_daily_dose_ug=5_000, refill_interval_days=30)


def scenario(session):
    """Interrogate, refill, program, bolus, alarm and log: what a clinician visit does."""
    session.test.reset(seed=4)
    session.authenticate(Role.CLINICIAN)
    assert session.refill(Drug.MORPHINE, 20_000, 20_000).reservoir_ul == 20_000
    assert session.validate(RX) == ()
    assert session.program(RX).version >= 1
    assert session.prescription()[1] == RX
    status = session.status()
    assert status.therapy_state == TherapyState.RUNNING and status.basal_rate_ug_per_day == 3_000
    session.authenticate(Role.PATIENT)
    assert session.ptm_bolus().dose_ug == 200
    with pytest.raises(harness.errors.LockoutActiveError) as refusal:
        session.ptm_bolus()
    assert refusal.value.limit_value == 120 * 60
    session.authenticate(Role.CLINICIAN)
    session.test.inject_fault(Fault.CATHETER_OCCLUSION)
    event = session.wait_for_event(lambda e: isinstance(e, m.AlarmRaised) and e.code == Alarm.CATHETER_OCCLUSION,
                                   timeout=2)
    assert event is not None and event.latching == 1
    session.test.clear_fault(Fault.CATHETER_OCCLUSION)
    session.ack_alarm(event.code, event.instance)
    assert session.download_log()[-1].index == session.read_log(0, 1).next_index - 1
    return session.test.counters()


def test_scenario_in_process():
    with harness.connect("pumpmock://?clock=virtual") as session:
        counters = scenario(session)
    assert counters.boluses_delivered == 1


def test_scenario_through_a_faulty_line_gives_the_same_pump_state():
    with harness.connect("pumpmock://?clock=virtual") as clean:
        expected = scenario(clean)
    with harness.connect("pumpmock://?clock=virtual", faults="corrupt=2%,drop=2%,duplicate=1%,unit=frame,seed=9",
                         retries=8, host_session_id=9, initial_seq=0) as faulty:  # the same run every time
        got = scenario(faulty)
        assert faulty.stats["retransmissions"] > 0
    for field in ("boluses_delivered", "delivered_ug", "delivered_ul", "filled_ul", "removed_ul"):
        assert getattr(got, field) == getattr(expected, field), field


def test_ten_thousand_state_changing_commands_under_faults_execute_exactly_once():
    port = harness.open_port("pumpmock://?clock=virtual")
    model = FaultModel.parse("corrupt=1%,drop=1%,duplicate=0.5%,unit=frame,seed=5")
    # Seeded end to end (faults, session id, sequence numbers): a CRC-16 misses about one
    # corrupted frame in 65,536, so an unseeded run would now and then see a damaged request
    # refused (BAD_LENGTH) instead of executed; this run is the same every time.
    faulty = FaultyPort(port, model)
    session = PumpSession(faulty, clock=port.clock, retries=8, host_session_id=7, initial_seq=0)
    session.hello()
    session.test.reset(seed=1)
    session.authenticate(Role.CLINICIAN)
    before = session.test.counters()
    volumes = [1_000 + i % 7 for i in range(10_000)]
    for volume in volumes:  # every refill must answer; a silent failure would raise here
        assert session.refill(Drug.MORPHINE, 20_000, volume).reservoir_ul == volume
    after = session.test.counters()
    port.close()
    assert after.filled_ul - before.filled_ul == sum(volumes)  # none twice, none lost
    assert session.stats["retransmissions"] > 100  # the faults really bit, in both directions:
    for direction in ("to_pump", "to_host"):
        hits = faulty.stats[direction]
        assert hits["corrupted"] > 0 and hits["dropped"] > 0 and hits["duplicated"] > 0, (direction, hits)
    assert after.dedup_hits - before.dedup_hits > 0  # lost answers were retransmissions the pump saw again


class AnswersLost(PortWrapper):
    """A line that delivers every request and loses every answer: what the pump sent is kept in `lost`."""

    def __init__(self, port):
        super().__init__(port)
        self._sent = bytearray()
        self._lost = bytearray()

    @property
    def sent(self):
        return bytes(self._sent)

    @property
    def lost(self):
        return bytes(self._lost)

    def clock(self):
        return self._port.clock()

    def write(self, data):
        self._sent += data
        return self._port.write(data)

    def read(self, size=1):
        self._lost += self._port.read(size)  # waits as the port does, so the virtual clock moves
        return b""

    @property
    def in_waiting(self):
        return 0


def test_a_timed_out_request_is_retransmitted_with_the_same_seq_and_then_given_up():
    port = harness.open_port("pumpmock://?clock=virtual")
    session = PumpSession(port, clock=port.clock, retries=2)
    session.hello()
    session.test.reset(seed=1)
    session.authenticate(Role.CLINICIAN)
    before = session.test.counters()
    session.port = AnswersLost(port)
    with pytest.raises(harness.LinkTimeout, match="after 2 retransmissions"):
        session.refill(Drug.MORPHINE, 20_000, 1_000)
    lossy, session.port = session.port, port
    after = session.test.counters()
    port.close()
    requests = [f for f in FrameDecoder().feed(lossy.sent) if isinstance(f, Frame)]
    answers = [f for f in FrameDecoder().feed(lossy.lost) if isinstance(f, Frame)]
    assert [f.kind for f in requests] == [REQUEST] * 3  # the first send and 2 retransmissions
    assert len({(f.msg_id, f.seq, f.payload) for f in requests}) == 1  # identical, seq and all
    assert [(f.kind, f.seq) for f in answers] == [(RESPONSE, requests[0].seq)] * 3  # the pump saw each copy
    assert after.filled_ul - before.filled_ul == 1_000  # ... and refilled once
    assert after.dedup_hits - before.dedup_hits == 2


class WriteFailsOnce(PortWrapper):
    """A line whose first write does not drain (flow control held, say); the rest go through."""

    def __init__(self, port):
        super().__init__(port)
        self._failed = False

    def clock(self):
        return self._port.clock()

    def write(self, data):
        if not self._failed:
            self._failed = True
            raise serial.SerialTimeoutException("held")
        return self._port.write(data)

    def read(self, size=1):
        return self._port.read(size)

    @property
    def in_waiting(self):
        return self._port.in_waiting


def test_a_request_whose_write_failed_is_never_resent_behind_the_callers_back():
    port = harness.open_port("pumpmock://?clock=virtual")
    session = PumpSession(port, clock=port.clock, retries=1)
    session.hello()
    session.test.reset(seed=1)
    session.authenticate(Role.CLINICIAN)
    session.port = WriteFailsOnce(port)
    with pytest.raises(harness.PortError):
        session.refill(Drug.MORPHINE, 20_000, 1_000)  # the caller hears of it and may try again
    session.port = lossy = AnswersLost(port)
    with pytest.raises(harness.LinkTimeout):  # long enough for the failed refill's deadline to pass
        session.status()
    session.port = port
    counters = session.test.counters()
    port.close()
    sent = [f.msg_id for f in FrameDecoder().feed(lossy.sent) if isinstance(f, Frame)]
    assert set(sent) == {m.GetStatusRequest.MESSAGE.id}  # the status twice, never the refill
    assert counters.filled_ul == 0


def test_unknown_url_options_are_refused_with_usage():
    with pytest.raises(harness.BadUrlError, match="unknown option 'colour'"):  # before anything opens
        harness.open_port("pumpmock://?colour=blue")
    with pytest.raises(serial.SerialException, match="unknown option 'colour'"):  # pyserial's own way
        serial.serial_for_url("pumpmock://?colour=blue")


def test_refusals_are_typed_and_carry_the_limit():
    with harness.connect("pumpmock://?clock=virtual", role=Role.CLINICIAN) as session:
        session.test.reset()
        session.authenticate(Role.CLINICIAN)
        session.refill(Drug.MORPHINE, 20_000, 20_000)
        with pytest.raises(harness.errors.HardLimitError) as refusal:
            session.program(RX._replace(daily_dose_ug=20_000, max_daily_dose_ug=20_000))
        assert refusal.value.error == Error.HARD_LIMIT
        assert refusal.value.limit in (Limit.DAILY_DOSE_HARD, Limit.MAX_DAILY_HARD)
        assert "HARD_LIMIT" in str(refusal.value)


def test_conformance_checks_pass_on_the_emulator():
    results = run_checks("pumpmock://?clock=virtual")
    failed = [(r.check.name, r.detail) for r in results if r.status == "fail"]
    assert failed == []
    assert sum(r.status == "pass" for r in results) >= 14


def test_conformance_checks_catch_a_pump_that_executes_retransmissions_again(monkeypatch):
    from pumpmock.firmware_mock.dedup import ExactlyOnceCache
    monkeypatch.setattr(ExactlyOnceCache, "lookup", lambda self, seq, msg_id, digest: None)
    results = {r.check.name: r for r in run_checks("pumpmock://?clock=virtual",
                                                   selected={"exactly once on retransmission"})}
    result = results["exactly once on retransmission"]
    assert result.status == "fail" and "executed again" in result.detail


def test_conformance_checks_skip_test_control_on_a_pump_without_test_mode():
    results = {r.check.name: r.status for r in run_checks("pumpmock://?clock=virtual&test_mode=0")}
    assert results["hard limit refuses"] == "skip"
    assert results["test control is refused outside test mode"] == "pass"
    assert results["identity"] == "pass"
