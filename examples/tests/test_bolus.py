"""Boluses: doses in the right unit, a lost answer retransmitted under the same sequence number
(never a second bolus), refusals reported as refusals, a dead line reported, not waited on."""

import time

from pumpmock.protocol.codes import Error

from conftest import expect_ok


def test_a_clinician_bolus_in_mg_reaches_the_pump_in_micrograms(programmed, pump, wire):
    result = programmed("clinician-bolus", "--dose-mg", "1", "--duration-min", "10", "--yes")

    sent = wire.requests("CLINICIAN_BOLUS")
    assert sent, "app sent no CLINICIAN_BOLUS: %s" % result.stderr
    dose_ug = sent[0].fields["dose_ug"]
    assert dose_ug != 1, "app sent the 1 mg bolus as 1 µg: mg/µg confusion (1000 times too little)"
    assert dose_ug == 1000, "app sent the 1 mg bolus as %d µg" % dose_ug
    assert result.code == 0, result.stderr
    assert pump.counters().boluses_delivered == 1


def test_a_bolus_whose_answer_is_lost_is_sent_again_under_the_same_sequence_number(programmed, pump, wire):
    bolus = programmed.start("--role", "patient", "ptm-bolus")
    bolus.wait_for("confirm:")  # the app has done its reading; the next answer it gets is the bolus's
    pump.drop_next_responses(1)
    bolus.answer("y")
    result = bolus.finish()

    sent = wire.requests("PTM_BOLUS")
    seqs = [r.seq for r in sent]
    assert len(set(seqs)) == 1, ("bolus re-sent under a new sequence number (seqs %s) after its answer was lost: "
                                 "the pump cannot tell that from a second bolus" % seqs)
    assert len(sent) >= 2, "app never retransmitted the bolus request after its answer was lost"
    assert result.code == 0, "app gave up on a bolus the pump answered on retransmission: %s" % result.stderr
    counters = pump.counters()
    assert counters.boluses_delivered == 1 and counters.dedup_hits >= 1


def test_a_refused_patient_bolus_is_reported_as_refused(programmed, wire):
    first = programmed("--role", "patient", "ptm-bolus", "--yes")
    assert first.code == 0, first.stderr

    second = programmed("--role", "patient", "ptm-bolus", "--yes")  # inside the 2 h lockout

    naks = wire.naks("PTM_BOLUS")
    assert naks and naks[-1].fields["code"] == Error.LOCKOUT_ACTIVE, "test setup: the pump did not refuse"
    assert second.code == 1, ("app reported success for a PTM bolus the pump refused (NAK LOCKOUT_ACTIVE): exit %d, "
                              "stdout %s" % (second.code, second.stdout.strip()))
    assert "LOCKOUT_ACTIVE" in second.stderr


def test_a_patient_bolus_on_a_pump_that_has_run_for_hours_shows_the_pumps_own_times(programmed, pump, wire):
    # On a fresh pump a time on its clock and a time from now are the same number; hours later not.
    pump.warp_clock(6 * 3600)
    result = expect_ok(programmed("--role", "patient", "ptm-bolus", "--yes"), "deliver a patient bolus")

    answers = wire.responses("PTM_BOLUS")
    assert answers, "test setup: the pump never answered the PTM bolus"
    said, shown = answers[-1].fields["next_allowed_s"], result.json().get("next_allowed_s")
    assert shown in (None, said), (
        "app showed the next patient bolus allowed at %s s; the pump said %d s on its clock: a time shown "
        "from another origin tells the patient a bolus is allowed when it is not" % (shown, said))


def test_a_pump_that_goes_silent_during_a_bolus_is_reported_within_the_apps_timeout(programmed, pump, wire):
    bolus = programmed.start("clinician-bolus", "--dose-mg", "0.5", "--duration-min", "10")
    bolus.wait_for("confirm:")
    pump.silence(True)
    started = time.monotonic()
    bolus.answer("y")
    result = bolus.finish()
    elapsed_s = time.monotonic() - started
    pump.silence(False)

    sent = wire.requests("CLINICIAN_BOLUS")
    seqs = [r.seq for r in sent]
    assert len(set(seqs)) == 1, "bolus re-sent under a new sequence number (seqs %s)" % seqs
    assert result.code == 2, "app exited %d on a silent pump, not 2 (link failure): %s" % (result.code, result.stderr)
    assert elapsed_s < 5, "app took %.1f s to give up on a silent pump" % elapsed_s
    assert 2 <= len(sent) <= 5, "app sent the bolus %d times: retransmissions must be bounded" % len(sent)
    assert pump.counters().boluses_delivered == 1


def test_the_bolus_confirmation_states_the_dose_the_clinician_typed(programmed, wire):
    bolus = programmed.start("clinician-bolus", "--dose-mg", "1.5", "--duration-min", "10")
    prompt = bolus.wait_for("confirm:")
    bolus.answer("n")
    result = bolus.finish()

    assert "1.5 mg" in prompt, ("app asked the clinician to confirm %r for a 1.5 mg bolus: a confirmation is only "
                                "as safe as the dose it states" % prompt.strip())
    assert not wire.requests("CLINICIAN_BOLUS"), "app sent a bolus the clinician declined"
    assert result.code == 1
