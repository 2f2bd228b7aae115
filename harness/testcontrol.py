"""Test control of the mock over the protocol (test mode only): faults, reservoir, battery, clock, power.

Reached as `session.test`; the pytest plugin's `pump` fixture is one of these. Every call is a
TC_* request, so the same test drives the in-process emulator, a pty, the MicroPython runner or
a board that was flashed with test mode enabled. A pump not in test mode refuses them with
NotInTestModeError.
"""

from pumpmock.protocol import messages as m


class TestControl:
    """The test-control calls of one session."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, session):
        self._session = session

    @property
    def available(self):
        """True when the pump said in HELLO that test control is enabled."""
        identity = self._session.identity
        return bool(identity and identity.test_mode)

    def reset(self, seed=0):
        """Factory state (test mode kept): a known state before every test or example."""
        self._session.request(m.TcResetRequest(seed))

    def inject_fault(self, fault):
        """Inject a Fault; returns the Alarm it raised."""
        return self._session.request(m.TcInjectFaultRequest(fault)).alarm

    def clear_fault(self, fault):
        self._session.request(m.TcClearFaultRequest(fault))

    def set_reservoir(self, reservoir_ul):
        self._session.request(m.TcSetReservoirRequest(reservoir_ul))

    def set_battery(self, battery_pct):
        self._session.request(m.TcSetBatteryRequest(battery_pct))

    def warp_clock(self, advance_s):
        """Advance the pump clock as if the time had passed; returns the new clock in s."""
        return self._session.request(m.TcWarpClockRequest(advance_s)).clock_s

    def power_loss(self, cut_after_bytes=0):
        """Reboot from non-volatile storage now (0), or arm a cut in the next storage writes."""
        return self._session.request(m.TcPowerLossRequest(cut_after_bytes)).reboots

    def heap_info(self):
        """TC_HEAP_INFO: free/used heap after a collect now, their extremes since the last call (the
        first call starts the firmware's watch) and the largest storage buffer; heap figures 0 = unknown."""
        return self._session.request(m.TcHeapInfoRequest())

    def clock_ms(self):
        """The pump clock in ms when the pump handled this request (TC_GET_CLOCK)."""
        return self._session.request(m.TcGetClockRequest()).clock_ms

    def counters(self):
        return self._session.request(m.TcReadCountersRequest())

    def status(self):
        """The pump's status, read without a session role (TC_GET_STATUS): an app's session is untouched."""
        return self._session.request(m.TcGetStatusRequest())

    def prescription(self):
        """(version, Prescription), read without a session role."""
        answer = self._session.request(m.TcGetPrescriptionRequest())
        return answer.version, answer.prescription

    def alarms(self):
        """The alarm list (instances, states, announce counts), read without a session role."""
        return self._session.request(m.TcGetAlarmsRequest()).alarms
