"""The app's picture of the pump is the pump's, wherever a thing stands: every alarm it lists,
whatever its state or priority; the reservoir a prescription is made for, whatever the clinician
typed; the high-priority alarm that blocks therapy, wherever it is in the list and whether or not
its cause is over; the count of boluses the patient is shown, whichever bolus of the day it is,
and every count the patient is told in a sentence; every count of alarms the clinician is told
by interrogate and watch-alarms.
Each test compares what the app said or did with what the pump holds, read through test control,
not with how one app happens to work."""

import pytest

from pumpmock.protocol.codes import Alarm, AlarmState, Drug, Fault, Priority

from conftest import MORPHINE_20, STANDARD_RX, expect_ok

PROGRAMMING = ("VALIDATE_PRESCRIPTION", "PROGRAM_PRESCRIPTION")


def acknowledge_everything(app):
    """The clinician deals with the alarms a test raised (the alarms oracle asks it of every test)."""
    expect_ok(app("watch-alarms", "--seconds", "1"), "watch and acknowledge the alarms")


def pump_alarm_list(pump):
    """{(code name, instance): (state, priority, latching)} of every alarm the pump lists."""
    return {(Alarm(a.code).name, a.instance): (AlarmState(a.state).name, Priority(a.priority).name, bool(a.latching))
            for a in pump.alarms()}


# ---- interrogate lists every alarm the pump holds ----------------------------------------------
def _latched(pump, app):
    pump.inject_fault(Fault.MOTOR_STALL)
    pump.clear_fault(Fault.MOTOR_STALL)  # the stall is over; the alarm stays until acknowledged


def _mixed(pump, app):
    pump.inject_fault(Fault.LOW_BATTERY)  # medium, not latching
    pump.inject_fault(Fault.CATHETER_OCCLUSION)  # high, latching, its cause still there
    pump.inject_fault(Fault.MOTOR_STALL)
    pump.clear_fault(Fault.MOTOR_STALL)  # high, latched


def _acknowledged_but_standing(pump, app):
    pump.inject_fault(Fault.CATHETER_OCCLUSION)
    acknowledge_everything(app)  # acknowledged, but the occlusion is still there


def _refused_patient_bolus(pump, app):
    expect_ok(app("refill", *MORPHINE_20), "refill the reservoir")
    expect_ok(app("program", *STANDARD_RX), "program a standard prescription")
    expect_ok(app("--role", "patient", "ptm-bolus", "--yes"), "deliver a patient bolus")
    app("--role", "patient", "ptm-bolus", "--yes")  # inside the lockout: refused, PTM_LOCKOUT (low)


def _two_instances(pump, app):
    pump.inject_fault(Fault.CATHETER_OCCLUSION)
    acknowledge_everything(app)
    pump.clear_fault(Fault.CATHETER_OCCLUSION)
    pump.inject_fault(Fault.CATHETER_OCCLUSION)  # the same kind again: a second instance
    pump.inject_fault(Fault.MOTOR_STALL)
    pump.clear_fault(Fault.MOTOR_STALL)


# situation -> (how the test makes it, whether alarms are left to acknowledge at the end: an alarm
# acknowledged once is not acknowledged again, the pump would refuse it as NO_SUCH_ALARM)
ALARM_SITUATIONS = {
    "a latched alarm waiting for acknowledgement": (_latched, True),
    "active, latched and medium alarms together": (_mixed, True),
    "an acknowledged alarm whose cause persists": (_acknowledged_but_standing, False),
    "two instances of one alarm and a latched one": (_two_instances, True),
    "a low-priority alarm (a refused patient bolus)": (_refused_patient_bolus, False),
}


@pytest.mark.parametrize("situation", list(ALARM_SITUATIONS))
def test_interrogate_lists_every_alarm_the_pump_holds_in_its_state(app, pump, situation):
    make, left_to_acknowledge = ALARM_SITUATIONS[situation]
    make(pump, app)
    held = pump_alarm_list(pump)
    assert held, "test setup: the pump lists no alarm for %s" % situation

    result = expect_ok(app("interrogate"), "interrogate the pump")

    listed = {(a.get("code"), a.get("instance")): (a.get("state"), a.get("priority"), a.get("latching"))
              for a in result.json().get("alarms") or []}
    missing = sorted(set(held) - set(listed))
    assert not missing, (
        "with %s, interrogate does not list %s that the pump holds (%s): an alarm the clinician is not shown is "
        "one nobody deals with" % (situation, ", ".join("%s instance %d" % key for key in missing),
                                   ", ".join("%s %s" % (key[0], held[key][0]) for key in missing)))
    extra = sorted(set(listed) - set(held))
    assert not extra, "interrogate lists %s, which the pump does not hold" % ", ".join(map(str, extra))
    for key, (state, priority, latching) in sorted(held.items()):
        shown_state, shown_priority, shown_latching = listed[key]
        assert (shown_state, shown_priority) == (state, priority), (
            "interrogate shows %s instance %d as %s %s; the pump holds it %s %s" % (
                key[0], key[1], shown_state, shown_priority, state, priority))
        assert shown_latching in (None, latching, int(latching)), (
            "interrogate shows %s instance %d latching=%r; the pump says %r" % (key[0], key[1], shown_latching,
                                                                             latching))
    if left_to_acknowledge:
        acknowledge_everything(app)


# ---- a prescription is made for the reservoir the pump holds -----------------------------------
# (what the clinician types, what differs from the reservoir: morphine at 20 mg/mL)
MISMATCHES = {
    "half the concentration": ("--drug", "morphine", "--concentration-mg-per-ml", "10"),
    "a microgram per mL below it": ("--drug", "morphine", "--concentration-mg-per-ml", "19.999"),
    "another drug at the same concentration": ("--drug", "bupivacaine", "--concentration-mg-per-ml", "20"),
    "another drug, the concentration left to the app": ("--drug", "bupivacaine"),
}


def _drug_at(fields):
    return "%s at %d µg/mL" % (Drug(fields["drug"]).name.lower(), fields["concentration_ug_per_ml"])


@pytest.mark.parametrize("mismatch", list(MISMATCHES))
def test_a_prescription_for_another_drug_or_concentration_than_the_reservoirs_is_refused_before_sending(
        refilled, pump, wire, mismatch):
    status = pump.status()
    held = _drug_at({"drug": status.drug, "concentration_ug_per_ml": status.concentration_ug_per_ml})

    result = refilled("program", *MISMATCHES[mismatch], "--dose-mg-per-day", "3", "--max-mg-per-day", "5",
                      "--confirm-soft")

    sent = [r for r in wire.requests() if r.name in PROGRAMMING]
    assert not sent, (
        "app sent %s for a prescription with %s (%s) while the reservoir holds %s: the pump delivers what the "
        "reservoir holds, so a prescription for anything else must be refused before it is sent"
        % (" and ".join(r.name for r in sent), mismatch, _drug_at(sent[0].fields["prescription"]), held))
    assert result.code == 1, "app exited %d on a prescription that is not for the reservoir (%s), not 1" % (
        result.code, mismatch)
    assert pump.status().therapy_state == 0, "the pump was programmed"  # NOT_PROGRAMMED


def test_after_a_refill_at_a_new_concentration_the_old_one_typed_is_refused_before_sending(programmed, pump, wire):
    expect_ok(programmed("refill", "--drug", "morphine", "--concentration-mg-per-ml", "10", "--volume-ml", "20"),
              "refill at a new concentration")
    before = len([r for r in wire.requests() if r.name in PROGRAMMING])

    # the clinician types the concentration of the prescription still programmed (20 mg/mL)
    result = programmed("program", "--drug", "morphine", "--concentration-mg-per-ml", "20",
                        "--dose-mg-per-day", "3", "--max-mg-per-day", "5", "--confirm-soft")

    sent = [r for r in wire.requests() if r.name in PROGRAMMING][before:]
    assert not sent, ("app sent %s at the programmed prescription's %d µg/mL after a refill at 10000 µg/mL: the "
                      "reservoir, not the last prescription, says what the pump delivers"
                      % (" and ".join(r.name for r in sent), sent[0].fields["prescription"]["concentration_ug_per_ml"]))
    assert result.code == 1, "app exited %d on a concentration the reservoir no longer holds, not 1" % result.code


@pytest.mark.parametrize("typed", ["20", "20.000"])
def test_the_reservoirs_own_concentration_typed_out_is_programmed(refilled, pump, typed):
    result = refilled("program", "--drug", "morphine", "--concentration-mg-per-ml", typed,
                      "--dose-mg-per-day", "3", "--max-mg-per-day", "5")

    assert result.code == 0, "app refused %s mg/mL, the reservoir's own concentration: %s" % (typed, result.stderr)
    assert pump.prescription()[1].concentration_ug_per_ml == 20_000


# ---- a high-priority alarm blocks therapy wherever it stands in the list -----------------------
def _low_reservoir(pump):
    pump.set_reservoir(1_500)  # at or below 2 mL: LOW_RESERVOIR (medium)
    pump.warp_clock(60)


def _battery(pump):
    pump.inject_fault(Fault.LOW_BATTERY)  # ELECTIVE_REPLACEMENT (medium)


# lower-priority alarms raised first, then the high one (the pump lists alarms in raise order);
# whether its cause is over by then (LATCHED: it still stands until it is acknowledged)
ORDERS = {
    "after a medium alarm": ((_low_reservoir,), Fault.MOTOR_STALL, False),
    "after two medium alarms": ((_battery, _low_reservoir), Fault.CATHETER_OCCLUSION, False),
    "latched, its cause over, after a medium alarm": ((_battery,), Fault.MOTOR_STALL, True),
}
THERAPY = {
    "program": ("PROGRAM_PRESCRIPTION", ("program", "--drug", "morphine", "--dose-mg-per-day", "4",
                                         "--max-mg-per-day", "6", "--ptm-dose-mg", "0.2", "--confirm-soft")),
    "clinician bolus": ("CLINICIAN_BOLUS", ("clinician-bolus", "--dose-mg", "0.5", "--duration-min", "10", "--yes")),
    "patient bolus": ("PTM_BOLUS", ("--role", "patient", "ptm-bolus", "--yes")),
}


@pytest.mark.parametrize("workflow", list(THERAPY))
@pytest.mark.parametrize("order", list(ORDERS))
def test_no_therapy_change_while_a_high_priority_alarm_stands_behind_lower_ones(programmed, pump, wire, order,
                                                                                workflow):
    lower, fault, cause_over = ORDERS[order]
    for raise_alarm in lower:
        raise_alarm(pump)
    high = Alarm(pump.inject_fault(fault))
    if cause_over:
        pump.clear_fault(fault)
    listed = [(Alarm(a.code), Priority(a.priority)) for a in pump.alarms()]
    assert len(listed) >= 2 and listed[-1][0] == high and all(p != Priority.HIGH for _c, p in listed[:-1]), \
        "test setup: the pump lists %s, not lower alarms first and %s last" % (listed, high.name)
    name, args = THERAPY[workflow]
    before = len(wire.requests(name))

    result = programmed(*args)

    sent = wire.requests(name)[before:]
    assert not sent, ("app sent %s while high-priority alarm %s stood unacknowledged (%s; the pump lists %s): a "
                      "high-priority alarm blocks therapy wherever it stands in the list, until it is acknowledged"
                      % (name, high.name, order, ", ".join(c.name for c, _p in listed)))
    assert result.code == 1, "app exited %d, not 1 (refused), with %s standing" % (result.code, high.name)
    assert high.name in result.stderr, "the app did not name the alarm that stops the %s: %s" % (
        workflow, result.stderr.strip())
    acknowledge_everything(programmed)


# ---- the patient is shown the pump's count of boluses ------------------------------------------
def test_each_patient_bolus_shows_the_pumps_own_count_of_the_last_24_hours(programmed, pump, wire):
    # The standard prescription: a bolus every 2 h, 3 a day. Three boluses 2 h apart, then one a day later,
    # when the first three have left the rolling 24 h: 1, 2, 3, then 1 again.
    for bolus, wait_s in enumerate((2 * 3600 + 60, 2 * 3600 + 60, 24 * 3600, 0), start=1):
        result = expect_ok(programmed("--role", "patient", "ptm-bolus", "--yes"), "deliver patient bolus %d" % bolus)
        said = wire.responses("PTM_BOLUS")[-1].fields["activations_24h"]
        shown = result.json().get("activations_24h")
        assert shown == said, (
            "after patient bolus %d the app showed %r bolus(es) in the last 24 h; the pump counts %d: a patient "
            "shown fewer boluses than the pump counts expects one the pump will refuse" % (bolus, shown, said))
        if wait_s:
            pump.warp_clock(wait_s)
    assert pump.counters().boluses_delivered == 4, "test setup: the pump did not deliver the four boluses"


# ---- every count the patient is told is one the pump holds -------------------------------------
# A number with a unit is an amount or a time (mg and mL ones are judged by pumpmock's shown() on
# every run); a clock time or a date is a moment. Any other number a patient is told after a
# bolus (digits, "2nd", or an ordinal word) is a count: of boluses today, allowed, or left.
STATED_UNITS = r"(?:mg|mL|ml|µg|ug|µL|ul|%|h|hr|hrs|hours?|min|mins|minutes?|s|sec|secs|seconds?|days?)(?![\w/])"
ORDINAL_WORDS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
                 "eleventh", "twelfth")


def numbers_stated(text):
    """[(number, the line it stands in)] for every count-like number in free text: digits standing
    alone or as an ordinal ("2", "#2", "2nd"), and the ordinal words first to twelfth; numbers
    with a unit, clock times, dates and versions are left out."""
    import re
    found = []

    def line(match):
        return text[text.rfind("\n", 0, match.start()) + 1:text.find("\n", match.end()) % (len(text) + 1)]

    for match in re.finditer(r"(?<![\w.:/-])(\d+(?:[.,]\d+)?)(?:st|nd|rd|th)?(?![\w:/-]|[.,]\d)( ?%s)?"
                             % STATED_UNITS, text):
        if match.group(2) is None:
            found.append((match.group(1), line(match)))
    for index, word in enumerate(ORDINAL_WORDS, start=1):
        for match in re.finditer(r"(?i)\b%s\b" % word, text):
            found.append((str(index), line(match)))
    return found


def what_the_patient_reads(result):
    """Everything the app told the patient: stderr, stdout lines that are not JSON, and the
    text of every string in its JSON (a "message" field is prose too)."""
    import json
    texts = [result.stderr]
    for line in result.stdout.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            texts.append(line)
            continue
        stack = [document]
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
            elif isinstance(value, str):
                texts.append(value)
    return "\n".join(texts)


def test_every_count_the_patient_is_told_after_each_bolus_of_a_day_is_one_the_pump_holds(refilled, pump, wire):
    # Five a day (not the suite's usual three), so the pump's counts differ from each other and from
    # 3 all day long: a count stated from the wrong origin cannot match another by chance.
    expect_ok(refilled("program", "--drug", "morphine", "--dose-mg-per-day", "3", "--max-mg-per-day", "5",
                       "--ptm-dose-mg", "0.2", "--ptm-lockout-h", "2", "--ptm-max", "5"),
              "program five patient boluses a day")
    allowed = pump.prescription()[1].ptm_max_per_24h
    assert allowed == 5, "test setup: the pump holds %d patient boluses a day, not 5" % allowed
    # Four boluses 2 h apart, then one a day later, when the first four have left the rolling 24 h.
    for bolus, wait_s in enumerate((2 * 3600 + 60, 2 * 3600 + 60, 2 * 3600 + 60, 24 * 3600 + 60, 0), start=1):
        result = expect_ok(refilled("--role", "patient", "ptm-bolus", "--yes"), "deliver patient bolus %d" % bolus)
        count = wire.responses("PTM_BOLUS")[-1].fields["activations_24h"]
        counts = {"boluses in the last 24 h": count, "allowed in 24 h": allowed, "left": allowed - count}
        for number, words in numbers_stated(what_the_patient_reads(result)):
            assert number in {str(value) for value in counts.values()}, (
                "after patient bolus %d the app told the patient %s (%r); the pump holds %s: a count the patient "
                "is told that is not the pump's is one they act on, and wait for a bolus they could have had or "
                "press for one the pump refuses" % (bolus, number, words.strip(), ", ".join(
                    "%s %d" % item for item in counts.items())))
        if wait_s:
            pump.warp_clock(wait_s)
    assert pump.counters().boluses_delivered == 5, "test setup: the pump did not deliver the five boluses"


# ---- every count the clinician is told about the alarms is one the pump holds ------------------
def _acknowledged_standing_and_a_new_one(pump, app):
    pump.inject_fault(Fault.CATHETER_OCCLUSION)
    pump.inject_fault(Fault.MOTOR_STALL)
    acknowledge_everything(app)  # both acknowledged; their causes go on, so both stay listed
    pump.inject_fault(Fault.LOW_BATTERY)  # one more, new: three listed, one to acknowledge


# Every situation above, and one where the counts differ from each other (three listed, one of them
# to acknowledge), so a count stated from the wrong origin cannot match another by chance.
COUNT_SITUATIONS = dict(ALARM_SITUATIONS, **{
    "acknowledged alarms still standing and a new one": (_acknowledged_standing_and_a_new_one, True)})
ALARM_COMMANDS = (("interrogate",), ("watch-alarms", "--seconds", "1"))


def counts_and_instances_stated(text):
    """([(number, the line it stands in)] of every count-like number (numbers_stated), [instance
    numbers]): "instance 2" names an alarm, it counts nothing."""
    import re
    counts, named = [], []

    def take(match):
        named.append(int(match.group(1)))
        return match.group(0)[:-len(match.group(1))]

    for line in text.splitlines():
        counts += [(number, line) for number, _words in numbers_stated(
            re.sub(r"(?i)\binstances?\s+#?(\d+)\b", take, line))]
    return counts, named


def instances_reported(wire):
    """Every alarm instance the pump named on the wire: in events and in alarm lists."""
    found = set()
    for entry in wire:
        if entry.dir == "pump>host" and entry.fields:
            found.update(a["instance"] for a in entry.fields.get("alarms") or ())
            if isinstance(entry.fields.get("instance"), int):
                found.add(entry.fields["instance"])
    return found


def alarm_counts_of_the_run(before, after, entries):
    """{what: value} of every alarm count the run had: the list's length before and after it (test
    control), as the pump told the app (GET_ALARMS, GET_STATUS, each ACK_ALARM's remaining), and
    the acknowledgements the pump accepted in it, counted up or down (0 to all of them)."""
    counts = {"listed before": {len(before)}, "listed after": {len(after)}, "told the app": set()}
    accepted = 0
    for entry in entries:
        if entry.dir != "pump>host" or entry.kind != "RESPONSE" or not entry.fields:
            continue
        if entry.name == "GET_ALARMS":
            counts["told the app"].add(len(entry.fields["alarms"]))
        elif entry.name == "GET_STATUS":
            counts["told the app"].add(len(entry.fields["active_alarms"]))
        elif entry.name == "ACK_ALARM":
            counts["told the app"].add(entry.fields["remaining"])
            accepted += 1
    counts["acknowledged in this run"] = set(range(accepted + 1))
    return counts


@pytest.mark.parametrize("situation", list(COUNT_SITUATIONS))
def test_every_count_the_clinician_is_told_about_the_alarms_is_one_the_pump_holds(app, pump, wire, situation):
    make, _left_to_acknowledge = COUNT_SITUATIONS[situation]
    make(pump, app)
    assert pump.alarms(), "test setup: the pump lists no alarm for %s" % situation
    for command in ALARM_COMMANDS:  # watch-alarms last: it acknowledges what is listed
        before, start = pump.alarms(), len(wire)
        result = expect_ok(app(*command), command[0])
        after = pump.alarms()
        counts = alarm_counts_of_the_run(before, after, list(wire)[start:])
        allowed = set().union(*counts.values())
        stated, named = counts_and_instances_stated(what_the_patient_reads(result))
        held = {a.instance for a in before + after} | instances_reported(wire)
        assert set(named) <= held, "with %s, %s named alarm instance(s) %s; the pump named %s" % (
            situation, command[0], sorted(set(named) - held), sorted(held))
        for number, words in stated:
            assert number in {str(value) for value in allowed}, (
                "with %s, %s told the clinician %s (%r); the pump's alarm counts were %s: a count of alarms the "
                "clinician is told that is not the pump's is an alarm believed gone that still stands, or one "
                "looked for that is not there" % (situation, command[0], number, words.strip(), "; ".join(
                    "%s %s" % (what, " or ".join(map(str, sorted(values)))) for what, values in counts.items()
                    if values)))
