"""The team's own test: its app against pumpmock's emulator, through the plugin's fixtures."""

import subprocess
import sys

import pytest

from protocol import PumpLink  # the team's package, not pumpmock's
from pumpmock.protocol.codes import Role


def run_app(port, *args):
    return subprocess.run([sys.executable, "app.py", "--port", port, *args], capture_output=True, text=True,
                          timeout=30)


@pytest.mark.pump_oracles("dose_limits", "alarms")
def test_the_app_shows_the_reservoir_the_pump_reports(pump_port, pump, wire):
    pump.set_reservoir(12_345)
    result = run_app(pump_port, "status")
    assert result.returncode == 0, result.stderr
    assert "reservoir 12.345 mL" in result.stdout
    assert [entry.name for entry in wire.requests()] == ["HELLO", "AUTH_CHALLENGE", "AUTH_RESPONSE", "GET_STATUS"]


def test_the_reference_client_and_the_teams_package_coexist(programmer):
    assert programmer.role == Role.CLINICIAN
    assert PumpLink.__module__ == "protocol.link"
