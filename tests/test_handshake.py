"""The handshake half of the interlock: peers that are not the mock are refused, and told why."""

import sys

import pytest

from pumpmock import harness
from pumpmock.protocol import REQUEST, FrameDecoder
from pumpmock.protocol.catalog import MESSAGES_BY_NAME

PEER = "exec://%s tests/fakes/fake_peer.py" % sys.executable
HELLO_ID = MESSAGES_BY_NAME["HELLO"].id


@pytest.mark.parametrize("mode,reason", [
    ("wrong_magic", "magic b'PMCK'"),
    ("wrong_banner", "banner 'NOT FOR CLINICAL USE'"),
    ("old_version", "protocol version 1"),
    ("garbage", "no answer to HELLO"),
    ("silent", "no answer to HELLO"),
])
def test_a_peer_without_the_mock_identity_is_refused(mode, reason):
    with pytest.raises(harness.NotAMockError, match=reason.replace("(", r"\(")):
        harness.connect("%s %s" % (PEER, mode), timeout=0.2, retries=1)


def test_nothing_but_hello_is_sent_to_a_refused_peer():
    port = harness.open_port("%s wrong_magic" % PEER, timeout=0.2, handshake=False)  # the refusal is the test
    session = harness.PumpSession(port, timeout=0.2, retries=0)
    with pytest.raises(harness.NotAMockError):
        session.hello()
    port.close()
    sent = b"".join(bytes.fromhex(line.split()[-1]) for line in port.stderr_tail if line.startswith("fake got"))
    frames = FrameDecoder().feed(sent)
    # HELLO and nothing else; under load the child may still be booting when the first attempt
    # times out, and that HELLO is sent again, the same frame (a booting peer's misses are free).
    assert frames and set(frames) == {frames[0]} and (frames[0].kind, frames[0].msg_id) == (REQUEST, HELLO_ID)


def test_an_echo_is_refused_it_only_says_hello_back():
    """loop:// (or a cable looped back on the bench) hears its own HELLO: a request, never the mock's answer."""
    with pytest.raises(harness.NotAMockError, match="no answer to HELLO"):
        harness.connect("loop://", timeout=0.1, retries=1)
