"""pumpmock.harness.plausibility and the client's bad-answer errors: what decodes yet cannot be true is raised."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pumpmock import harness
from pumpmock.harness import plausibility
from pumpmock.harness.checks import morphine, ready
from pumpmock.harness.errors import BadAnswerError, HarnessError, ImplausibleAnswerError, MalformedAnswerError
from pumpmock.harness.hostile import HostilePump
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Drug, Role
from pumpmock.protocol.errors import RemoteProtocolError
from pumpmock.protocol.framing import ACK, EVENT, FrameDecoder, encode_frame


@pytest.fixture(scope="module")
def running_status():
    """A real status of a filled, programmed pump a day into therapy."""
    with harness.connect("pumpmock://?clock=virtual") as session:
        ready(session)
        session.test.warp_clock(86_400)
        return session.status()


def test_a_real_status_has_no_problems(running_status):
    assert running_status.drug == Drug.MORPHINE and running_status.delivered_24h_ug > 0
    assert plausibility.status_problems(running_status) == []


@pytest.mark.parametrize("change, words", [
    ({"reservoir_ul": 20_001}, "above its capacity"),
    ({"capacity_ul": 0, "reservoir_ul": 0}, "no capacity"),
    ({"concentration_ug_per_ml": 0}, "at concentration 0"),
    ({"concentration_ug_per_ml": 50_001}, "above the maximum"),
    ({"delivered_24h_ug": 10 ** 9}, "delivered in 24 h"),
    ({"days_to_low_reservoir": 40, "days_to_empty": 39}, "after the empty day"),
])
def test_each_contradiction_is_named(running_status, change, words):
    problems = plausibility.status_problems(running_status._replace(**change))
    assert len(problems) == 1 and words in problems[0], problems


def test_hello_with_no_capacity_is_refused():
    hello = m.HelloResponse(capacity_ul=0)
    assert plausibility.hello_problems(hello) and not plausibility.hello_problems(hello._replace(capacity_ul=1))


# An honest pump never trips the checks, whatever a session does to it (no false alarms).
OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("warp"), st.integers(1, 3 * 86_400)),
    st.tuples(st.just("refill"), st.integers(1, 20_000)),
    st.tuples(st.just("program"), st.integers(300, 4_000)),
    st.tuples(st.just("bolus"), st.integers(1, 1_500)),
    st.tuples(st.just("ptm"), st.just(0)),
    st.tuples(st.just("suspend"), st.just(0)),
    st.tuples(st.just("resume"), st.just(0)),
), max_size=12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=OPERATIONS)
def test_an_honest_pump_is_always_plausible(operations):
    with harness.connect("pumpmock://?clock=virtual") as session:
        ready(session)
        for operation, value in operations:
            try:
                if operation == "warp":
                    session.test.warp_clock(value)
                elif operation == "refill":
                    session.refill(Drug.MORPHINE, morphine().concentration_ug_per_ml, value)
                elif operation == "program":
                    session.program(morphine(daily_dose_ug=value))
                elif operation == "bolus":
                    session.clinician_bolus(value, 600)
                elif operation == "ptm":
                    session.authenticate(Role.PATIENT)
                    session.ptm_bolus()
                    session.authenticate(Role.CLINICIAN)
                else:
                    getattr(session, operation)()
            except BadAnswerError:
                raise
            except HarnessError:
                if session.role != Role.CLINICIAN:
                    session.authenticate(Role.CLINICIAN)
            status = session.status()  # would raise ImplausibleAnswerError
            assert plausibility.status_problems(status) == []


def test_malformed_answer_is_a_typed_harness_error_and_still_a_protocol_error():
    # A liar that gets every status answer's length wrong (CRC intact): the codec refuses it.
    with harness.connect("pumpmock://?clock=virtual") as session:
        session.authenticate(Role.PATIENT)
        pump = session.port.link.pump
        real = pump.receive

        def short_answers(data, now_ms):
            out = real(data, now_ms)
            frames = [f for f in FrameDecoder().feed(out) if not isinstance(f, Exception)]
            if frames and frames[0].msg_id == m.GetStatusRequest.MESSAGE.id:
                f = frames[0]
                return encode_frame(f.kind, f.msg_id, f.seq, f.payload[:-1])
            return out

        pump.receive = short_answers
        with pytest.raises(MalformedAnswerError) as caught:
            session.status()
        assert isinstance(caught.value, RemoteProtocolError) and caught.value.reason == "length"
        assert "GetStatusRequest" in str(caught.value)


def test_implausible_status_is_raised_with_its_problems():
    with harness.connect("pumpmock://?clock=virtual") as session:
        session.authenticate(Role.PATIENT)
        link = session.port.link
        link.pump = HostilePump(link.pump, "out_of_range=100%,seed=4")  # lies from here on
        raised = []
        for _ in range(6):
            try:
                session.status()
            except ImplausibleAnswerError as error:
                raised.append(error)
            except MalformedAnswerError:
                pass  # a lie the codec already refuses (battery above 100 %)
        assert raised, "out_of_range=100% told no decodable lie in 6 answers"
        assert all(error.problems and isinstance(error.answer, m.GetStatusResponse) for error in raised)


def test_a_malformed_event_is_kept_not_acked_and_not_raised_into_the_request():
    with harness.connect("pumpmock://?clock=virtual") as session:
        session.authenticate(Role.PATIENT)
        pump = session.port.link.pump
        real_receive = pump.receive
        bogus = encode_frame(EVENT, m.AlarmRaised.MESSAGE.id, 777, b"\x01")  # far too short, CRC fine
        pump.receive = lambda data, now_ms: bogus + real_receive(data, now_ms)
        written = []
        real_write = session.port.write
        session.port.write = lambda data: written.append(bytes(data)) or real_write(data)
        assert session.status().capacity_ul > 0  # the request in flight is not disturbed
        assert [frame.seq for frame, _error in session.bad_events] == [777]
        assert session.stats["bad_events"] == 1 and not session.events
        acks = [f for chunk in written for f in FrameDecoder().feed(chunk) if not isinstance(f, Exception) and f.kind == ACK]
        assert acks == []  # unACKed, so the pump sends it again rather than believing it arrived
