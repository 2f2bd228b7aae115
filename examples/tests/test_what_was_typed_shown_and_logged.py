"""What the clinician types, reads and reviews is what the pump holds: a dose typed in a form a user
might type is sent as exactly what it means or refused; an amount shown in a prompt, a refusal or a
note keeps every digit; a log downloaded after the ring wrapped is the pump's log, each entry once.

pumpmock's per-run checks (conftest.check_run) judge every amount in mg or mL the app prints, on
stdout or stderr, against the wire; these tests make the app print the whole numbers where a
lost zero is a tenfold error, and say what each one is."""

import pytest

from conftest import MORPHINE_20, STANDARD_RX, expect_ok

LOG_CAPACITY = 512  # the pump's event log ring (docs/PUMP_MODEL.md, section 12)

# Forms of a dose a user might type, and the µg each may mean. An ambiguous form may only be
# refused: "1,000" is a thousand mg to some readers and 1 mg to others.
TYPED_FORMS = {"0,2": {200}, "0,25": {250}, "1.000": {1000}, " 2 ": {2000}, "1,000": set()}


def _sent(wire, start, names, field):
    """Every value of `field` in the app's requests `names` since wire entry `start`."""
    out = []
    for entry in list(wire)[start:]:
        if entry["dir"] == "host>pump" and entry["kind"] == "REQUEST" and entry["name"] in names and entry["fields"]:
            fields = entry["fields"].get("prescription", entry["fields"])
            out.append(fields[field])
    return out


def _typed_dose_reaches_the_wire_as_typed(app, wire, command, option, names, field, extra=()):
    for typed, meanings in TYPED_FORMS.items():
        start = len(wire)
        result = app(*command, option, typed, *extra)
        sent = _sent(wire, start, names, field)
        wrong = [value for value in sent if value not in meanings]
        assert not wrong, ("%s %r was sent as %s µg (%s); it means %s: a dose the clinician did not type"
                           % (option, typed, wrong, field,
                              " or ".join("%d µg" % v for v in sorted(meanings)) or "nothing certain, so it "
                              "must be refused before anything is sent"))
        if result.code == 0:
            assert sent, "app accepted %s %r but sent no %s: %s" % (option, typed, field, result.stdout.strip())


@pytest.mark.parametrize("option, field", [("--ptm-dose-mg", "ptm_dose_ug"), ("--dose-mg-per-day", "daily_dose_ug")])
def test_a_prescription_dose_typed_with_a_comma_or_spaces_is_sent_as_typed_or_refused(refilled, wire, option, field):
    rest = [arg for pair in zip(STANDARD_RX[::2], STANDARD_RX[1::2]) if pair[0] != option for arg in pair]
    _typed_dose_reaches_the_wire_as_typed(refilled, wire, ("program",), option,
                                          ("VALIDATE_PRESCRIPTION", "PROGRAM_PRESCRIPTION"), field, rest)


def test_a_bolus_dose_typed_with_a_comma_or_spaces_is_sent_as_typed_or_refused(programmed, wire):
    _typed_dose_reaches_the_wire_as_typed(programmed, wire, ("clinician-bolus",), "--dose-mg", ("CLINICIAN_BOLUS",),
                                          "dose_ug", ("--duration-min", "30", "--yes"))


def test_a_soft_limit_refusal_shows_the_limit_with_all_its_digits(refilled):
    # morphine's soft daily maximum is 10 mg/day: a whole number whose zero matters
    result = refilled("program", "--drug", "morphine", "--dose-mg-per-day", "12", "--max-mg-per-day", "12")
    assert result.code == 1, "app programmed 12 mg/day past the soft limit unconfirmed: %s" % result.stdout
    assert "limit 10 mg/day" in result.stderr, ("the refusal must show morphine's soft limit as 10 mg/day: %s"
                                                % result.stderr.strip())


def test_the_refill_note_shows_both_concentrations_with_all_their_digits(app):
    expect_ok(app("refill", "--drug", "morphine", "--concentration-mg-per-ml", "10", "--volume-ml", "20"), "refill")
    expect_ok(app("program", *STANDARD_RX), "program at 10 mg/mL")
    result = expect_ok(app("refill", *MORPHINE_20), "refill at 20 mg/mL")
    assert "10 mg/mL" in result.stderr and "20 mg/mL" in result.stderr, (
        "after a refill from 10 to 20 mg/mL the app must say the prescription still uses 10 mg/mL and name "
        "20 mg/mL: %s" % result.stderr.strip())


def test_the_bolus_prompt_shows_the_dose_about_to_be_sent(programmed):
    # 10 mg is within morphine's hard maximum (15 mg/day): only the prompt stands between it and the pump
    running = programmed.start("clinician-bolus", "--dose-mg", "10", "--duration-min", "30")
    prompt = running.wait_for("[y/N]")
    running.answer("n")
    result = running.finish()
    assert result.code == 1, "app went on after the clinician answered no: %s" % result.stdout
    assert " 10 mg " in prompt, "the confirmation prompt must show the 10 mg typed: %r" % prompt


def test_a_log_downloaded_after_the_ring_wrapped_holds_each_entry_once(app, pump, wire):
    # Each battery reading is one TEST_CONTROL entry and raises no alarm (far above the 10 % threshold).
    for reading in range(LOG_CAPACITY + 19):
        pump.set_battery(90 + reading % 2)
    start = len(wire)
    log = expect_ok(app("read-log"), "read the log").json()
    answers = [e["fields"] for e in list(wire)[start:]
               if e["dir"] == "pump>host" and e["kind"] == "RESPONSE" and e["name"] == "READ_LOG"]
    oldest, following = answers[-1]["oldest_index"], answers[-1]["next_index"]
    assert oldest > 0, "the test needs a wrapped log; the pump's oldest entry is %d" % oldest
    assert (log["oldest_index"], log["next_index"]) == (oldest, following), (
        "app says the log runs %d..%d, the pump said %d..%d" % (log["oldest_index"], log["next_index"], oldest,
                                                                following))
    indexes = [entry["index"] for entry in log["entries"]]
    repeated = sorted({index for index in indexes if indexes.count(index) > 1})
    assert not repeated, ("app's download of a wrapped log holds %d entries, %d distinct: entries %s.. shown more "
                          "than once (a bolus listed twice reads as overuse)"
                          % (len(indexes), len(set(indexes)), repeated[:5]))
    assert indexes == list(range(oldest, following)) and len(indexes) == LOG_CAPACITY, (
        "app's download has %d entries (%s..%s), the pump holds the %d entries %d..%d, each once"
        % (len(indexes), indexes[:1], indexes[-1:], following - oldest, oldest, following - 1))
