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
from pumpmock.protocol import FrameDecoder
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
