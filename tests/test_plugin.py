"""The pytest plugin, run the way a team runs it: options, fixtures, markers, oracles, reports."""

import pytest

APP = r'''
import sys, serial
from pumpmock.protocol import messages as m, encode_message, FrameDecoder, decode_message
port = serial.Serial(sys.argv[1], 115200, timeout=1)
port.write(b"\x00" + encode_message(m.HelloRequest(7, 1), 1))
decoder, frames = FrameDecoder(), []
while not frames:
    data = port.read(64)
    if not data:
        sys.exit("no answer")
    frames = [f for f in decoder.feed(data) if hasattr(f, "payload")]
print(decode_message(frames[0]).serial)
'''


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(fake_app=APP)
    return pytester


def test_an_external_app_talks_through_pump_port_while_the_test_controls_the_pump(suite):
    suite.makepyfile(test_app="""
        import subprocess, sys
        def test_app(pump_port, pump, wire):
            out = subprocess.run([sys.executable, "fake_app.py", pump_port], capture_output=True,
                                 text=True, timeout=30)
            assert out.stdout.strip() == "PM-000001", out.stderr
            assert pump.status().capacity_ul == 20000
            assert [e.name for e in wire.requests()] == ["HELLO"]
            assert wire.responses("HELLO")[0].fields["banner"] == "NOT FOR CLINICAL USE"
    """)
    suite.runpytest_subprocess("-q").assert_outcomes(passed=1)


def test_programmer_and_pump_fixtures_drive_the_in_process_emulator(suite):
    suite.makepyfile(test_reference="""
        from pumpmock.protocol.codes import Fault, Alarm
        def test_reference(programmer, pump, wire):
            assert pump.inject_fault(Fault.MOTOR_STALL) == Alarm.MOTOR_STALL
            assert Alarm.MOTOR_STALL in programmer.status().active_alarms
            assert wire.requests("TC_INJECT_FAULT")
    """)
    suite.runpytest_subprocess("-q").assert_outcomes(passed=1)


def test_a_failure_report_shows_the_decoded_wire_tail(suite):
    suite.makepyfile(test_fails="""
        def test_fails(programmer):
            programmer.status()
            assert False, "deliberate"
    """)
    result = suite.runpytest_subprocess("-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*pumpmock wire (last 30 frames)*", "*RESPONSE GET_STATUS*"])


def test_test_control_tests_are_skipped_on_a_pump_without_test_mode(suite):
    suite.makepyfile(test_skip="""
        import pytest
        def test_needs_control(pump):
            pump.warp_clock(1)
        @pytest.mark.needs_test_control
        def test_marked():
            pass
        def test_plain(programmer):
            assert programmer.identity.test_mode == 0
    """)
    result = suite.runpytest_subprocess("-q", "-rs", "--pump-url", "pumpmock://?test_mode=0&clock=virtual")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*needs test control*"])


COUNT_OPENS = """
    import serial
    opened = []
    _open = serial.serial_for_url
    def counting(url, *args, **kwargs):
        opened.append(url)
        return _open(url, *args, **kwargs)
    serial.serial_for_url = counting
    def pytest_sessionfinish(session):
        with open("opened.txt", "w") as out:
            out.write(str(len(opened)))
"""


def test_the_target_s_test_mode_comes_from_the_tests_own_handshake_not_an_extra_connection(suite):
    suite.makeconftest(COUNT_OPENS)
    suite.makepyfile(test_control="""
        import pytest
        def test_warp(pump):
            assert pump.warp_clock(60) >= 60
        @pytest.mark.needs_test_control
        def test_marked(programmer):
            programmer.status()
    """)
    suite.runpytest_subprocess("-q", "--pump-url", "pumpmock://?test_mode=1&clock=virtual").assert_outcomes(passed=2)
    assert (suite.path / "opened.txt").read_text() == "2"  # one line per test, none to ask about test mode


def test_plugin_state_is_in_the_stashes(suite):
    suite.makepyfile(test_stash="""
        from pumpmock.harness import pytest_plugin
        def test_stash(request, programmer, pump_target):
            assert request.config.stash[pytest_plugin.TARGET] is pump_target
            env = request.node.stash[pytest_plugin.ENVIRONMENT]
            assert env.session is programmer
            assert not hasattr(request.config, "_pumpmock") and not hasattr(request.node, "_pumpmock_env")
    """)
    suite.runpytest_subprocess("-q").assert_outcomes(passed=1)


def test_bench_tests_run_only_against_a_board(suite):
    suite.makepyfile(test_bench="""
        import pytest
        @pytest.mark.bench
        def test_on_the_bench():
            pass
    """)
    suite.runpytest_subprocess("-q", "-rs").stdout.fnmatch_lines(["*needs a board*"])


def test_oracles_switched_on_by_marker_fail_a_test_that_breaks_a_rule(suite):
    suite.makepyfile(test_oracle="""
        import pytest
        from pumpmock.protocol import messages as m
        from pumpmock.protocol.codes import Drug, TherapyMode
        RX = m.Prescription(drug=Drug.MORPHINE, concentration_ug_per_ml=20000, mode=TherapyMode.SIMPLE_CONTINUOUS,
                            daily_dose_ug=150000, max_daily_dose_ug=150000, refill_interval_days=30)
        @pytest.mark.pump_oracles("dose_limits")
        def test_sends_ten_times_the_limit(programmer):
            try:
                programmer.program(RX)
            except Exception:
                pass  # the pump refuses; the oracle still saw it sent
        def test_without_oracles(programmer):
            try:
                programmer.program(RX)
            except Exception:
                pass
    """)
    result = suite.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*dose_limits: app sent a prescription above the hard limit*"])


def test_ini_options_enable_oracles_and_transcripts(suite, tmp_path):
    suite.makeini("""
        [pytest]
        pump_oracles = alarms exactly_once
        pump_transcripts = %s
    """ % tmp_path)
    suite.makepyfile(test_ini="""
        def test_status(programmer):
            programmer.status()
    """)
    result = suite.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*pumpmock: in-process emulator*oracles alarms exactly_once*"])
    [transcript] = tmp_path.glob("*.jsonl")
    assert '"name": "GET_STATUS"' in transcript.read_text()


def test_faults_option_puts_the_reference_client_behind_a_faulty_line(suite):
    suite.makepyfile(test_faulty="""
        def test_many(programmer):
            for _ in range(300):
                programmer.status()
            assert programmer.stats["retransmissions"] > 0
    """)
    suite.runpytest_subprocess("-q", "--pump-faults", "drop=3%,unit=frame,seed=2").assert_outcomes(passed=1)


def test_pump_port_can_silence_the_line_to_test_an_apps_timeout(suite):
    suite.makepyfile(test_silence="""
        import subprocess, sys
        def test_silent(pump_port, pump):
            pump.silence()
            out = subprocess.run([sys.executable, "fake_app.py", pump_port], capture_output=True,
                                 text=True, timeout=30)
            assert out.returncode != 0 and "no answer" in out.stderr
    """)
    suite.runpytest_subprocess("-q").assert_outcomes(passed=1)


def test_fixtures_are_documented(suite):
    result = suite.runpytest_subprocess("--fixtures", "-q")
    for name in ("pump_port", "programmer", "pump", "wire", "pump_target"):
        result.stdout.fnmatch_lines(["*%s*" % name])


def test_answers_to_a_named_request_can_be_dropped_and_nothing_reaches_a_closed_pty(suite):
    suite.makepyfile(test_drop="""
        import subprocess, sys, time
        from pumpmock.protocol.codes import Fault
        def test_drop(pump_port, pump, wire):
            pump.inject_fault(Fault.MOTOR_STALL)   # an alarm event while no app has the pty open
            time.sleep(0.3)
            assert wire.events() == []             # not delivered, so not recorded as delivered
            pump.drop_next_responses(1, name="GET_STATUS")
            out = subprocess.run([sys.executable, "fake_app.py", pump_port], capture_output=True,
                                 text=True, timeout=30)
            assert out.returncode == 0, out.stderr  # HELLO's answer was not the one dropped
    """)
    suite.runpytest_subprocess("-q").assert_outcomes(passed=1)


def test_the_oracles_judge_a_failed_test_too_and_both_verdicts_show(suite):
    """A test whose own assertion fails still gets the oracles' verdict, in the same report."""
    suite.makepyfile(test_both="""
        import pytest
        from pumpmock.protocol import messages as m
        from pumpmock.protocol.codes import Drug, TherapyMode

        @pytest.mark.pump_oracles("dose_limits")
        def test_overdose_then_a_wrong_assertion(programmer):
            rx = m.Prescription(drug=Drug.MORPHINE, concentration_ug_per_ml=20_000, mode=TherapyMode.SIMPLE_CONTINUOUS,
                                daily_dose_ug=16_000, max_daily_dose_ug=16_000, refill_interval_days=30)
            programmer.validate(rx)
            assert 'PROGRAM_PRESCRIPTION' == 'GET_PRESCRIPTION'

        @pytest.mark.pump_oracles("dose_limits")
        def test_clean_but_wrong(programmer):
            programmer.status()
            assert 1 == 2
    """)
    result = suite.runpytest_subprocess("-q")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "'PROGRAM_PRESCRIPTION' == 'GET_PRESCRIPTION'" in out  # the test's own verdict
    assert "pumpmock oracles found 2 violation(s)" in out and "VALIDATE_PRESCRIPTION" in out  # and the oracles'
    assert "pumpmock oracles (dose_limits): no violation" in out


def test_a_test_can_make_the_pump_refuse_corrupt_or_change_state_around_one_request(suite):
    suite.makepyfile(test_trouble="""
        import subprocess, sys
        import pytest
        def run(port):
            return subprocess.run([sys.executable, "fake_app.py", port], capture_output=True, text=True, timeout=30)

        def test_refused(pump_port, pump, wire):
            pump.refuse_next("HELLO", "BUSY")
            out = run(pump_port)
            assert out.returncode != 0 or "PM-000001" not in out.stdout   # the app got a NAK, not an identity
            assert [e.kind for e in wire if e.dir == "pump>host"] == ["NAK"]

        def test_before(pump_port, pump, wire):
            pump.before_next("HELLO", lambda: pump.set_reservoir(4_321))
            assert run(pump_port).returncode == 0
            assert pump.status().reservoir_ul == 4_321

        def test_unknown_message(pump_port, pump):
            with pytest.raises(ValueError, match="no message named 'HELO'"):
                pump.corrupt_next("HELO")
    """)
    suite.runpytest_subprocess("-q").assert_outcomes(passed=3)


def test_an_alarm_acknowledged_again_in_a_later_host_session_is_no_violation_but_twice_in_one_is(suite):
    """A programmer run once per command starts each host session knowing nothing of the last: the
    alarm list does not say which alarms were acknowledged, so it acknowledges what is listed and
    the pump answers NO_SUCH_ALARM for one acknowledged before (docs/PROTOCOL.md: no alarm with that
    code and instance needs acknowledging). Nothing is hidden and nothing changes on the pump; the
    alarms oracle's rule that an instance is acknowledged once holds within one host session."""
    suite.makepyfile(test_reack="""
        import pytest
        from pumpmock.harness.errors import NoSuchAlarmError
        from pumpmock.protocol.codes import Fault, Role

        def acknowledge_what_is_listed(programmer):
            for alarm in programmer.alarms():
                try:
                    programmer.ack_alarm(alarm.code, alarm.instance)
                except NoSuchAlarmError:
                    pass  # already acknowledged, or gone

        def next_host_session(programmer):
            programmer.host_session_id = (programmer.host_session_id + 1) % 2 ** 32
            programmer.hello()
            programmer.authenticate(Role.CLINICIAN)

        @pytest.mark.pump_oracles("alarms")
        def test_again_in_the_next_session(programmer, pump, wire):
            pump.inject_fault(Fault.CATHETER_OCCLUSION)  # its cause goes on: listed after its acknowledgement
            acknowledge_what_is_listed(programmer)
            next_host_session(programmer)
            acknowledge_what_is_listed(programmer)
            assert [n.fields["code"] for n in wire.naks("ACK_ALARM")] == [20], "test setup: no NO_SUCH_ALARM"

        @pytest.mark.pump_oracles("alarms")
        def test_twice_in_one_session(programmer, pump, wire):
            pump.inject_fault(Fault.CATHETER_OCCLUSION)
            acknowledge_what_is_listed(programmer)
            acknowledge_what_is_listed(programmer)
            assert [n.fields["code"] for n in wire.naks("ACK_ALARM")] == [20], "test setup: no NO_SUCH_ALARM"
    """)
    result = suite.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*FAILED*test_twice_in_one_session*"])
    result.stdout.fnmatch_lines(["*alarms: app acknowledged alarm CATHETER_OCCLUSION instance 1 twice (ACK_ALARM seq*"])


ACK_REFUSED_FIRST = """
    import contextlib
    import pytest
    from pumpmock.harness.errors import PumpRefusedError, UnauthorizedError
    from pumpmock.protocol.codes import Fault, Role

    def acknowledge_after_a_lapsed_login(programmer):
        [alarm] = programmer.alarms()
        programmer.logout()  # the login lapsed: the pump refuses the acknowledgement (UNAUTHORIZED)
        with pytest.raises(UnauthorizedError):
            programmer.ack_alarm(alarm.code, alarm.instance)
        programmer.authenticate(Role.CLINICIAN)
        return alarm

    def change_therapy(programmer):
        with contextlib.suppress(PumpRefusedError):  # the pump may say no; the oracle saw it sent
            programmer.resume()
"""


def test_an_acknowledgement_the_pump_refused_and_the_app_tried_again_counts_once(suite):
    """An acknowledgement is done when the pump accepts it, not when it is sent: one refused (a
    login that lapsed) and tried again in the same host session under a new seq is one
    acknowledgement, as a correct app makes it, and therapy may change after the second."""
    suite.makepyfile(test_ack_retried=ACK_REFUSED_FIRST + """
    @pytest.mark.pump_oracles("alarms", "exactly_once")
    def test_refused_then_acknowledged(programmer, pump, wire):
        pump.inject_fault(Fault.MOTOR_STALL)
        alarm = acknowledge_after_a_lapsed_login(programmer)
        programmer.ack_alarm(alarm.code, alarm.instance)
        change_therapy(programmer)
        acks = wire.requests("ACK_ALARM")
        assert len({a.seq for a in acks}) == 2 and len(wire.naks("ACK_ALARM")) == 1, "test setup"
    """)
    suite.runpytest_subprocess("-q").assert_outcomes(passed=1)


def test_a_therapy_change_after_an_acknowledgement_the_pump_refused_breaks_the_alarms_oracle(suite):
    """A refused acknowledgement leaves the alarm standing unacknowledged: a therapy change after it
    is past a high-priority alarm, whatever the app believed."""
    suite.makepyfile(test_ack_refused=ACK_REFUSED_FIRST + """
    @pytest.mark.pump_oracles("alarms")
    def test_refused_then_therapy(programmer, pump, wire):
        pump.inject_fault(Fault.MOTOR_STALL)
        acknowledge_after_a_lapsed_login(programmer)
        change_therapy(programmer)
        assert wire.requests("RESUME") and len(wire.naks("ACK_ALARM")) == 1, "test setup"
    """)
    result = suite.runpytest_subprocess("-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*alarms: app sent RESUME (seq *) while high-priority alarm MOTOR_STALL instance 1 "
                                 "stood unacknowledged*"])
