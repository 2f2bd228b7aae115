"""harness.connection with no port at all: bytes and a fake clock in, bytes and results out."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpmock.harness.connection import (Answer, BadAnswer, BadEvent, BadFrame, Connection, Event, Refused,
                                         StaleFrame, TimedOut)
from pumpmock.harness.errors import HardLimitError, ImplausibleAnswerError, LinkTimeout, MalformedAnswerError
from pumpmock.protocol import messages as m
from pumpmock.protocol.catalog import MAX_ENCODED
from pumpmock.protocol.codes import Limit
from pumpmock.protocol.examples import EXAMPLES, NAK_EXAMPLES
from pumpmock.protocol.framing import ACK, EVENT, NAK, REQUEST, RESPONSE, FrameDecoder, decode_frame, encode_frame
from pumpmock.protocol.codes import Error

STATUS_REQUEST, STATUS = EXAMPLES["GET_STATUS"]
HELLO_REQUEST, HELLO = EXAMPLES["HELLO"]
(ALARM,) = EXAMPLES["ALARM_RAISED"]
TIMEOUT_MS = 250


def answer_bytes(response, seq):
    return m.encode_message(response, seq)


def event_bytes(event, seq):
    return encode_frame(EVENT, event.MESSAGE.id, seq, event.encode())


def frames_in(data):
    """The frames in bytes the connection wrote, every one of them good."""
    frames = FrameDecoder().feed(data)
    assert all(not isinstance(frame, Exception) for frame in frames), frames
    return frames


def take_all(connection):
    results = []
    while (result := connection.next_result()) is not None:
        results.append(result)
    return results


def connection(**options):
    options.setdefault("timeout_ms", TIMEOUT_MS)
    options.setdefault("retries", 3)
    options.setdefault("initial_seq", 99)
    return Connection(**options)


# ---- sending ---------------------------------------------------------------------------------------
def test_each_request_takes_the_next_seq_and_the_first_bytes_start_with_a_delimiter():
    conn = connection(initial_seq=0xFFFE)
    first = conn.send(STATUS_REQUEST, 0)
    assert conn.seq == 0xFFFF
    second = conn.send(HELLO_REQUEST, 0)
    assert conn.seq == 0  # wraps, as a u16 must
    assert first[:1] == b"\x00" and second[:1] != b"\x00"
    assert [(f.kind, f.msg_id, f.seq) for f in frames_in(first + second)] == [
        (REQUEST, STATUS_REQUEST.MESSAGE.id, 0xFFFF), (REQUEST, HELLO_REQUEST.MESSAGE.id, 0)]
    assert decode_frame(second).payload == HELLO_REQUEST.encode()


def test_the_deadline_is_the_oldest_attempt_plus_the_timeout_and_none_when_nothing_is_outstanding():
    conn = connection()
    assert conn.next_deadline_ms() is None
    conn.send(STATUS_REQUEST, 1_000)
    conn.send(STATUS_REQUEST, 1_100)
    assert conn.next_deadline_ms() == 1_000 + TIMEOUT_MS
    conn.receive_data(answer_bytes(STATUS, 100))
    assert conn.next_deadline_ms() == 1_100 + TIMEOUT_MS
    conn.receive_data(answer_bytes(STATUS, 101))
    assert conn.next_deadline_ms() is None


# ---- retransmission ------------------------------------------------------------------------------
def test_a_timed_out_request_is_sent_again_identically_with_the_same_seq_then_times_out():
    conn = connection(retries=3)
    sent = conn.send(STATUS_REQUEST, 0)
    frame = sent.lstrip(b"\x00")
    assert conn.poll(TIMEOUT_MS - 1) == b""  # not yet due
    now, resent = 0, []
    for _ in range(3):
        now = conn.next_deadline_ms()
        resent.append(conn.poll(now))
    # Each time the very same frame (seq 100), after a delimiter that ends any half-received answer.
    assert resent == [b"\x00" + frame] * 3
    assert conn.stats["retransmissions"] == 3 and take_all(conn) == []
    assert conn.poll(conn.next_deadline_ms()) == b""
    [timed_out] = take_all(conn)
    assert isinstance(timed_out, TimedOut) and timed_out.seq == 100 and timed_out.request is STATUS_REQUEST
    with pytest.raises(LinkTimeout, match="seq 100"):
        timed_out.result()
    assert conn.next_deadline_ms() is None and conn.poll(10 ** 9) == b""


def test_an_answer_to_the_retransmission_is_taken():
    conn = connection()
    conn.send(STATUS_REQUEST, 0)
    conn.poll(TIMEOUT_MS)
    conn.receive_data(answer_bytes(STATUS, 100))
    [answer] = take_all(conn)
    assert isinstance(answer, Answer) and answer.result() == STATUS


def test_misses_while_the_peer_boots_do_not_count():
    conn = connection(retries=1)
    conn.send(STATUS_REQUEST, 0)
    for _ in range(5):
        assert conn.poll(conn.next_deadline_ms(), count_misses=False)  # resent, never given up
    assert take_all(conn) == []
    assert conn.poll(conn.next_deadline_ms())  # the one retry the session allows
    conn.poll(conn.next_deadline_ms())
    assert [type(r) for r in take_all(conn)] == [TimedOut]


def test_an_abandoned_request_is_not_resent_and_its_late_answer_is_stale():
    conn = connection()
    conn.send(STATUS_REQUEST, 0)
    conn.abandon(100)
    assert conn.next_deadline_ms() is None and conn.poll(10 ** 6) == b""
    conn.receive_data(answer_bytes(STATUS, 100))
    assert [type(r) for r in take_all(conn)] == [StaleFrame]


# ---- matching answers ----------------------------------------------------------------------------
def test_an_answer_is_taken_only_under_its_own_seq_and_message_id():
    conn = connection()
    conn.send(STATUS_REQUEST, 0)  # seq 100
    wrong_seq = answer_bytes(STATUS, 99)  # a late answer to the last request, say
    wrong_id = answer_bytes(HELLO, 100)  # the right seq, another message
    conn.receive_data(wrong_seq + wrong_id)
    assert [type(r) for r in take_all(conn)] == [StaleFrame, StaleFrame]
    assert conn.outstanding == (100,) and conn.stats["stale_frames"] == 2
    conn.receive_data(answer_bytes(STATUS, 100) + answer_bytes(STATUS, 100))  # then a duplicate
    answer, duplicate = take_all(conn)
    assert isinstance(answer, Answer) and answer.seq == 100 and answer.message == STATUS
    assert isinstance(duplicate, StaleFrame) and conn.outstanding == ()


def test_answers_to_requests_in_flight_together_go_to_their_own_requests():
    conn = connection()
    first, second = m.ReadLogRequest(0, 12), m.ReadLogRequest(12, 12)
    conn.send(first, 0)
    conn.send(second, 0)
    _request, page = EXAMPLES["READ_LOG"]
    conn.receive_data(answer_bytes(page, 101) + answer_bytes(page, 100))
    assert [(r.seq, r.request) for r in take_all(conn)] == [(101, second), (100, first)]


def test_a_nak_is_the_typed_refusal_of_its_code():
    conn = connection()
    request = EXAMPLES["PROGRAM_PRESCRIPTION"][0]
    conn.send(request, 0)
    nak = NAK_EXAMPLES[Error.HARD_LIMIT]._replace(msg_id=request.MESSAGE.id)
    conn.receive_data(encode_frame(NAK, nak.msg_id, 100, nak.encode()))
    [refused] = take_all(conn)
    assert isinstance(refused, Refused)
    with pytest.raises(HardLimitError) as caught:
        refused.result()
    assert caught.value.request is request and caught.value.limit == Limit.DAILY_DOSE_HARD


def test_an_answer_that_does_not_decode_or_cannot_be_true_is_a_bad_answer():
    conn = connection()
    conn.send(STATUS_REQUEST, 0)
    conn.send(HELLO_REQUEST, 0)
    short = encode_frame(RESPONSE, STATUS_REQUEST.MESSAGE.id, 100, STATUS.encode()[:-1])
    no_capacity = answer_bytes(HELLO._replace(capacity_ul=0), 101)
    conn.receive_data(short + no_capacity)
    malformed, implausible = take_all(conn)
    assert isinstance(malformed, BadAnswer) and isinstance(malformed.error, MalformedAnswerError)
    assert isinstance(implausible, BadAnswer) and isinstance(implausible.error, ImplausibleAnswerError)
    with pytest.raises(ImplausibleAnswerError, match="no capacity"):
        implausible.result()


# ---- events ----------------------------------------------------------------------------------------
def test_every_copy_of_an_event_is_acked_and_it_is_given_once():
    conn = connection()
    conn.send(STATUS_REQUEST, 0)  # the delimiter went out first, so the ACKs need none
    out = conn.receive_data(event_bytes(ALARM, 7))
    again = conn.receive_data(event_bytes(ALARM, 7))  # the pump re-sends: our ACK was lost
    ack = encode_frame(ACK, ALARM.MESSAGE.id, 7)
    assert out == ack and again == ack
    [event] = take_all(conn)
    assert isinstance(event, Event) and event.seq == 7 and event.message == ALARM
    assert conn.stats["duplicate_events"] == 1


def test_an_event_that_does_not_decode_is_not_acked_and_is_reported():
    conn = connection()
    conn.send(STATUS_REQUEST, 0)
    assert conn.receive_data(encode_frame(EVENT, ALARM.MESSAGE.id, 8, b"\x01")) == b""
    assert conn.receive_data(encode_frame(EVENT, 0x7E, 9, b"")) == b""  # no such event
    bad = take_all(conn)
    assert [type(r) for r in bad] == [BadEvent, BadEvent] and [r.frame.seq for r in bad] == [8, 9]
    assert conn.stats["bad_events"] == 2


def test_an_ack_after_a_retransmission_starts_with_a_delimiter():
    conn = connection()
    conn.send(STATUS_REQUEST, 0)
    conn.poll(TIMEOUT_MS)
    # The retransmission took the pending delimiter; the ACK after it needs none of its own.
    assert conn.receive_data(event_bytes(ALARM, 3)) == encode_frame(ACK, ALARM.MESSAGE.id, 3)
    fresh = connection()
    assert fresh.receive_data(event_bytes(ALARM, 3)) == b"\x00" + encode_frame(ACK, ALARM.MESSAGE.id, 3)


# ---- bad bytes ---------------------------------------------------------------------------------------
def test_a_corrupt_frame_is_a_bad_frame_and_the_stream_goes_on():
    conn = connection()
    conn.send(STATUS_REQUEST, 0)
    corrupt = bytearray(answer_bytes(STATUS, 100))
    corrupt[3] ^= 0x40
    conn.receive_data(bytes(corrupt) + answer_bytes(STATUS, 100))
    bad, answer = take_all(conn)
    assert isinstance(bad, BadFrame) and bad.error.reason == "crc"
    assert isinstance(answer, Answer) and conn.stats["bad_frames"] == 1


def test_oversize_input_is_capped_and_costs_one_bad_frame():
    conn = connection()
    conn.send(STATUS_REQUEST, 0)
    for _ in range(20):  # far more than a frame, never a delimiter
        conn.receive_data(b"\x55" * MAX_ENCODED)
    assert conn._decoder.buffered <= MAX_ENCODED
    conn.receive_data(b"\x00" + answer_bytes(STATUS, 100))
    bad, answer = take_all(conn)
    assert isinstance(bad, BadFrame) and bad.error.reason == "oversized"
    assert isinstance(answer, Answer)


# ---- properties ----------------------------------------------------------------------------------------
def _line(piece_ids):
    """A pump's output to requests 100..102: answers, a NAK, events and their copies, junk."""
    nak = NAK_EXAMPLES[Error.BUSY]._replace(msg_id=STATUS_REQUEST.MESSAGE.id)
    pieces = [answer_bytes(STATUS, 100), answer_bytes(STATUS, 100), encode_frame(NAK, nak.msg_id, 101, nak.encode()),
              event_bytes(ALARM, 5), event_bytes(ALARM, 5), answer_bytes(STATUS, 42), b"\x13\x37\x00",
              b"\x00", answer_bytes(STATUS, 102), event_bytes(EXAMPLES["ALARM_CLEARED"][0], 6)]
    return b"".join(pieces[i] for i in piece_ids)


def _run(data, cuts):
    conn = connection()
    for _ in range(3):
        conn.send(STATUS_REQUEST, 0)
    out, start = b"", 0
    for cut in sorted(cuts) + [len(data)]:
        out += conn.receive_data(data[start:cut])
        start = max(start, cut)
    return out, [(type(r).__name__, getattr(r, "seq", None)) for r in take_all(conn)], conn.stats


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 9), max_size=12), st.data())
def test_any_split_of_the_line_gives_the_same_results_and_the_same_bytes_out(piece_ids, data):
    stream = _line(piece_ids)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    assert _run(stream, cuts) == _run(stream, [])


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 6), st.integers(0, 0xFFFF), st.lists(st.integers(0, 400), max_size=10))
def test_every_attempt_of_a_request_is_the_same_frame_and_the_count_is_bounded(retries, initial_seq, waits):
    conn = Connection(timeout_ms=TIMEOUT_MS, retries=retries, initial_seq=initial_seq)
    frame = conn.send(STATUS_REQUEST, 0).lstrip(b"\x00")
    now, attempts = 0, 1
    for wait in waits + [TIMEOUT_MS] * (retries + 1):
        now += wait
        out = conn.poll(now)
        if out:
            assert out == b"\x00" + frame
            attempts += 1
    assert attempts == retries + 1
    assert [type(r) for r in take_all(conn)] == [TimedOut]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=30))
def test_every_event_copy_is_acked_and_each_event_given_once(seqs):
    conn = connection()
    out = conn.receive_data(b"".join(event_bytes(ALARM, seq) for seq in seqs))
    assert [(f.kind, f.seq) for f in frames_in(out)] == [(ACK, seq) for seq in seqs]
    assert [r.seq for r in take_all(conn)] == list(dict.fromkeys(seqs))  # first copies, in line order


def test_a_frame_the_caller_built_is_retransmitted_as_it_is_and_its_answer_comes_back_undecoded():
    """What checks send that no typed message can say: an unknown id, a short payload, a chosen seq."""
    from pumpmock.harness.connection import RawAnswer
    connection = Connection(timeout_ms=TIMEOUT_MS, retries=1, initial_seq=40)
    short_hello = encode_frame(REQUEST, HELLO_REQUEST.MESSAGE.id, 0x7101, b"\x01")
    assert connection.send_frame(short_hello, 0) == b"\x00" + short_hello
    assert connection.seq == 40 and connection.outstanding == (0x7101,)
    assert connection.poll(TIMEOUT_MS) == b"\x00" + short_hello  # the same bytes again, same seq
    nak = m.encode_message(m.Nak(HELLO_REQUEST.MESSAGE.id, Error.BAD_LENGTH, 0, 2, 1), 0x7101)
    connection.receive_data(nak)
    [result] = take_all(connection)
    assert isinstance(result, RawAnswer) and result.result() == (NAK, decode_frame(nak).payload)
    unknown = encode_frame(REQUEST, 0x7E, 0x7100)
    connection.send_frame(unknown, 1_000)
    connection.poll(1_000 + TIMEOUT_MS)
    connection.poll(1_000 + 2 * TIMEOUT_MS)
    [timed_out] = take_all(connection)
    assert isinstance(timed_out, TimedOut) and timed_out.seq == 0x7100
