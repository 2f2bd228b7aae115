"""pumpmock.harness.transcript: recording every frame both ways, reading, tail, replay, diff and decode."""

import io
import json
import os
import time

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

from pumpmock.harness.client import PumpSession
from pumpmock.harness.transcript import (DEFAULT_IGNORE, FrameSplitter, TappedPort, TranscriptRecorder, add_arguments,
                                decode_entries, decode_lines, diff, main, read_transcript, replay, tail)
from pumpmock.harness.wire import Wire
from pumpmock.protocol import EVENT, NAK, REQUEST, FrameDecoder, encode_frame, encode_message
from pumpmock.protocol import messages as m
from pumpmock.protocol.catalog import MAX_ENCODED
from pumpmock.protocol.codes import Error
from pumpmock.protocol.examples import EXAMPLES
from pumpmock.protocol.jsonify import to_jsonable

HELLO_REQUEST, HELLO_RESPONSE = EXAMPLES["HELLO"]
STATUS = EXAMPLES["GET_STATUS"][1]
ALARM = EXAMPLES["ALARM_RAISED"][0]


class ExamplePump:
    """A fake pump on a pyserial-like port: answers every request with the catalog's example at once.

    GET_STATUS also raises an alarm event first. `reservoir_ul` changes what status says (to make
    diffs); every instance draws its own nonce (which diff must ignore).
    """

    def __init__(self, reservoir_ul=STATUS.reservoir_ul):
        self.timeout = 0.25
        self.is_open = True
        self.reservoir_ul = reservoir_ul
        self._decoder = FrameDecoder()
        self._out = bytearray()
        self._event_seq = 0
        self.nonce = os.urandom(16)

    def write(self, data):
        for frame in self._decoder.feed(bytes(data)):
            if isinstance(frame, Exception) or frame.kind != REQUEST:
                continue
            name = m.message_class(REQUEST, frame.msg_id).MESSAGE.name if m.message_class(REQUEST, frame.msg_id) else None
            if name == "GET_STATUS":
                self._event_seq += 1
                self._out += encode_message(ALARM, self._event_seq)
                answer = STATUS._replace(reservoir_ul=self.reservoir_ul)
            elif name == "AUTH_CHALLENGE":
                answer = m.AuthChallengeResponse(self.nonce)
            elif name in EXAMPLES:
                answer = EXAMPLES[name][1]
            else:
                answer = m.Nak(frame.msg_id, Error.UNKNOWN_MESSAGE)
            self._out += encode_message(answer, frame.seq)
        return len(data)

    @property
    def in_waiting(self):
        return len(self._out)

    def read(self, size=1):
        if not self._out and self.timeout:
            time.sleep(min(self.timeout, 0.005))
        data = bytes(self._out[:size])
        del self._out[:size]
        return data

    def close(self):
        self.is_open = False


def record_session(path_or_file, pump=None, seq=None, host_session_id=7):
    """Run HELLO, AUTH_CHALLENGE and GET_STATUS through a tap; returns (pump, session)."""
    pump = pump or ExamplePump()
    recorder = TranscriptRecorder(path_or_file, meta={"target": "fake"})
    session = PumpSession(TappedPort(pump, recorder, owns_recorder=True), host_session_id=host_session_id)
    if seq is not None:
        session._seq = seq
    session.hello()
    session.request(m.AuthChallengeRequest(2))
    session.status()
    session.close()
    return pump, session


# ---- recording -------------------------------------------------------------------------------------
def test_every_frame_is_recorded_both_ways_and_decoded(tmp_path):
    path = tmp_path / "run.jsonl"
    record_session(path, seq=100)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["transcript"] == 1 and header["meta"] == {"target": "fake"} and "T" in header["started"]
    entries = read_transcript(path)
    assert entries.header == header
    assert [(e.dir, e.kind, e.name, e.seq) for e in entries] == [
        ("host>pump", "REQUEST", "HELLO", 101),
        ("pump>host", "RESPONSE", "HELLO", 101),
        ("host>pump", "REQUEST", "AUTH_CHALLENGE", 102),
        ("pump>host", "RESPONSE", "AUTH_CHALLENGE", 102),
        ("host>pump", "REQUEST", "GET_STATUS", 103),
        ("pump>host", "EVENT", "ALARM_RAISED", 1),
        ("pump>host", "RESPONSE", "GET_STATUS", 103),
        ("host>pump", "ACK", "ALARM_RAISED", 1),  # the client read both, then acknowledged the event
    ]
    assert entries[1].fields == to_jsonable(HELLO_RESPONSE)
    assert entries[6].fields == to_jsonable(STATUS)
    assert entries[0].fields == {"host_session_id": 7, "protocol_version": 1}
    assert entries[0].wire == encode_message(m.HelloRequest(7, 1), 101).hex()
    assert all(e.error is None for e in entries)
    times = [e.t for e in entries]
    assert times == sorted(times) and all(0 <= t < 5 for t in times)
    assert entries[6].text.startswith("RESPONSE GET_STATUS seq=103 GetStatusResponse(clock_s=86400")


def test_lines_are_flushed_as_they_are_written(tmp_path):
    path = tmp_path / "live.jsonl"
    recorder = TranscriptRecorder(path)
    recorder.feed("host>pump", encode_message(HELLO_REQUEST, 1))
    assert len(path.read_text().splitlines()) == 2  # header + frame, with the recorder still open
    recorder.close()
    recorder.close()  # twice is fine
    with pytest.raises(ValueError, match="closed"):
        recorder.feed("host>pump", encode_message(HELLO_REQUEST, 2))


def test_malformed_frames_are_recorded_with_their_error():
    good = encode_frame(REQUEST, 0x01, 1, HELLO_REQUEST.encode())
    broken_crc = bytearray(good)
    broken_crc[3] ^= 0x40
    out_of_range = encode_frame(NAK, 0x13, 9, bytes([0xEE, 0, 0, 0, 0, 0, 0, 0, 0, 0]))  # no such error code
    stream = (b"\x13\x37garbage\x00" + bytes(broken_crc) + encode_frame(REQUEST, 0x7E, 2)
              + encode_frame(REQUEST, 0x01, 3, b"\x01") + encode_frame(7, 0x01, 4) + out_of_range
              + encode_frame(EVENT, 0x80, 5, ALARM.encode()) + b"\x41" * (MAX_ENCODED + 10) + b"\x00" + b"\x05\x01")
    buffer = io.StringIO()
    recorder = TranscriptRecorder(buffer)
    for i in range(0, len(stream), 7):  # in dribs and drabs, as a line delivers
        recorder.feed("pump>host", stream[i:i + 7], t=0.5)
    recorder.close()
    entries = read_transcript(io.StringIO(buffer.getvalue()))
    errors = [e.error for e in entries]
    assert errors[:5] == ["cobs", "crc", "unknown_message", "length", "kind"]
    assert errors[5] in (None, "code")  # decoded all the same (harness.wire may note the strict reason)
    assert errors[6:] == [None, "oversized", "oversized", "incomplete"]
    assert entries[0].wire == (b"\x13\x37garbage\x00").hex()
    assert entries[2].msg_id == 0x7E and entries[2].seq == 2 and entries[2].kind == "REQUEST"
    assert entries[5].kind == "NAK" and entries[5].fields["code"] == 0xEE  # kept as its number
    assert entries[6].name == "ALARM_RAISED" and entries[6].fields == to_jsonable(ALARM)
    assert len(bytes.fromhex(entries[7].wire)) == MAX_ENCODED
    assert entries[9].wire == "0501"
    assert "".join(e.wire for e in entries) == stream.hex()  # nothing lost


def test_out_of_range_values_keep_their_numbers():
    hello = encode_frame(REQUEST, 0x01, 1, m.HelloRequest(1, 2).encode())
    bolus = m.ClinicianBolusRequest(9, 10 ** 9, 0)  # an unknown bolus kind, an absurd dose
    recorder = TranscriptRecorder(io.StringIO())
    entries = recorder.feed("host>pump", hello + encode_message(bolus, 2))
    assert entries[1].fields == {"kind": 9, "dose_ug": 10 ** 9, "duration_s": 0}
    assert entries[1].error in (None, "code")  # harness.wire may note the strict reason


@given(st.binary(max_size=700), st.lists(st.integers(1, 50), min_size=1, max_size=5))
def test_a_splitter_loses_nothing_but_spare_delimiters_at_any_chunking(data, sizes):
    splitter, entries, position, i = FrameSplitter("host>pump"), [], 0, 0
    while position < len(data):
        size = sizes[i % len(sizes)]
        entries += splitter.feed(data[position:position + size], 0.0)
        position, i = position + size, i + 1
    entries += splitter.flush(0.0)
    whole = FrameSplitter("host>pump").feed(data, 0.0)
    assert [dict(e) for e in entries[:len(whole)]] == [dict(e) for e in whole]
    kept, previous = bytearray(), 0  # the input without delimiters that end an empty block
    for byte in data:
        if not (byte == 0 and previous == 0):
            kept.append(byte)
        previous = byte
    assert bytes.fromhex("".join(e.wire for e in entries)) == bytes(kept)


def test_recorded_blocks_and_the_entry_hook():
    wire = Wire()
    recorder = TranscriptRecorder(io.StringIO(), on_entry=wire.add)
    entry = recorder.record("pump>host", encode_message(HELLO_RESPONSE, 4)[:-1], t=1.25)
    assert entry.name == "HELLO" and entry.t == 1.25 and wire.responses("HELLO") == [entry]
    recorder.record_entry(entry)
    assert recorder.count == 2


# ---- the tap ---------------------------------------------------------------------------------------
def test_a_tapped_port_is_otherwise_transparent():
    loop = serial.serial_for_url("loop://", timeout=0.1)
    recorder = TranscriptRecorder(io.StringIO())
    port = TappedPort(loop, recorder)
    port.timeout = 0.05
    assert loop.timeout == 0.05  # the timeout is the port's
    assert port.write(b"\x00" + encode_message(HELLO_REQUEST, 9)) == 1 + len(encode_message(HELLO_REQUEST, 9))
    assert port.in_waiting == len(encode_message(HELLO_REQUEST, 9)) + 1
    assert port.read_until(b"\x00") == b"\x00"  # read_until reads through the tap
    assert port.read_until(b"\x00") == encode_message(HELLO_REQUEST, 9)
    assert [(e.dir, e.name) for e in recorder_entries(recorder)] == [("host>pump", "HELLO"), ("pump>host", "HELLO")]
    assert port.wrapped is loop and port.recorder is recorder and port.is_open
    with port:
        pass
    assert not loop.is_open


def recorder_entries(recorder):
    return read_transcript(io.StringIO(recorder._file.getvalue()))


def test_time_stamps_follow_the_ports_own_clock():
    class VirtualLoop(ExamplePump):
        now = 100.0

        def clock(self):
            return self.now

    pump = VirtualLoop()
    recorder = TranscriptRecorder(io.StringIO())
    port = TappedPort(pump, recorder)
    pump.now = 100.5
    port.write(encode_message(HELLO_REQUEST, 1))
    pump.now = 102.0
    port.read(200)
    assert [e.t for e in recorder_entries(recorder)] == [0.5, 2.0]
    assert port.clock() == 102.0


# ---- reading and tail --------------------------------------------------------------------------------
def test_tail_lines_read_well(tmp_path):
    path = tmp_path / "run.jsonl"
    record_session(path, seq=4)
    entries = read_transcript(path)
    lines = tail(entries, 3)
    assert len(lines) == 3 and lines == tail(entries)[-3:]
    assert lines[-2].startswith("t=0.0") and " pump>host RESPONSE GET_STATUS seq=7 GetStatusResponse(" in lines[-2]
    assert len(tail(entries, None)) == len(entries) and tail(entries, 0) == []
    rejected = TranscriptRecorder(io.StringIO()).feed("pump>host", b"\x02\x05\x00", t=0.012)
    assert tail(rejected) == ["t=0.012 pump>host rejected (short): frame of 1 bytes is shorter than header "
                              "+ CRC (7) [020500]"]


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path):
    path = tmp_path / "crashed.jsonl"
    record_session(path)
    text = path.read_text()
    path.write_text(text + '{"t": 0.5, "dir": "pump>h')
    assert len(read_transcript(path)) == 8
    lines = text.splitlines()
    path.write_text("\n".join(lines[:3] + ["not json"] + lines[3:]) + "\n")
    with pytest.raises(ValueError, match=":4: not a transcript line"):
        read_transcript(path)


def test_a_transcript_the_pytest_plugin_wrote_reads_too(tmp_path):
    path = tmp_path / "plugin.jsonl"
    entry = TranscriptRecorder(io.StringIO()).feed("host>pump", encode_message(HELLO_REQUEST, 3), t=0.1)[0]
    path.write_text(json.dumps({"transcript": 1, "test": "tests/x.py::y"}) + "\n" + json.dumps(entry) + "\n")
    entries = read_transcript(path)
    assert entries.header["test"] == "tests/x.py::y" and entries == [entry]


# ---- replay and diff ----------------------------------------------------------------------------------
def test_replay_against_a_loop_echo():
    recorder = TranscriptRecorder(io.StringIO())
    entries = recorder.feed("host>pump", encode_message(HELLO_REQUEST, 1) + b"\xff\xfe\x00"
                            + encode_message(m.GetStatusRequest(), 2))
    entries.insert(1, dict(entries[0], dir="pump>host"))  # the original saw one answer after HELLO
    loop = serial.serial_for_url("loop://", timeout=0.1)
    again = replay(entries, loop, timeout_s=0.5)
    # The junk and GET_STATUS were one write with no answer between: they go out as one write.
    assert [(e.dir, e.kind, e.name, e.error) for e in again] == [
        ("host>pump", "REQUEST", "HELLO", None), ("pump>host", "REQUEST", "HELLO", None),
        ("host>pump", None, None, "cobs"), ("host>pump", "REQUEST", "GET_STATUS", None),  # rejected bytes resent too
        ("pump>host", None, None, "cobs"), ("pump>host", "REQUEST", "GET_STATUS", None),
    ]
    assert again[2].t == again[3].t


def test_replay_against_a_fresh_fake_pump_is_equivalent(tmp_path):
    path = tmp_path / "run.jsonl"
    record_session(path)
    original = read_transcript(path)
    copy = io.StringIO()
    again = replay(original, ExamplePump(), timeout_s=0.5, recorder=TranscriptRecorder(copy))
    assert len(again) == len(original)
    assert diff(original, again) == []  # the times and the pump's new nonce are ignored
    nonces = [e.fields["nonce"] for e in (original[3], again[3])]
    assert nonces[0] != nonces[1]
    assert read_transcript(io.StringIO(copy.getvalue())) == again


def test_diff_finds_a_changed_field(tmp_path):
    record_session(tmp_path / "a.jsonl", seq=20)
    record_session(tmp_path / "b.jsonl", seq=20, pump=ExamplePump(reservoir_ul=18_240))
    a, b = read_transcript(tmp_path / "a.jsonl"), read_transcript(tmp_path / "b.jsonl")
    assert diff(a, b) == ["a#6/b#6 pump>host RESPONSE GET_STATUS seq=23: reservoir_ul: 18250 != 18240"]
    assert diff(a, b, ignore=DEFAULT_IGNORE + ("reservoir_ul",)) == []
    assert diff(a, b, ignore=DEFAULT_IGNORE + ("fields",)) == []


def test_diff_aligns_on_sequence_numbers_unless_told_not_to(tmp_path):
    record_session(tmp_path / "a.jsonl", seq=10)
    record_session(tmp_path / "b.jsonl", seq=500)
    a, b = read_transcript(tmp_path / "a.jsonl"), read_transcript(tmp_path / "b.jsonl")
    differences = diff(a, b)
    assert len(differences) == 6 and all(": seq: " in d for d in differences)  # every request and response
    assert diff(a, b, ignore=DEFAULT_IGNORE + ("seq",)) == []


def test_diff_reports_missing_and_extra_frames_and_ignored_names():
    recorder = TranscriptRecorder(io.StringIO())
    a = recorder.feed("host>pump", encode_message(HELLO_REQUEST, 1) + encode_message(m.GetStatusRequest(), 2))
    b = recorder.feed("host>pump", encode_message(HELLO_REQUEST._replace(host_session_id=99), 1)
                      + encode_message(m.GetStatusRequest(), 2) + encode_message(m.LogoutRequest(), 3))
    assert diff(a, b) == ["only in b: b#2 t=%.3f host>pump REQUEST LOGOUT seq=3 LogoutRequest()" % b[2].t]
    assert diff(a, b[:2], ignore=("t",)) == ["a#0/b#0 host>pump REQUEST HELLO seq=1: host_session_id: "
                                             "1592590337 != 99"]
    garbage_a = recorder.feed("pump>host", b"\x01\x02\x03\x00")
    garbage_b = recorder.feed("pump>host", b"\x01\x02\x04\x00")
    assert diff(garbage_a, garbage_b) == ["a#0/b#0 pump>host rejected: wire: 01020300 != 01020400"]
    assert diff(garbage_a, garbage_b, ignore=("t", "wire")) == []


# ---- decode --------------------------------------------------------------------------------------------
def test_decode_hex_with_or_without_delimiters():
    frame = encode_message(HELLO_REQUEST, 5)
    expected = "1: REQUEST HELLO seq=5 HelloRequest(host_session_id=1592590337, protocol_version=1)"
    assert decode_lines(frame.hex(" ")) == [expected]
    assert decode_lines(frame[:-1].hex()) == [expected]  # no delimiter
    assert decode_lines(" ".join("0x%02x" % byte for byte in frame)) == [expected]
    assert decode_lines(frame) == [expected]  # bytes as they are
    lines = decode_lines((b"\x00" + frame + b"\x13\x37\x00" + encode_message(STATUS, 6)).hex(" "))
    assert lines[0] == expected and lines[1].startswith("2: rejected (cobs)") and lines[1].endswith("[133700]")
    assert lines[2].startswith("3: RESPONSE GET_STATUS seq=6 GetStatusResponse(")
    with pytest.raises(ValueError, match="not hex"):
        decode_lines("zz top")


def test_decode_a_transcript_file(tmp_path):
    path = tmp_path / "run.jsonl"
    record_session(path)
    assert decode_lines(str(path)) == tail(read_transcript(path), None)


def test_the_decode_command(tmp_path, capsys, monkeypatch):
    import argparse
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    frame = encode_message(HELLO_REQUEST, 5)
    assert main(parser.parse_args(frame.hex(" ").split())) == 0
    assert capsys.readouterr().out.startswith("1: REQUEST HELLO seq=5")
    assert main(parser.parse_args(["ff", "ff", "00"])) == 1  # a frame that does not decode
    assert "rejected" in capsys.readouterr().out
    assert main(parser.parse_args(["xyz"])) == 2
    assert "not hex" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(frame.hex() + "\n"))
    assert main(parser.parse_args(["-"])) == 0
    path = tmp_path / "run.jsonl"
    record_session(path)
    assert main(parser.parse_args([str(path)])) == 0
    assert len(capsys.readouterr().out.splitlines()) == 9  # stdin's frame, then the transcript's 8
    assert decode_entries(str(path)).header["transcript"] == 1
