"""One clinic scenario over every transport the harness opens by URL: the same pump state at the end.

In-process (virtual and wall clock), `pumpmock serve --pty` and `--tcp` in a child process (a
tty and a socket the client reads through their descriptors), `--rfc2217` through pyserial's
RFC 2217 client (as a board in a farm is reached), `pumpmock serve --stdio` and the MicroPython
firmware behind exec://. Each run starts with a test-control reset, so each ends in the same state.
"""

import pytest

from pumpmock import harness
from targets import KINDS, target
from test_client_inprocess import scenario


@pytest.fixture(params=KINDS)
def url(request):
    with target(request.param) as where:
        yield where


@pytest.fixture(scope="module")
def expected():
    with harness.connect("pumpmock://?clock=virtual") as session:
        return scenario(session)


def test_every_transport_carries_the_same_scenario(url, expected):
    with harness.connect(url, timeout=2) as session:
        got = scenario(session)
    # Doses and volumes: basal delivery on a wall clock adds a little with every ms the run takes.
    assert (got.boluses_delivered, got.filled_ul, got.removed_ul) == \
        (expected.boluses_delivered, expected.filled_ul, expected.removed_ul)
    assert got.delivered_ug >= expected.delivered_ug
