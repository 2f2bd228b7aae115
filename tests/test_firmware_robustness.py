"""Any input gets a typed answer or is dropped, never a crash; every request gets exactly one answer."""

from hypothesis import HealthCheck, given, settings, strategies as st

from pumpmock.protocol import messages as m
from pumpmock.protocol.framing import NAK, REQUEST, RESPONSE, encode_frame
from pumpmock.protocol.strategies import layout_strategy

from test_firmware_support import DAY_MS, Host, conserved

REQUEST_CLASSES = sorted((cls for (kind, _id), cls in m.CLASSES.items() if kind == REQUEST),
                         key=lambda cls: cls.MESSAGE.id)
# Warps stay short here: a year-long warp is tested on its own (test_firmware_time).
requests = st.one_of([layout_strategy(cls) for cls in REQUEST_CLASSES if cls is not m.TcWarpClockRequest]
                     + [st.builds(m.TcWarpClockRequest, st.integers(0, 3 * 86_400))])
garbage = st.binary(max_size=40)
actions = st.lists(st.one_of(
    st.tuples(st.just("request"), requests, st.integers(0, 0xFFFF)),
    st.tuples(st.just("raw"), st.integers(0, 7), st.integers(0, 255), st.binary(max_size=30)),
    st.tuples(st.just("garbage"), garbage),
    st.tuples(st.just("wait"), st.integers(0, DAY_MS))), max_size=30)


@given(actions)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_traffic_never_crashes_and_every_request_is_answered(script):
    host = Host()
    host.ready()
    for action in script:
        if action[0] == "request":
            message, seq = action[1], action[2]
            if isinstance(message, m.TcPowerLossRequest) and message.cut_after_bytes:
                continue  # an armed cut makes a later request unanswered on purpose
            frames = host.write(m.encode_message(message, seq))
            assert len(frames) == 1, (message, frames)
            assert (frames[0].msg_id, frames[0].seq) == (message.MESSAGE.id, seq)
            assert frames[0].kind in (RESPONSE, NAK)
            m.decode_message(frames[0])  # the answer decodes strictly with the host codec
        elif action[0] == "raw":
            _tag, kind, msg_id, payload = action
            frames = host.write(encode_frame(kind, msg_id, 0x7777, payload))
            assert len(frames) <= 1
            for frame in frames:
                assert frame.kind in (RESPONSE, NAK) and frame.seq == 0x7777
                m.decode_message(frame)
        elif action[0] == "garbage":
            host.write(action[1])
            host.write(b"\x00")  # resynchronise so the next frame is not glued to the garbage
        else:
            host.advance(action[1])
    host.hello(99)
    host.call(m.TcGetStatusRequest())
    assert conserved(host)
