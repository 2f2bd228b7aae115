"""Every limit, every drug, every workflow's unhappy path: what a team adds once the happy paths pass.

The other modules test morphine at its boundaries. A programmer's defects hide where nobody
looked: a drug dosed in micrograms, a conversion that rounds, a refusal the pump sends on a
request the app never expected to be refused, a log longer than one page, an alarm that is not
latching. Each test below is phrased as the clinician would notice the problem.
"""

from decimal import Decimal

import pytest

from pumpmock.protocol.codes import Alarm, DRUG_LIBRARY, Drug

from conftest import expect_ok

PROGRAMMING = ("VALIDATE_PRESCRIPTION", "PROGRAM_PRESCRIPTION")


def mg(ug):
    """µg as the exact decimal mg string a clinician types."""
    return format(Decimal(ug) / 1000, "f")


def refill_at_maximum(app, drug):
    limits = DRUG_LIBRARY[drug]
    expect_ok(app("refill", "--drug", drug.name.lower(), "--concentration-mg-per-ml",
                  mg(limits.max_concentration_ug_per_ml), "--volume-ml", "20"), "refill with %s" % drug.name)
    return limits


@pytest.mark.parametrize("drug", list(DRUG_LIBRARY), ids=lambda drug: drug.name.lower())
def test_every_drugs_hard_maximum_is_refused_a_microgram_above_it_before_anything_is_sent(app, wire, drug):
    limits = refill_at_maximum(app, drug)
    over = limits.hard_max_ug_per_day + 1
    result = app("program", "--drug", drug.name.lower(), "--dose-mg-per-day", mg(over),
                 "--max-mg-per-day", mg(over), "--confirm-soft")
    sent = [r.name for r in wire.requests() if r.name in PROGRAMMING]
    assert not sent, ("app sent %s mg/day of %s (hard maximum %s mg/day) to the pump in %s: it must refuse a "
                      "hard limit itself" % (mg(over), drug.name, mg(limits.hard_max_ug_per_day), " and ".join(sent)))
    assert result.code == 1, "app did not refuse %s mg/day of %s (exit %d)" % (mg(over), drug.name, result.code)


@pytest.mark.parametrize("drug", [Drug.ZICONOTIDE, Drug.CLONIDINE], ids=lambda drug: drug.name.lower())
def test_a_soft_limit_finding_is_shown_in_mg_with_the_numbers_the_pump_gave(app, wire, drug):
    limits = refill_at_maximum(app, drug)
    dose = limits.soft_max_ug_per_day + 1
    result = app("program", "--drug", drug.name.lower(), "--dose-mg-per-day", mg(dose),
                 "--max-mg-per-day", mg(dose))
    assert result.code == 1, "app programmed past a soft limit without --confirm-soft, the clinician's confirmation"
    findings = [f for r in wire.responses("VALIDATE_PRESCRIPTION") for f in r.fields["findings"]]
    assert findings, "the pump reported no finding: the test's dose is not above the soft limit"
    for finding in findings:
        shown = "%s mg" % mg(finding["actual_value"])
        assert shown in result.stderr, ("the pump found %d µg against a limit of %d µg; the app must show the "
                                        "clinician %s, it showed: %s" % (finding["actual_value"],
                                                                         finding["limit_value"], shown,
                                                                         result.stderr.strip()))


@pytest.mark.parametrize("typed", ["0.0125", "0.0005"])
def test_a_dose_that_is_not_a_whole_microgram_is_refused_never_rounded(app, wire, typed):
    refill_at_maximum(app, Drug.ZICONOTIDE)
    result = app("program", "--drug", "ziconotide", "--dose-mg-per-day", typed, "--max-mg-per-day", "0.019")
    sent = [r.fields["prescription"]["daily_dose_ug"] for r in wire.requests() if r.name in PROGRAMMING]
    assert not sent, "app turned %s mg/day into %s µg/day: a dose the wire cannot carry must be refused" % (
        typed, sent[0])
    assert result.code == 1


def test_a_refill_the_pump_refuses_is_reported_as_refused_not_as_done(app, pump):
    pump.refuse_next("REFILL", "INVALID_STATE")
    result = app("refill", "--drug", "morphine", "--concentration-mg-per-ml", "20", "--volume-ml", "20")
    assert result.code == 1, ("the pump refused the refill (INVALID_STATE) but the app exited %d and printed: %s"
                              % (result.code, result.stdout.strip()))
    assert "refilled" not in result.stdout, "app reported a refill the pump refused: %s" % result.stdout.strip()
    assert "INVALID_STATE" in result.stderr


def test_a_log_longer_than_one_page_is_read_whole(app, pump):
    # Fourteen entries that raise no alarm: an alarm's event, re-sent every 0.5 s for 2.5 s, would
    # reach the app's read-log run or not depending on the machine's speed, and ask to be acknowledged.
    for _ in range(7):
        pump.set_battery(90)  # far above the replacement threshold (10 %)
        pump.set_battery(100)
    log = expect_ok(app("read-log"), "read the log").json()
    indexes = [entry["index"] for entry in log["entries"]]
    expected = list(range(log["oldest_index"], log["next_index"]))
    assert len(expected) > 12, "the test needs more than one page (12 entries), it made %d" % len(expected)
    assert indexes == expected, "app's log has entries %s, the pump holds %s..%s: missing %s" % (
        indexes, log["oldest_index"], log["next_index"] - 1, sorted(set(expected) - set(indexes)))


def test_no_bolus_while_a_non_latching_high_priority_alarm_stands(programmed, pump, wire):
    pump.set_reservoir(0)
    pump.warp_clock(60)  # the pump notices the empty reservoir
    assert Alarm.EMPTY_RESERVOIR in pump.status().active_alarms, "the test did not raise EMPTY_RESERVOIR"
    result = programmed("clinician-bolus", "--dose-mg", "0.5", "--duration-min", "10", "--yes")
    assert not wire.requests("CLINICIAN_BOLUS"), ("app sent a clinician bolus while EMPTY_RESERVOIR (high priority) "
                                                   "stood: it must refuse therapy changes itself")
    assert result.code == 1
    # the clinician then deals with the alarms, as the app told them to (the pump re-sends their
    # events for 2.5 s: on a slow machine the bolus run above receives them too)
    expect_ok(programmed("watch-alarms", "--seconds", "1"), "watch and acknowledge the alarms")
