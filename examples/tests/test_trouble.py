"""What a good line and a good pump never do, and a real one sometimes does: an answer so late it
arrives while the app waits for another, an ACK lost on its way to the pump, a pump holding another
prescription than the one the app just programmed. Each is made deterministic with test control
and per-message line trouble, and each test says what the clinician would be left believing."""

from pumpmock.protocol.codes import Alarm, Fault

from conftest import STANDARD_RX

NEW_RX = ("--drug", "morphine", "--dose-mg-per-day", "4", "--max-mg-per-day", "5",
          "--ptm-dose-mg", "0.2", "--ptm-lockout-h", "2", "--ptm-max", "3")


def test_a_late_answer_is_not_taken_for_the_answer_to_a_later_request(programmed, pump, wire):
    # The app's first GET_PRESCRIPTION is answered only after its timeout, retransmission, VALIDATE
    # and PROGRAM: the late answer (the old prescription) arrives while it waits for the read-back.
    pump.hold_next_response("GET_PRESCRIPTION")
    result = programmed("program", *NEW_RX)

    reads = wire.requests("GET_PRESCRIPTION")
    # (an app that retransmits under a new seq gets the late answer at its retry instead)
    late = [a for a in wire.responses("GET_PRESCRIPTION") if reads and a.seq != reads[-1].seq and a.t > reads[-1].t]
    assert result.code == 0 or not late, (
        "app took the late answer to its earlier GET_PRESCRIPTION (seq %d) for the answer to its read-back "
        "(seq %d) and failed (exit %d: %s): an answer belongs to the request with its seq, else the app acts "
        "on stale data (an alarm list from before a motor stall, a prescription that was replaced)"
        % (late[0].seq, reads[-1].seq, result.code, result.stderr.strip()))
    assert result.code == 0, "app failed to program (exit %d): %s" % (result.code, result.stderr.strip())
    _version, rx = pump.prescription()
    assert rx.daily_dose_ug == 4000


def test_every_copy_of_an_event_is_acked_when_the_first_ack_is_lost(app, pump, wire):
    watch = app.start("watch-alarms", "--seconds", "3")
    watch.wait_for("watching alarms")
    pump.lose_next_acks(1, "ALARM_RAISED")  # the app's first ACK never reaches the pump
    pump.inject_fault(Fault.MOTOR_STALL)
    watch.finish()

    raised = [e for e in wire.events("ALARM_RAISED") if e.fields["code"] == Alarm.MOTOR_STALL]
    assert raised, "the pump never sent ALARM_RAISED for MOTOR_STALL to the app"
    copies = [e for e in raised if e.seq == raised[0].seq]
    assert len(copies) >= 2, "test setup: the pump did not re-send the event whose ACK was lost"
    acks = wire.select("host>pump", "ACK", "ALARM_RAISED")
    assert any(a.seq == raised[0].seq for a in acks), (
        "app never ACKed the pump's %d re-sent copies of ALARM_RAISED seq %d after its first ACK was lost: "
        "the pump re-sends an unACKed event every 0.5 s until its retries run out, spending the implant's "
        "battery on telemetry and judging the link broken" % (len(copies) - 1, raised[0].seq))


def test_a_pump_holding_another_prescription_than_the_one_programmed_is_not_reported_as_programmed(
        refilled, pump, wire):
    def replace_ptm_lockout():  # between the app's PROGRAM and its read-back, the pump comes to hold
        held = pump.prescription()[1]  # another PTM lockout (a clamp, a corrupt store, another programmer)
        pump.session.program(held._replace(ptm_lockout_min=30))

    pump.before_next("PROGRAM_PRESCRIPTION", lambda: pump.before_next("GET_PRESCRIPTION", replace_ptm_lockout))
    result = refilled("program", *STANDARD_RX)

    _version, held = pump.prescription()
    assert held.ptm_lockout_min == 30, "test setup: the pump does not hold the replaced PTM lockout"
    assert result.code != 0 and "programmed" not in result.stdout, (
        "app reported the prescription programmed (exit %d), but the pump holds a PTM lockout of 30 min where "
        "the clinician entered 2 h: the read-back must compare every field and the version, or the patient "
        "leaves with boluses four times as often as prescribed" % result.code)
