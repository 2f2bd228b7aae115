"""A line that delivers a write in pieces (a UART at 115200 baud, a paced pty) is the same line.

Found by the bench rehearsal (`pumpmock serve --baud 115200`, the stateful fuzzer): TC_RESET and
TC_POWER_LOSS(0) threw away the part of the next frame that had already arrived, so a HELLO sent
in the same write as the reset was never answered whenever the pacing cut it in two.
"""

import pytest

from pumpmock.firmware_mock.core import Pump
from pumpmock.protocol import FrameDecoder
from pumpmock.protocol import messages as m
from pumpmock.protocol.framing import RESPONSE


def _answers(chunks):
    pump = Pump(serial="PM-000001", test_mode=True)
    decoder = FrameDecoder()
    frames = []
    for now_ms, chunk in enumerate(chunks):
        frames += decoder.feed(pump.receive(chunk, now_ms))
    return [(f.kind, f.msg_id, f.seq) for f in frames]


WRITE = (b"\x00" + m.encode_message(m.TcResetRequest(7), 0xFEFF) + m.encode_message(m.HelloRequest(1, 1), 1)
         + m.encode_message(m.TcGetClockRequest(), 2))
EXPECTED = [(RESPONSE, 0x60, 0xFEFF), (RESPONSE, 0x01, 1), (RESPONSE, 0x6B, 2)]


def test_the_write_in_one_piece():
    assert _answers([WRITE]) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(WRITE)))
def test_the_write_cut_in_two_anywhere_gets_the_same_answers(cut):
    assert _answers([WRITE[:cut], WRITE[cut:]]) == EXPECTED


def test_the_write_one_byte_at_a_time_gets_the_same_answers():
    assert _answers([WRITE[i:i + 1] for i in range(len(WRITE))]) == EXPECTED


POWER_LOSS_WRITE = (b"\x00" + m.encode_message(m.TcPowerLossRequest(0), 3) + m.encode_message(m.HelloRequest(1, 1), 4)
                    + m.encode_message(m.TcGetClockRequest(), 5))
POWER_LOSS_EXPECTED = [(RESPONSE, 0x66, 3), (RESPONSE, 0x01, 4), (RESPONSE, 0x6B, 5)]


@pytest.mark.parametrize("cut", range(1, len(POWER_LOSS_WRITE)))
def test_a_simulated_power_loss_loses_nothing_that_follows_it_on_the_line(cut):
    assert _answers([POWER_LOSS_WRITE]) == POWER_LOSS_EXPECTED
    assert _answers([POWER_LOSS_WRITE[:cut], POWER_LOSS_WRITE[cut:]]) == POWER_LOSS_EXPECTED
