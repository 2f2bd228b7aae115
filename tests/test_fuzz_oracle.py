"""The fuzzing oracle on a real clock: a TC_GET_CLOCK answer pins the moment a write was handled."""

import pytest
from hypothesis import given, strategies as st

from pumpmock.firmware_mock.core import Pump
from pumpmock.harness.fuzz.model import parse_block
from pumpmock.harness.fuzz.oracle import Checker, Violation, clock_report, frames_in
from pumpmock.protocol import messages as m
from pumpmock.protocol.catalog import MAX_ENCODED, MAX_PAYLOAD
from pumpmock.protocol.framing import FrameDecoder, encode_frame

SERIAL = "PM-000001"
RESET_AT_MS = 1_000  # shell ms of the pump's own clock when the host reset it
WINDOW_MS = (0, 40)  # what the host knows: the write was handled within 40 ms of the reset


def reset_pump_and_checker():
    pump = Pump(serial=SERIAL, test_mode=True)
    checker = Checker(SERIAL, pump.model.capacity_ul)
    reset = m.encode_message(m.TcResetRequest(7), 0xFEFF)
    pump.receive(reset, RESET_AT_MS)
    checker.model.receive(reset, 0)
    return pump, checker


def handled(pump, data, after_reset_ms):
    output = FrameDecoder()
    frames = frames_in(output, pump.receive(data, RESET_AT_MS + after_reset_ms))
    assert output.buffered == 0
    return frames


def test_a_clock_report_leaves_the_one_state_the_window_could_not_tell():
    counters = m.encode_message(m.TcReadCountersRequest(), 1)
    pump, checker = reset_pump_and_checker()
    checker.exchange(counters, *WINDOW_MS, handled(pump, counters, 17), exact=False)
    assert not checker.certain  # every ms in the window answers the same counters

    pump, checker = reset_pump_and_checker()
    data = counters + m.encode_message(m.TcGetClockRequest(), 2)
    checker.exchange(data, *WINDOW_MS, handled(pump, data, 17), exact=False, clock=(2, 17))
    assert checker.certain and checker.model.t == 17


def test_a_warp_in_the_same_write_still_pins_the_moment():
    pump, checker = reset_pump_and_checker()
    data = m.encode_message(m.TcWarpClockRequest(3_600), 1) + m.encode_message(m.TcGetClockRequest(), 2)
    checker.exchange(data, *WINDOW_MS, handled(pump, data, 23), exact=False, clock=(2, 3_600_023))
    assert checker.certain and checker.model.t == 3_600_023


def test_a_clock_outside_the_window_is_a_violation():
    """A pump whose clock ran ahead of the host's is not believed because it says so."""
    pump, checker = reset_pump_and_checker()
    data = m.encode_message(m.TcGetClockRequest(), 2)
    frames = handled(pump, data, 90)  # the pump says 90 ms, the host saw at most 40
    with pytest.raises(Violation):
        checker.exchange(data, *WINDOW_MS, frames, exact=False, clock=(2, 90))


def test_a_block_dropped_after_a_reset_in_the_same_write_is_cleared_by_it():
    """The pump reads a whole write before handling it (PUMP_MODEL.md 4): the model agrees."""
    pump, checker = reset_pump_and_checker()
    reset = m.encode_message(m.TcResetRequest(7), 5)
    data = reset + b"\x01\x05\x60\x10\x00" + m.encode_message(m.TcReadCountersRequest(), 6)
    frames = handled(pump, data, 3)
    assert m.TcReadCountersResponse.decode(frames[-1][3]).frames_bad == 0
    checker.exchange(data, 3, 3, frames)  # raises Violation if the model counted it


def test_a_reset_handled_late_in_its_window_is_pinned_by_a_clock_asked_before_it():
    """After a TC_RESET the clock reads 0 at any ms; a TC_GET_CLOCK before it in the same write pins
    the moment (a MicroPython pump handled this one 3 ms into its window)."""
    pump, checker = reset_pump_and_checker()
    data = (m.encode_message(m.TcGetClockRequest(), 4) + m.encode_message(m.TcResetRequest(7), 5)
            + m.encode_message(m.TcGetClockRequest(), 6))
    frames = handled(pump, data, 13)
    assert clock_report(data, frames) == (4, 13)
    checker.exchange(data, 10, 16, frames, exact=False, clock=clock_report(data, frames))
    data = m.encode_message(m.TcGetClockRequest(), 7)
    checker.exchange(data, 18, 23, handled(pump, data, 20), exact=False, clock=(7, 7))
    assert checker.certain and checker.model.t == 7


def test_without_a_clock_before_it_a_reset_leaves_every_moment_of_its_window_open():
    """No false alarm when the reset's moment is unknown: the candidates that fit stay."""
    pump, checker = reset_pump_and_checker()
    data = m.encode_message(m.TcResetRequest(7), 5) + m.encode_message(m.TcGetClockRequest(), 6)
    frames = handled(pump, data, 13)
    assert clock_report(data, frames) is None  # its only clock answer is after the reset
    checker.exchange(data, 10, 16, frames, exact=False, clock=(6, 0))
    data = m.encode_message(m.TcGetClockRequest(), 7)
    checker.exchange(data, 18, 23, handled(pump, data, 20), exact=False, clock=(7, 7))
    assert checker.models and all(model.t == 7 for model in checker.models)


# ---- the oracle's frames of pump output: cut by protocol's FrameDecoder ---------------------------
def _firmware_output():
    """Whole frames a firmware sends: answers, refusals, events, a nonce."""
    pump = Pump(serial=SERIAL, test_mode=True)
    requests = [m.TcResetRequest(7), m.HelloRequest(0x5EED0001, 1), m.TcGetStatusRequest(), m.TcReadCountersRequest(),
                m.TcGetClockRequest(), m.AuthChallengeRequest(1), m.TcWarpClockRequest(86_400)]
    out = b"".join(pump.receive(m.encode_message(request, seq), 10 * seq) for seq, request in enumerate(requests, 1))
    out += pump.receive(encode_frame(0, m.TcGetStatusRequest.MESSAGE.id, 8, version=2), 100)  # a NAK
    out += pump.receive(m.encode_message(m.TcPowerLossRequest(), 99), 200)
    return [block + b"\x00" for block in out.split(b"\x00") if block]


FIRMWARE_FRAMES = _firmware_output()
encoded_frames = st.builds(encode_frame, st.integers(0, 7), st.integers(0, 255), st.integers(0, 0xFFFF),
                           st.binary(max_size=MAX_PAYLOAD), st.sampled_from([1, 1, 1, 0, 2]))
stream_pieces = st.one_of(
    st.sampled_from(FIRMWARE_FRAMES),
    encoded_frames,
    st.tuples(st.sampled_from(FIRMWARE_FRAMES), st.integers(0, 300), st.integers(1, 255)).map(
        lambda f: f[0][:f[1] % len(f[0])] + bytes([f[0][f[1] % len(f[0])] ^ f[2]]) + f[0][f[1] % len(f[0]) + 1:]),
    st.binary(max_size=40),  # garbage
    st.integers(1, 5).map(lambda n: b"\x00" * n),  # spare delimiters
    st.tuples(st.integers(MAX_ENCODED - 2, 3 * MAX_ENCODED + 2), st.booleans()).map(  # a run near or past a frame
        lambda f: b"\x07" * f[0] + (b"\x00" if f[1] else b"")))
streams = st.lists(stream_pieces, max_size=12).map(b"".join)


def chunked(stream, cuts):
    points = sorted({cut % (len(stream) + 1) for cut in cuts})
    return [stream[a:b] for a, b in zip([0] + points, points + [len(stream)])]


class Reference:
    """The rule frames_in keeps, the plain way: everything held, split at 0x00 when it comes, and a
    run past MAX_ENCODED bytes one ("bad", its first MAX_ENCODED) as soon as it is that long."""

    def __init__(self):
        self.held = b""
        self.reported = False  # the held run was reported: its block, when it ends, is skipped

    def feed(self, chunk):
        *blocks, self.held = (self.held + chunk).split(b"\x00")
        out = []
        for block in blocks:
            if self.reported:
                self.reported = False
            elif len(block) > MAX_ENCODED:
                out.append(("bad", block[:MAX_ENCODED]))
            elif block:
                frame = parse_block(block)
                out.append(("bad", block) if frame is None or frame[0] != 1 else frame[1:])
        if len(self.held) > MAX_ENCODED and not self.reported:
            out.append(("bad", self.held[:MAX_ENCODED]))
            self.reported = True
        return out


@given(streams, st.lists(st.integers(0, 5000), max_size=12))
def test_frames_in_cuts_pump_output_chunk_by_chunk_as_the_plain_split_does(stream, cuts):
    decoder, reference = FrameDecoder(), Reference()
    for chunk in chunked(stream, cuts):
        assert frames_in(decoder, chunk) == reference.feed(chunk)
        # What it holds for the next chunk: the bytes after the last delimiter, never more than a frame.
        held = len(reference.held)
        assert decoder.buffered == held if held <= MAX_ENCODED else decoder.buffered <= MAX_ENCODED


def test_a_run_longer_than_a_frame_is_one_bad_frame_however_it_is_fed():
    answer = FIRMWARE_FRAMES[0]
    stream = b"\x07" * (2 * MAX_ENCODED + 10) + b"\x00" + answer
    for step in (1, 7, MAX_ENCODED, len(stream)):
        decoder = FrameDecoder()
        frames = [f for i in range(0, len(stream), step) for f in frames_in(decoder, stream[i:i + step])]
        assert frames == [("bad", b"\x07" * MAX_ENCODED), parse_block(answer[:-1])[1:]]
