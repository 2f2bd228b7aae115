"""Every workflow pushed where apps break: the pump says no, the pump goes quiet, a confirmation
the clinician never gave, a second alarm of the same kind. What a correct app does in each case is
the same: it tells the clinician the truth (exit 1 refused, exit 2 link failure) and does nothing
nobody confirmed. pumpmock's per-run checks (conftest.check_run) add what the pump said."""

import pytest

from conftest import STANDARD_RX
from pumpmock.protocol.codes import Alarm, Error, Fault, Limit

# workflow -> (the request that changes the pump, the app's arguments, the role it runs as)
WORKFLOWS = {
    "refill": ("REFILL", ("refill", "--drug", "morphine", "--concentration-mg-per-ml", "20", "--volume-ml", "5")),
    "program": ("PROGRAM_PRESCRIPTION", ("program",) + STANDARD_RX[0:] + ("--confirm-soft",)),
    "clinician bolus": ("CLINICIAN_BOLUS", ("clinician-bolus", "--dose-mg", "0.5", "--duration-min", "10", "--yes")),
    "patient bolus": ("PTM_BOLUS", ("--role", "patient", "ptm-bolus", "--yes")),
}


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
def test_a_refusal_of_any_workflow_is_reported_as_refused_and_not_tried_again(programmed, pump, wire, workflow):
    name, args = WORKFLOWS[workflow]
    pump.refuse_next(name, Error.BUSY)
    before = len(wire.requests(name))  # the fixture's own refill and program

    result = programmed(*args)

    sent = wire.requests(name)[before:]
    assert sent, "test setup: the app never sent %s" % name
    assert len({r.seq for r in sent}) == 1, (
        "app asked for the %s again under a new sequence number after the pump refused it (BUSY): the clinician "
        "asked once; a refusal is an answer, not a lost request" % workflow)
    assert result.code == 1, ("the pump refused the %s (BUSY) but the app exited %d: it must report the refusal "
                              "(exit 1)" % (workflow, result.code))
    assert "BUSY" in result.stderr, "the app did not say why the %s was refused: %s" % (workflow, result.stderr)


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
def test_a_pump_that_never_answers_a_workflow_is_a_link_failure_not_a_success(programmed, pump, wire, workflow):
    name, args = WORKFLOWS[workflow]
    pump.drop_next_responses(50, name=name)  # every answer to it, retransmissions included
    before = len(wire.requests(name))

    result = programmed(*args)

    assert wire.requests(name)[before:], "test setup: the app never sent %s" % name
    assert result.code == 2, ("the pump never answered the %s, but the app exited %d: it cannot know the %s "
                              "happened (exit 2, link failure)" % (workflow, result.code, workflow))


def _watch_with_ack_trouble(app, pump, trouble):
    pump.inject_fault(Fault.MOTOR_STALL)
    trouble()
    return app("watch-alarms", "--seconds", "1")


def test_an_acknowledgement_the_pump_refuses_is_reported(app, pump, wire):
    result = _watch_with_ack_trouble(app, pump, lambda: pump.refuse_next("ACK_ALARM", Error.BUSY))
    assert wire.requests("ACK_ALARM"), "test setup: the app never acknowledged MOTOR_STALL"
    assert result.code != 0, ("the pump refused the acknowledgement of MOTOR_STALL (BUSY) but the app exited 0: "
                              "the clinician believes a high-priority alarm is acknowledged and it is not")


def test_an_acknowledgement_the_pump_never_answers_is_a_link_failure(app, pump, wire):
    result = _watch_with_ack_trouble(app, pump, lambda: pump.drop_next_responses(50, name="ACK_ALARM"))
    assert wire.requests("ACK_ALARM"), "test setup: the app never acknowledged MOTOR_STALL"
    assert result.code == 2, ("the pump never answered the acknowledgement of MOTOR_STALL, but the app exited %d: "
                              "the alarm may still stand (exit 2, link failure)" % result.code)


@pytest.mark.parametrize("kind", ["clinician", "bridge", "priming"])
def test_every_bolus_kind_needs_the_clinicians_yes(programmed, wire, kind):
    result = programmed("clinician-bolus", "--dose-mg", "0.5", "--duration-min", "10", "--kind", kind)  # no --yes, no answer

    assert not wire.requests("CLINICIAN_BOLUS"), (
        "app delivered a %s bolus nobody confirmed: every bolus kind needs the clinician's yes" % kind)
    assert result.code == 1, "app exited %d on an unconfirmed %s bolus, not 1 (refused)" % (result.code, kind)


def test_a_prescription_that_empties_the_reservoir_before_the_refill_needs_confirmation(app, pump, wire):
    # 2 mL of 20 mg/mL is 40 mg; 3 mg a day for a 30-day refill interval needs 90 mg.
    assert app("refill", "--drug", "morphine", "--concentration-mg-per-ml", "20", "--volume-ml", "2").code == 0

    result = app("program", "--drug", "morphine", "--dose-mg-per-day", "3", "--max-mg-per-day", "5")

    overridden = [r for r in wire.requests("PROGRAM_PRESCRIPTION") if Limit.RESERVOIR_DURATION in r.fields["overrides"]]
    assert not overridden, ("app overrode RESERVOIR_DURATION without --confirm-soft: the reservoir runs dry "
                            "before the refill date and the clinician was never asked")
    assert result.code == 1, "app exited %d on an unconfirmed soft finding, not 1" % result.code
    assert "RESERVOIR_DURATION" in result.stderr, "the app did not name the finding: %s" % result.stderr


def test_two_alarms_of_the_same_kind_are_each_shown_and_acknowledged(app, pump, wire):
    watch = app.start("watch-alarms", "--seconds", "3")
    watch.wait_for("watching alarms")
    pump.inject_fault(Fault.CATHETER_OCCLUSION)
    watch.wait_for("acknowledged CATHETER_OCCLUSION")  # the first instance, shown and acknowledged
    pump.clear_fault(Fault.CATHETER_OCCLUSION)
    pump.inject_fault(Fault.CATHETER_OCCLUSION)  # the occlusion again: a second instance of the same alarm
    result = watch.finish()

    raised = sorted({e.fields["instance"] for e in wire.events("ALARM_RAISED")
                     if e.fields["code"] == Alarm.CATHETER_OCCLUSION})
    assert len(raised) == 2, "test setup: the pump raised CATHETER_OCCLUSION instances %s" % raised
    shown = sorted(line["instance"] for line in result.json_lines() if line.get("alarm") == "CATHETER_OCCLUSION")
    assert shown == raised, ("app showed CATHETER_OCCLUSION instances %s of the %s the pump raised: an alarm is an "
                             "instance, not a kind" % (shown, raised))
    acked = sorted({r.fields["instance"] for r in wire.requests("ACK_ALARM")
                    if r.fields["code"] == Alarm.CATHETER_OCCLUSION})
    assert acked == raised, "app acknowledged CATHETER_OCCLUSION instances %s of %s" % (acked, raised)
