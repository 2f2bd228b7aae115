"""Prescriptions: limits checked before sending, units converted exactly, soft limits confirmed,
the reservoir's concentration used after a refill, and the result read back."""

import pytest

from pumpmock.protocol.codes import Limit

PROGRAMMING = ("VALIDATE_PRESCRIPTION", "PROGRAM_PRESCRIPTION")


def prescriptions_sent(wire):
    """Every prescription the app showed the pump (to validate or to program), in order."""
    return [(r.name, r.fields["prescription"]) for r in wire.requests() if r.name in PROGRAMMING]


@pytest.mark.parametrize("dose_mg_per_day, max_mg_per_day, what", [
    ("3", "15.001", "maximum daily dose 15001 µg"),
    ("15.001", "15.001", "daily dose 15001 µg"),
], ids=["max_daily_dose", "daily_dose"])
def test_one_microgram_above_the_hard_maximum_is_refused_before_sending(refilled, wire, dose_mg_per_day,
                                                                        max_mg_per_day, what):
    result = refilled("program", "--drug", "morphine", "--dose-mg-per-day", dose_mg_per_day,
                      "--max-mg-per-day", max_mg_per_day, "--confirm-soft")

    sent = prescriptions_sent(wire)
    assert not sent, ("app sent a prescription above the hard limit to the pump (%s > morphine's hard maximum "
                      "15000 µg/day, in %s): it must refuse it itself, before sending anything"
                      % (what, " and ".join(name for name, _rx in sent)))
    assert result.code == 1, "app did not refuse %s (exit %d)" % (what, result.code)
    assert "hard maximum" in result.stderr


def test_exactly_the_hard_maximum_is_programmed_with_confirmation(refilled, pump, wire):
    result = refilled("program", "--drug", "morphine", "--dose-mg-per-day", "3", "--max-mg-per-day", "15",
                      "--confirm-soft")

    assert result.code == 0, "app refused a maximum daily dose exactly at the hard limit: %s" % result.stderr
    _version, rx = pump.prescription()
    assert rx.max_daily_dose_ug == 15000
    programs = wire.requests("PROGRAM_PRESCRIPTION")
    assert [p.fields["overrides"] for p in programs] == [[Limit.MAX_DAILY_SOFT]]


def test_a_rate_the_pump_cannot_run_is_refused_before_sending(refilled, wire):
    # 0.5 mg/day at 20 mg/mL is 25 µL/day: below the pump's 48 µL/day minimum
    result = refilled("program", "--drug", "morphine", "--dose-mg-per-day", "0.5", "--max-mg-per-day", "1")

    assert not prescriptions_sent(wire), "app sent a prescription the pump cannot deliver (25 µL/day < 48)"
    assert result.code == 1


def test_a_refill_above_the_drugs_maximum_concentration_is_refused_before_sending(app, wire):
    result = app("refill", "--drug", "morphine", "--concentration-mg-per-ml", "25", "--volume-ml", "20")

    assert not wire.requests("REFILL"), "app sent a refill of morphine at 25 mg/mL (maximum 20 mg/mL)"
    assert result.code == 1


def test_doses_typed_in_mg_reach_the_pump_in_micrograms(refilled, pump, wire):
    result = refilled("program", "--drug", "morphine", "--dose-mg-per-day", "3", "--max-mg-per-day", "5",
                      "--ptm-dose-mg", "0.25", "--ptm-lockout-h", "1.5", "--ptm-max", "4")

    expected = {"concentration_ug_per_ml": 20000, "daily_dose_ug": 3000, "max_daily_dose_ug": 5000,
                "ptm_dose_ug": 250, "ptm_lockout_min": 90, "ptm_max_per_24h": 4}
    typed = {"concentration_ug_per_ml": "20 mg/mL", "daily_dose_ug": "3 mg/day", "max_daily_dose_ug": "5 mg/day",
             "ptm_dose_ug": "0.25 mg", "ptm_lockout_min": "1.5 h", "ptm_max_per_24h": "4"}
    for name, rx in prescriptions_sent(wire):
        for field, value in expected.items():
            if rx[field] != value:
                confusion = " (mg/µg confusion: 1000 times off)" if value in (rx[field] * 1000, rx[field] // 1000) else ""
                pytest.fail("app sent %s=%d for %s in %s, expected %d%s"
                            % (field, rx[field], typed[field], name, value, confusion), pytrace=False)
    assert result.code == 0, result.stderr
    _version, rx = pump.prescription()
    assert {field: getattr(rx, field) for field in expected} == expected


def test_after_a_refill_at_a_new_concentration_the_next_prescription_uses_it(programmed, pump, wire):
    expect = "refill at a new concentration"
    result = programmed("refill", "--drug", "morphine", "--concentration-mg-per-ml", "10", "--volume-ml", "20")
    assert result.code == 0, "%s: %s" % (expect, result.stderr)
    already = len(prescriptions_sent(wire))

    result = programmed("program", "--drug", "morphine", "--dose-mg-per-day", "3", "--max-mg-per-day", "5")

    for name, rx in prescriptions_sent(wire)[already:]:
        assert rx["concentration_ug_per_ml"] == 10000, (
            "app used a stale concentration: after the refill at 10 mg/mL it sent %s at %d µg/mL "
            "(the previous prescription's), so every volume rate would be wrong"
            % (name, rx["concentration_ug_per_ml"]))
    assert result.code == 0, result.stderr
    _version, rx = pump.prescription()
    assert rx.concentration_ug_per_ml == pump.status().concentration_ug_per_ml == 10000


def test_soft_limits_are_refused_without_the_clinicians_confirmation(refilled, pump, wire):
    # 12 mg/day is above morphine's 10 mg/day soft maximum, below its 15 mg/day hard maximum
    result = refilled("program", "--drug", "morphine", "--dose-mg-per-day", "12", "--max-mg-per-day", "14")

    programs = wire.requests("PROGRAM_PRESCRIPTION")
    assert not programs, ("app programmed past soft limit(s) %s without --confirm-soft: a soft limit needs the "
                          "clinician's confirmation" % ", ".join(Limit(o).name for o in programs[0].fields["overrides"]))
    assert result.code == 1
    assert "DAILY_DOSE_SOFT" in result.stderr and "MAX_DAILY_SOFT" in result.stderr, \
        "the refusal does not name the soft limits: %s" % result.stderr
    assert pump.status().therapy_state == 0  # still not programmed


def test_confirmed_soft_limits_are_overridden_exactly(refilled, pump, wire):
    result = refilled("program", "--drug", "morphine", "--dose-mg-per-day", "12", "--max-mg-per-day", "14",
                      "--confirm-soft")

    assert result.code == 0, result.stderr
    programs = wire.requests("PROGRAM_PRESCRIPTION")
    # Retransmissions of one request (same seq) are one program; a line with noise makes some.
    assert len({p.seq for p in programs}) == 1, "app programmed the pump %d times for one confirmed prescription" \
        % len({p.seq for p in programs})
    assert sorted(programs[0].fields["overrides"]) == [Limit.DAILY_DOSE_SOFT, Limit.MAX_DAILY_SOFT], \
        "app overrode %s, not exactly the two soft limits the clinician confirmed" % [
            Limit(o).name for o in programs[0].fields["overrides"]]
    assert pump.prescription()[1].daily_dose_ug == 12000, "the pump holds another daily dose than the 12 mg programmed"
    last = wire.requests()[-1].name
    assert last == "GET_PRESCRIPTION", "app did not read back what it programmed (its last request was %s)" % last
