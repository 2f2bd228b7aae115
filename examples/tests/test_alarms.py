"""Alarms: each alarm instance is shown once and acknowledged once, however often the pump
re-announces it, and therapy is not changed past a high-priority alarm."""

from pumpmock.protocol.codes import Alarm, Fault

WATCH_S = "2"


def acknowledgements(wire, code, instance):
    return [r for r in wire.requests("ACK_ALARM") if (r.fields["code"], r.fields["instance"]) == (code, instance)]


def first_instance(wire, code):
    raised = [e for e in wire.events("ALARM_RAISED") if e.fields["code"] == code]
    assert raised, "the pump never sent ALARM_RAISED for %s to the app" % Alarm(code).name
    return raised[0].fields["instance"], raised


def test_an_alarm_is_shown_and_acknowledged_once_despite_reannouncements(app, pump, wire):
    watch = app.start("watch-alarms", "--seconds", WATCH_S)
    watch.wait_for("watching alarms")
    pump.silence(True)  # the app cannot see the alarm yet, so cannot acknowledge it...
    pump.inject_fault(Fault.MOTOR_STALL)
    pump.warp_clock(61)  # ...so a minute later the pump re-announces it (announce_count 2)
    pump.silence(False)  # the pump re-sends both events until the app ACKs them
    result = watch.finish()

    instance, raised = first_instance(wire, Alarm.MOTOR_STALL)
    assert {e.fields["announce_count"] for e in raised} >= {1, 2}, "test setup: no re-announcement reached the app"
    acks = acknowledgements(wire, Alarm.MOTOR_STALL, instance)
    assert acks, "alarm MOTOR_STALL instance %d was never acknowledged (no ACK_ALARM)" % instance
    assert len({a.seq for a in acks}) == 1, (
        "app acknowledged alarm MOTOR_STALL instance %d %d times: a re-announcement is the same alarm, "
        "not a new one" % (instance, len({a.seq for a in acks})))
    shown = [line for line in result.json_lines() if line.get("alarm") == "MOTOR_STALL"]
    assert len(shown) == 1, ("app showed alarm MOTOR_STALL instance %d %d times: a re-announcement is the same "
                             "alarm, not a new one" % (instance, len(shown)))
    assert result.code == 0, result.stderr


def test_an_alarm_raised_before_the_app_connects_is_listed_and_acknowledged(app, pump, wire):
    pump.inject_fault(Fault.CATHETER_OCCLUSION)

    result = app("watch-alarms", "--seconds", "1")

    assert result.code == 0, result.stderr
    shown = [line for line in result.json_lines() if line.get("alarm") == "CATHETER_OCCLUSION"]
    assert len(shown) == 1, "app showed the standing CATHETER_OCCLUSION alarm %d times" % len(shown)
    instance = shown[0]["instance"]
    assert acknowledgements(wire, Alarm.CATHETER_OCCLUSION, instance), \
        "alarm CATHETER_OCCLUSION instance %d was never acknowledged (no ACK_ALARM)" % instance


def test_no_bolus_while_a_high_priority_alarm_stands(programmed, pump, wire):
    pump.inject_fault(Fault.MOTOR_STALL)

    result = programmed("clinician-bolus", "--dose-mg", "0.5", "--duration-min", "10", "--yes")

    assert not wire.requests("CLINICIAN_BOLUS"), "app sent a bolus while MOTOR_STALL stood unacknowledged"
    assert result.code == 1
    assert "MOTOR_STALL" in result.stderr
    # the clinician then deals with the alarm, as the app told them to
    assert programmed("watch-alarms", "--seconds", "1").code == 0
