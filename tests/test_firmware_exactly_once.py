"""Exactly once: retransmissions get the cached answer byte for byte and never run twice."""

from hypothesis import given, settings, strategies as st

from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import BolusKind, Drug, Error
from pumpmock.protocol.framing import NAK

from pumpmock.firmware_mock import spec

from test_firmware_support import Host, morphine


def ready():
    host = Host()
    host.ready(morphine(max_daily_dose_ug=9_000, ptm_lockout_min=10, ptm_max_per_24h=20))
    return host


def raw(host, message, seq):
    frames = host.write(m.encode_message(message, seq))
    assert len(frames) == 1
    return frames[0]


def test_a_retransmitted_bolus_runs_once():
    host = ready()
    bolus = m.ClinicianBolusRequest(BolusKind.CLINICIAN, 100, 600)
    first = raw(host, bolus, 0x7000)
    host.advance(1_000)
    again = raw(host, bolus, 0x7000)
    assert again == first
    counters = host.counters()
    assert (counters.boluses_delivered, counters.dedup_hits) == (1, 1)
    nak = m.Nak.decode(raw(host, bolus._replace(dose_ug=101), 0x7000).payload)
    assert nak.code == Error.SEQUENCE_REUSED
    nak = m.Nak.decode(raw(host, m.SuspendRequest(), 0x7000).payload)
    assert nak.code == Error.SEQUENCE_REUSED


def test_a_cached_nak_is_replayed_too():
    host = ready()
    host.call(m.ClinicianBolusRequest(BolusKind.CLINICIAN, 100, 600))
    busy = raw(host, m.ClinicianBolusRequest(BolusKind.CLINICIAN, 50, 600), 0x7100)
    assert busy.kind == NAK
    host.advance(700_000)  # the first bolus is over: a new request would now run
    assert raw(host, m.ClinicianBolusRequest(BolusKind.CLINICIAN, 50, 600), 0x7100) == busy
    assert host.counters().boluses_delivered == 1


def test_reads_are_never_cached():
    host = ready()
    first = raw(host, m.GetStatusRequest(), 0x7200)
    host.advance(3_600_000)
    assert raw(host, m.GetStatusRequest(), 0x7200) != first


def test_the_cache_holds_the_last_32_state_changing_answers():
    host = ready()
    for seq in range(0x5000, 0x5000 + spec.DEDUP_CACHE_SIZE + 1):
        raw(host, m.AckAlarmRequest(1, seq), seq)  # NO_SUCH_ALARM, cached all the same
    host.call(m.TcInjectFaultRequest(1))
    instance = host.raised()[-1].instance
    # seq 0x5000 has left the cache: reused for another request, it simply runs
    assert m.decode_message(raw(host, m.AckAlarmRequest(1, instance), 0x5000)).remaining == 1
    # storing that answer pushed out 0x5001; seq 0x5002 is still cached with its own content
    assert m.Nak.decode(raw(host, m.AckAlarmRequest(1, instance), 0x5002).payload).code == Error.SEQUENCE_REUSED


def test_hello_with_a_new_session_clears_the_cache_and_the_same_session_keeps_it():
    host = ready()  # HELLO with host_session_id 1
    bolus = m.ClinicianBolusRequest(BolusKind.CLINICIAN, 100, 600)
    first = raw(host, bolus, 0x7300)
    host.hello(1)
    host.authenticate()
    assert raw(host, bolus, 0x7300) == first
    host.hello(2)
    host.authenticate()
    assert m.Nak.decode(raw(host, bolus, 0x7300).payload).code == Error.BUSY  # ran again: a new session
    assert host.counters().boluses_delivered == 1


def test_a_host_that_comes_back_after_another_host_talked_gets_its_answer_not_a_second_bolus():
    """Host 1's bolus answer is lost; host 2 says HELLO and works; host 1 reconnects with its own
    id and retransmits: the cached answer, whatever host 2 did (the cache keyed by session)."""
    host = ready()  # host session 1
    bolus = m.ClinicianBolusRequest(BolusKind.CLINICIAN, 100, 600)
    first = raw(host, bolus, 0x7400)
    host.hello(2)
    host.authenticate()
    other = raw(host, m.SuspendRequest(), 0x7400)  # host 2 uses the same seq for its own request
    assert m.decode_message(other).__class__.__name__ == "SuspendResponse"
    host.call(m.ResumeRequest())
    host.advance(700_000)  # the first bolus is over: run again, it would start a second one
    host.hello(1)
    host.authenticate()
    assert raw(host, bolus, 0x7400) == first
    assert host.counters().boluses_delivered == 1
    host.hello(2)
    host.authenticate()
    assert raw(host, m.SuspendRequest(), 0x7400) == other  # host 2's answer is kept too


STATE_CHANGING = st.sampled_from([
    m.ClinicianBolusRequest(BolusKind.CLINICIAN, 40, 120),
    m.ClinicianBolusRequest(BolusKind.BRIDGE, 60, 60),
    m.PtmBolusRequest(),
    m.SuspendRequest(), m.ResumeRequest(),
    m.RefillRequest(Drug.MORPHINE, 20_000, 19_000),
    m.AckAlarmRequest(6, 1),
])


@given(st.lists(st.tuples(STATE_CHANGING, st.integers(0, 120_000)), min_size=1, max_size=12),
       st.lists(st.tuples(st.integers(0, 11), st.integers(0, 3)), max_size=16))
@settings(max_examples=60, deadline=None)
def test_random_retransmissions_never_double_execute(requests, retransmissions):
    """Requests in order, retransmissions of earlier ones sprinkled between them, vs. each sent once."""
    once, noisy = ready(), ready()
    answers = {}
    resend_after = {}  # request position -> earlier positions re-sent right after it
    for index, delay in retransmissions:
        if index < len(requests):
            resend_after.setdefault(min(index + delay, len(requests) - 1), []).append(index)
    for i, (request, wait_ms) in enumerate(requests):
        seq = 0x4000 + i
        once.advance(wait_ms)
        expected = raw(once, request, seq)
        noisy.advance(wait_ms)
        answers[seq] = raw(noisy, request, seq)
        assert answers[seq] == expected
        for index in resend_after.get(i, ()):
            again = 0x4000 + index
            assert raw(noisy, requests[index][0], again) == answers[again]
    ignore = dict(dedup_hits=0, requests_executed=0, naks_sent=0)
    assert once.counters()._replace(**ignore) == noisy.counters()._replace(**ignore)
    assert once.log() == noisy.log()
