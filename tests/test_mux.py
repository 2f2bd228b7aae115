"""pumpmock.harness.mux: the app's frames are recorded in the order they crossed the line.

The race the oracles tripped on: the mux passed the pump's answer to the app and only then
recorded it, so a fast app's next request could be recorded before the answer that caused it
(one run reported a dose-limit violation for a variant that never programs). A slow recorder
widens that window here on purpose: the order must hold however slow it is.
"""

import os
import time

import pytest
import serial

from pumpmock import harness
from pumpmock.harness.mux import PortMux
from pumpmock.protocol import FrameDecoder, ProtocolError
from pumpmock.protocol import messages as m

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="the mux serves a pseudo-terminal (POSIX)")


class SlowRecorder:
    """on_frame that takes its time over the pump's answers, as a loaded machine might."""

    def __init__(self):
        self.seen = []

    def __call__(self, direction, block):
        if direction == "pump>host":
            time.sleep(0.05)
        self.seen.append((direction, block))


def _request_answer_pairs(app, decoder, count):
    for seq in range(1, count + 1):
        app.write(m.encode_message(m.HelloRequest(1, 1), seq))
        deadline = time.monotonic() + 5
        answered = False
        while not answered and time.monotonic() < deadline:
            answered = any(frame.seq == seq for frame in decoder.feed(app.read(256)))
        assert answered, "no answer to HELLO seq %d through the mux" % seq


def test_every_answer_is_recorded_before_the_request_it_let_the_app_send():
    recorder = SlowRecorder()
    upstream = harness.open_port("pumpmock://?clock=real", timeout=0.05)
    with PortMux(upstream, on_frame=recorder) as mux:
        app = serial.Serial(mux.path, timeout=0.05)
        try:
            _request_answer_pairs(app, FrameDecoder(), 5)
            time.sleep(0.2)
        finally:
            app.close()
    upstream.close()
    directions = [direction for direction, _block in recorder.seen]
    assert directions == ["host>pump", "pump>host"] * 5, directions


def _ask(app, decoder, message, seq, timeout_s=5):
    """Send one request as the app; what came back until an answer to seq: frames, and the
    decoder's errors for blocks that did not decode."""
    app.write(m.encode_message(message, seq))
    deadline, frames = time.monotonic() + timeout_s, []
    while time.monotonic() < deadline:
        frames += decoder.feed(app.read(256))
        if any(getattr(frame, "seq", None) == seq for frame in frames):
            return frames
    return frames


class _Rig:
    """An app on the mux's pty, and the test's control session on the same pump."""

    def __enter__(self):
        from pumpmock.harness.client import PumpSession
        self.upstream = harness.open_port("pumpmock://?clock=real", timeout=0.05)
        self.mux = PortMux(self.upstream).start()
        self.app = serial.Serial(self.mux.path, timeout=0.05)
        self.decoder = FrameDecoder()
        self.control = PumpSession(self.mux.control)
        self.control.hello()
        assert _ask(self.app, self.decoder, m.HelloRequest(1, 1), 1)
        return self

    def __exit__(self, *exc):
        self.app.close()
        self.mux.close()
        self.upstream.close()


def test_refuse_rules_answer_the_apps_next_request_with_the_nak_asked_for_and_the_pump_never_sees_it():
    from pumpmock.protocol.codes import Error
    from pumpmock.protocol.framing import NAK
    with _Rig() as rig:
        executed = rig.control.test.counters().requests_executed
        rig.mux.refuse_rules.append(["TC_GET_STATUS", m.Nak(0, Error.BUSY), 1])
        [refused] = _ask(rig.app, rig.decoder, m.TcGetStatusRequest(), 2)
        assert refused.kind == NAK and m.Nak.decode(refused.payload).code == Error.BUSY
        assert rig.control.test.counters().requests_executed == executed + 1  # only the counters read
        [answered] = _ask(rig.app, rig.decoder, m.TcGetStatusRequest(), 3)  # the rule was for one request
        assert answered.kind != NAK


def test_corrupt_rules_break_the_next_answer_so_the_app_must_ask_again():
    with _Rig() as rig:
        rig.mux.corrupt_rules.append(["TC_GET_STATUS", 1])
        [garbage] = _ask(rig.app, rig.decoder, m.TcGetStatusRequest(), 2, timeout_s=0.5)
        assert isinstance(garbage, ProtocolError)  # the app sees a frame that fails its check
        [answer] = _ask(rig.app, rig.decoder, m.TcGetStatusRequest(), 2)  # the retransmission, same seq
        assert m.decode_message(answer).reservoir_ul == 0


def test_before_rules_change_the_pumps_state_between_two_of_the_apps_requests():
    with _Rig() as rig:
        [first] = _ask(rig.app, rig.decoder, m.TcGetStatusRequest(), 2)
        assert m.decode_message(first).reservoir_ul == 0
        rig.mux.before_rules.append(["TC_GET_STATUS", lambda: rig.control.test.set_reservoir(1_234), 1])
        [second] = _ask(rig.app, rig.decoder, m.TcGetStatusRequest(), 3)
        assert m.decode_message(second).reservoir_ul == 1_234


def test_a_run_longer_than_any_frame_is_passed_on_in_pieces_without_waiting_for_its_delimiter():
    """Issue 14: the mux held everything up to a delimiter, so an app sending junk without one grew
    its buffer for ever; now a run is cut at MAX_ENCODED bytes, passed on and recorded as it comes."""
    from pumpmock.protocol.catalog import MAX_ENCODED
    recorder = SlowRecorder()
    upstream = harness.open_port("pumpmock://?clock=real", timeout=0.05)
    with PortMux(upstream, on_frame=recorder) as mux:
        app = serial.Serial(mux.path, timeout=0.05)
        try:
            app.write(b"\x01" * 4000)  # and no delimiter yet
            deadline = time.monotonic() + 10
            while sum(len(block) for _d, block in recorder.seen) < 4000 - MAX_ENCODED:
                assert time.monotonic() < deadline, "the mux held the run back: %r" % recorder.seen
                time.sleep(0.02)
            assert all(len(block) == MAX_ENCODED for _d, block in recorder.seen)
            app.write(b"\x00")  # the run ends; the pump skipped it and answers the app's next frame
            assert _ask(app, FrameDecoder(), m.HelloRequest(1, 1), 7)[-1].seq == 7
        finally:
            app.close()
    upstream.close()
    run = b"".join(block for direction, block in recorder.seen if direction == "host>pump")
    assert run.startswith(b"\x01" * 4000)
