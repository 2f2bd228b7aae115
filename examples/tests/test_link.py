"""The line and the peer: a silent pump is a link failure after a bounded time, and a peer that
does not identify as the mock gets nothing after HELLO."""

import time


def test_a_silent_pump_makes_the_app_exit_2_within_its_own_timeout(app, pump):
    pump.silence(True)
    started = time.monotonic()

    result = app("interrogate")

    elapsed_s = time.monotonic() - started
    assert result.code == 2, "app exited %d on a silent pump, not 2 (link failure): %s" % (result.code, result.stderr)
    assert elapsed_s < 5, "app took %.1f s to give up on a silent pump" % elapsed_s


def test_a_peer_that_is_not_the_mock_gets_nothing_after_hello(impostor, app_at):
    result = app_at(impostor.path)("interrogate")

    after_hello = [name for name in impostor.requests if name != "HELLO"]
    assert not after_hello, ("app kept talking to a peer that is not the mock: it sent %s after a HELLO answer "
                             "without magic PMCK and banner NOT FOR CLINICAL USE" % ", ".join(after_hello))
    assert impostor.requests[:1] == ["HELLO"]
    assert result.code == 2, "app exited %d, not 2, when the peer was not the mock" % result.code
