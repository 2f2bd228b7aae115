"""What a clinician or patient is left believing between two visits: a stopping alarm whose cause
ended while nobody was connected is still shown and acknowledged; a refill at a new strength says
the prescription must be programmed again; the app logs in with the role it was asked for, so a
patient cannot change the therapy. Each test judges the app by what the pump holds afterwards or
by the wire, not by one app's wording."""

import re
from decimal import Decimal

import pytest

from pumpmock.protocol.codes import Alarm, AlarmState, Fault, Role, TherapyState

from conftest import MORPHINE_20, STANDARD_RX, expect_ok


# ---- a latched alarm, its cause over before the programmer came, is dealt with -----------------
@pytest.mark.parametrize("fault", [Fault.CATHETER_OCCLUSION, Fault.MOTOR_STALL], ids=lambda f: f.name.lower())
def test_watch_shows_and_acknowledges_a_stopping_alarm_whose_cause_ended_between_visits(programmed, pump, fault):
    # The fault starts while the clinician interrogates (so that run gets, and ACKs on the link,
    # the pump's ALARM_RAISED: no copy of it is left to re-send), and ends after it has gone.
    raised = []
    pump.before_next("GET_STATUS", lambda: raised.append(Alarm(pump.inject_fault(fault))))
    expect_ok(programmed("interrogate"), "interrogate")
    assert raised, "test setup: the fault was not injected during interrogate"
    alarm = raised[0]
    pump.clear_fault(fault)
    held = [(Alarm(a.code), AlarmState(a.state)) for a in pump.alarms()]
    assert held == [(alarm, AlarmState.LATCHED)], "test setup: the pump lists %s, not one latched %s" % (
        held, alarm.name)
    assert pump.status().therapy_state == TherapyState.STOPPED, "test setup: the latched alarm did not stop therapy"

    result = expect_ok(programmed("watch-alarms", "--seconds", "0.5"), "watch the alarms")

    shown = [line.get("alarm") for line in result.json_lines()]
    assert alarm.name in shown, (
        "watch-alarms did not show %s, which the pump lists LATCHED (its cause ended, nobody acknowledged it): "
        "a stopping alarm the clinician is never shown keeps delivery stopped; it showed %s" % (alarm.name, shown))
    left = [(Alarm(a.code).name, AlarmState(a.state).name) for a in pump.alarms()]
    assert not left, ("after watch-alarms the pump still lists %s: a latched high-priority alarm left "
                      "unacknowledged keeps therapy stopped" % left)
    assert pump.status().therapy_state == TherapyState.RUNNING, (
        "therapy is %s after the clinician watched the alarms, not RUNNING" % TherapyState(pump.status().therapy_state).name)


# ---- a refill at another concentration than the prescription's says so -------------------------
def _mg_per_ml_named(text):
    """Every concentration the text names in mg/mL, as exact decimals."""
    return {Decimal(n.replace(",", ".")) for n in re.findall(r"(\d+(?:[.,]\d+)?)\s*mg\s*/\s*ml", text, re.I)}


# (concentration programmed, concentration refilled), mg/mL
STRENGTH_CHANGES = {
    "to twice the strength (twice the dose)": ("10", "20"),
    "to half the strength (half the dose)": ("20", "10"),
}


@pytest.mark.parametrize("change", list(STRENGTH_CHANGES))
def test_a_refill_at_another_concentration_warns_that_the_prescription_must_be_programmed_again(app, pump, change):
    old, new = STRENGTH_CHANGES[change]
    expect_ok(app("refill", "--drug", "morphine", "--concentration-mg-per-ml", old, "--volume-ml", "18"), "refill")
    expect_ok(app("program", *STANDARD_RX), "program a standard prescription")

    result = expect_ok(app("refill", "--drug", "morphine", "--concentration-mg-per-ml", new, "--volume-ml", "18"),
                       "refill at another concentration")

    assert pump.prescription()[1].concentration_ug_per_ml == int(old) * 1000, \
        "test setup: the pump no longer holds the prescription at %s mg/mL" % old
    named = _mg_per_ml_named(result.stderr + result.stdout)
    assert {Decimal(old), Decimal(new)} <= named, (
        "after a refill from %s to %s mg/mL (%s) the app did not warn that the prescription still assumes %s mg/mL "
        "(it named %s): the pump keeps pumping the old volumes, so the patient silently gets the wrong dose.\n"
        "stderr: %s" % (old, new, change, old, sorted(map(str, named)) or "no concentration", result.stderr.strip()))

    # Programmed again as the warning says, the concentration left to the app: the reservoir's is used.
    expect_ok(app("program", *STANDARD_RX), "program the prescription again")
    assert pump.prescription()[1].concentration_ug_per_ml == int(new) * 1000, (
        "programmed again after the refill, the pump holds %d µg/mL, not the reservoir's %s mg/mL"
        % (pump.prescription()[1].concentration_ug_per_ml, new))


def test_a_refill_at_the_prescriptions_own_concentration_needs_no_reprogramming(programmed, pump):
    result = expect_ok(programmed("refill", *MORPHINE_20), "refill at the same concentration")
    named = _mg_per_ml_named(result.stderr + result.stdout)
    assert named <= {Decimal(20)}, (
        "a refill at the prescription's own 20 mg/mL names %s: a warning where nothing changed teaches the "
        "clinician to ignore the one that matters.\nstderr: %s" % (sorted(map(str, named)), result.stderr.strip()))


# ---- the app logs in with the role it is asked for ---------------------------------------------
# Every command, run with --role: what it logs in with must be that role, whatever the command.
COMMANDS = {
    "interrogate": ("interrogate",),
    "read-log": ("read-log",),
    "watch-alarms": ("watch-alarms", "--seconds", "0.2"),
    "program": ("program", "--drug", "morphine", "--dose-mg-per-day", "4", "--max-mg-per-day", "6"),
    "clinician-bolus": ("clinician-bolus", "--dose-mg", "0.5", "--duration-min", "10", "--yes"),
    "refill": ("refill", *MORPHINE_20),
    "ptm-bolus": ("ptm-bolus", "--yes"),
}


@pytest.mark.parametrize("role", ["patient", "clinician"])
def test_every_command_logs_in_with_the_role_asked_for(programmed, wire, role):
    wrong = []
    for command, args in COMMANDS.items():
        before = len(wire.requests("AUTH_CHALLENGE"))
        programmed("--role", role, *args)
        asked = [Role(r.fields["role"]).name for r in wire.requests("AUTH_CHALLENGE")[before:]]
        if not asked or set(asked) != {role.upper()}:
            wrong.append("%s logged in as %s" % (command, " then ".join(asked) or "nobody"))
    assert not wrong, ("with --role %s: %s. The role is the user's, not the command's: a patient therapy manager "
                       "logged in as clinician reads and changes the prescription" % (role, "; ".join(wrong)))


PATIENT_CHANGES = {
    "a higher basal dose": ("program", "--drug", "morphine", "--dose-mg-per-day", "9", "--max-mg-per-day", "9",
                            "--confirm-soft"),
    "a clinician bolus": ("clinician-bolus", "--dose-mg", "1", "--duration-min", "10", "--yes"),
}


@pytest.mark.parametrize("change", list(PATIENT_CHANGES))
def test_a_patient_cannot_change_the_therapy(programmed, pump, change):
    rx_before = pump.prescription()
    bolus_before = pump.status().bolus_remaining_ug

    result = programmed("--role", "patient", *PATIENT_CHANGES[change])

    rx_after = pump.prescription()
    assert rx_after == rx_before, (
        "a patient (--role patient) changed the prescription with %s: the pump now holds %d µg/day, not the "
        "clinician's %d" % (change, rx_after[1].daily_dose_ug, rx_before[1].daily_dose_ug))
    assert pump.status().bolus_remaining_ug == bolus_before, "a patient (--role patient) started %s" % change
    assert result.code == 1, "app exited %d, not 1 (refused), when a patient asked for %s" % (result.code, change)
