"""Oracles judge a programmer by its frames: each rule fires on the mistake and stays quiet otherwise."""

from pumpmock.protocol import Ack, encode_message
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm, AlarmState, Drug, Limit, Priority, Severity, TherapyMode
from pumpmock.harness.oracles import alarms, check, dose_limits, exactly_once
from pumpmock.harness.wire import HOST_TO_PUMP, PUMP_TO_HOST, Wire, decode_block

import pytest


class Script:
    """Builds a Wire from messages, as if they had crossed the line in this order."""

    def __init__(self):
        self.wire = Wire()
        self.t = 0.0

    def send(self, message, seq, direction=HOST_TO_PUMP, dt=0.01):
        self.t += dt
        block = encode_message(message, seq)[:-1]
        self.wire.add(decode_block(direction, block, self.t))
        return self

    def answer(self, message, seq, dt=0.01):
        return self.send(message, seq, PUMP_TO_HOST, dt)


RX = m.Prescription(drug=Drug.MORPHINE, concentration_ug_per_ml=20_000, mode=TherapyMode.SIMPLE_CONTINUOUS,
                    daily_dose_ug=3_000, max_daily_dose_ug=5_000, refill_interval_days=30)


def test_a_prescription_within_limits_passes():
    script = Script().send(m.ProgramPrescriptionRequest(prescription=RX), 1) \
        .answer(m.ProgramPrescriptionResponse(version=1), 1)
    assert dose_limits(script.wire) == []


def test_mg_sent_as_ug_breaks_the_hard_limit_and_is_named():
    rx = RX._replace(daily_dose_ug=3_000_000, max_daily_dose_ug=5_000_000)
    [first, *_] = dose_limits(Script().send(m.ProgramPrescriptionRequest(prescription=rx), 4).wire)
    assert "above the hard limit" in first and "3000000 > 15000" in first and "seq 4" in first


def test_ug_sent_as_mg_is_below_the_pump_minimum_rate():
    rx = RX._replace(daily_dose_ug=3, max_daily_dose_ug=5)
    [violation] = dose_limits(Script().send(m.ProgramPrescriptionRequest(prescription=rx), 4).wire)
    assert "below the pump's minimum" in violation


def test_override_of_a_finding_never_shown_is_flagged_and_a_shown_one_is_not():
    rx = RX._replace(daily_dose_ug=11_000, max_daily_dose_ug=12_000)
    blind = Script().send(m.ProgramPrescriptionRequest((Limit.DAILY_DOSE_SOFT,), rx), 2)
    assert "never reported" in dose_limits(blind.wire)[0]
    shown = Script().send(m.ValidatePrescriptionRequest(rx), 1).answer(m.ValidatePrescriptionResponse(
        (m.Finding(Limit.DAILY_DOSE_SOFT, Severity.SOFT, 10_000, 11_000),)), 1) \
        .send(m.ProgramPrescriptionRequest((Limit.DAILY_DOSE_SOFT,), rx), 2)
    assert dose_limits(shown.wire) == []


def test_prescription_concentration_must_follow_the_last_refill():
    script = Script().send(m.RefillRequest(Drug.MORPHINE, 10_000, 20_000), 1) \
        .answer(m.RefillResponse(20_000, 100), 1).send(m.ProgramPrescriptionRequest(prescription=RX), 2)
    [violation] = dose_limits(script.wire)
    assert "20000 µg/mL but the reservoir holds 10000 µg/mL" in violation


def _reservoir_status(drug, concentration_ug_per_ml):
    return m.GetStatusResponse(clock_s=0, therapy_state=0, mode=0, drug=drug,
                               concentration_ug_per_ml=concentration_ug_per_ml, reservoir_ul=20_000,
                               capacity_ul=20_000, basal_rate_ug_per_day=0, basal_rate_ul_per_day=0,
                               bolus_remaining_ug=0, delivered_24h_ug=0, battery_state=0, battery_pct=100,
                               days_to_low_reservoir=65535, days_to_empty=65535, role=1, active_alarms=())


@pytest.mark.parametrize("rx, words", [
    (RX._replace(concentration_ug_per_ml=10_000), "sent to validate concentration 10000 µg/mL but the reservoir "
                                                  "holds 20000 µg/mL"),
    (RX._replace(drug=Drug.BUPIVACAINE), "sent to validate BUPIVACAINE while the reservoir holds MORPHINE"),
], ids=["concentration", "drug"])
def test_a_prescription_validated_for_what_the_reservoir_does_not_hold_is_reported(rx, words):
    script = Script().send(m.GetStatusRequest(), 1).answer(_reservoir_status(Drug.MORPHINE, 20_000), 1) \
        .send(m.ValidatePrescriptionRequest(rx), 2)
    [violation] = dose_limits(script.wire)
    assert words in violation and "VALIDATE_PRESCRIPTION seq 2" in violation


def test_a_prescription_validated_for_the_reservoir_or_before_the_reservoir_is_known_passes():
    known = Script().send(m.GetStatusRequest(), 1).answer(_reservoir_status(Drug.MORPHINE, 20_000), 1) \
        .send(m.ValidatePrescriptionRequest(RX), 2)
    unknown = Script().send(m.ValidatePrescriptionRequest(RX._replace(concentration_ug_per_ml=10_000)), 2)
    assert dose_limits(known.wire) == [] and dose_limits(unknown.wire) == []


def raised(instance=1, count=1, code=Alarm.MOTOR_STALL):
    return m.AlarmRaised(code, Priority.HIGH, 1, AlarmState.ACTIVE, instance, 100, count)


def test_an_unacknowledged_alarm_is_reported():
    script = Script().answer(raised(), 500).send(Ack(0x80), 500)
    assert alarms(script.wire) == ["alarm MOTOR_STALL instance 1 was never acknowledged"]


def test_acknowledged_alarm_and_link_ack_pass():
    script = Script().answer(raised(), 500).send(Ack(0x80), 500) \
        .send(m.AckAlarmRequest(Alarm.MOTOR_STALL, 1), 3).answer(m.AckAlarmResponse(0), 3)
    assert alarms(script.wire) == []


def test_an_event_without_link_ack_is_reported():
    script = Script().answer(raised(), 500).send(m.AckAlarmRequest(Alarm.MOTOR_STALL, 1), 3)
    assert alarms(script.wire) == ["app never ACKed event ALARM_RAISED seq 500: the pump keeps re-sending it"]


def test_a_reannouncement_acknowledged_as_new_is_reported():
    script = Script().answer(raised(), 500).send(Ack(0x80), 500) \
        .send(m.AckAlarmRequest(Alarm.MOTOR_STALL, 1), 3).answer(m.AckAlarmResponse(0), 3) \
        .answer(raised(count=2), 501).send(Ack(0x80), 501) \
        .send(m.AckAlarmRequest(Alarm.MOTOR_STALL, 1), 4)
    assert alarms(script.wire) == ["app acknowledged alarm MOTOR_STALL instance 1 twice: it treated a "
                                   "re-announced alarm as a new one"]


def test_an_alarm_acknowledged_again_in_a_later_host_session_is_not_twice_but_in_the_same_one_is():
    # A programmer run once per command: each run a new HELLO, the list read, what it lists acknowledged.
    ack, listed = m.AckAlarmRequest(Alarm.CATHETER_OCCLUSION, 1), m.GetAlarmsResponse(
        (m.AlarmEntry(Alarm.CATHETER_OCCLUSION, Priority.HIGH, 1, AlarmState.ACTIVE, 1, 100, 1),))

    def run(script, session_id, ack_seq=3):
        answer = m.Nak(ack.MESSAGE.id, Error.NO_SUCH_ALARM) if script.wire.requests("ACK_ALARM") else \
            m.AckAlarmResponse(1)  # the first acknowledgement is taken, any later one refused
        return script.send(m.HelloRequest(session_id, 1), 1).send(m.GetAlarmsRequest(), 2).answer(listed, 2) \
            .send(ack, ack_seq).answer(answer, ack_seq)

    for ack_seq in (3, 4):  # the seq a new session gives it, the first's or another
        assert alarms(run(run(Script(), 77), 78, ack_seq).wire) == []
    twice = run(Script(), 77).send(ack, 4).answer(m.Nak(ack.MESSAGE.id, Error.NO_SUCH_ALARM), 4)
    assert alarms(twice.wire) == ["app acknowledged alarm CATHETER_OCCLUSION instance 1 twice (ACK_ALARM "
                                  "seq 3, then seq 4)"]
    reconnected = run(Script(), 77).send(m.HelloRequest(77, 1), 4) \
        .send(ack, 5).answer(m.Nak(ack.MESSAGE.id, Error.NO_SUCH_ALARM), 5)
    assert alarms(reconnected.wire) == ["app acknowledged alarm CATHETER_OCCLUSION instance 1 twice (ACK_ALARM "
                                        "seq 3, then seq 5)"]


def test_an_acknowledgement_counts_once_the_pump_accepted_it_not_when_it_was_sent():
    ack = m.AckAlarmRequest(Alarm.MOTOR_STALL, 1)

    def announced():
        return Script().send(m.HelloRequest(7, 1), 1).answer(raised(), 500).send(Ack(0x80), 500)

    for refusal in (Error.UNAUTHORIZED, Error.BUSY):  # a login that lapsed, a pump busy: tried again, once
        retried = announced().send(ack, 3).answer(m.Nak(ack.MESSAGE.id, refusal), 3) \
            .send(ack, 4).answer(m.AckAlarmResponse(0), 4)
        assert alarms(retried.wire) == [] and exactly_once(retried.wire) == [], refusal
    # unanswered, then sent under a new seq: exactly_once's rule, not a second acknowledgement
    unanswered = announced().send(ack, 3).send(ack, 4, dt=0.3).answer(m.AckAlarmResponse(0), 4)
    assert alarms(unanswered.wire) == []
    assert ["re-sent under a new sequence number (seq 3, then seq 4)" in v for v in exactly_once(unanswered.wire)] \
        == [True]


def test_a_therapy_change_after_a_refused_or_unanswered_acknowledgement_is_past_a_standing_alarm():
    ack = m.AckAlarmRequest(Alarm.MOTOR_STALL, 1)
    words = "app sent RESUME (seq 4) while high-priority alarm MOTOR_STALL instance 1 stood unacknowledged"

    def after(*answers):
        script = Script().answer(raised(), 500).send(Ack(0x80), 500).send(ack, 3)
        for answer in answers:
            script.answer(answer, 3)
        return alarms(script.send(m.ResumeRequest(), 4).wire)

    assert after(m.Nak(ack.MESSAGE.id, Error.UNAUTHORIZED)) == [words]
    assert after(m.Nak(ack.MESSAGE.id, Error.BUSY)) == [words]
    assert after() == [words]  # never answered: the app cannot know it was taken
    assert after(m.AckAlarmResponse(0)) == []
    assert after(m.Nak(ack.MESSAGE.id, Error.NO_SUCH_ALARM)) == []  # nothing left to acknowledge
    # an alarm the status listed by its code alone: likewise
    listed = Script().send(m.GetStatusRequest(), 1).answer(_status(Alarm.MOTOR_STALL), 1) \
        .send(m.GetAlarmsRequest(), 2).answer(m.GetAlarmsResponse((m.AlarmEntry(
            Alarm.MOTOR_STALL, Priority.HIGH, 1, AlarmState.ACTIVE, 1, 100, 1),)), 2) \
        .send(ack, 3).answer(m.Nak(ack.MESSAGE.id, Error.WRONG_ROLE), 3).send(m.ResumeRequest(), 4)
    assert any("RESUME (seq 4) while" in v for v in alarms(listed.wire)), alarms(listed.wire)


def test_therapy_change_past_a_standing_high_alarm_is_reported():
    script = Script().answer(raised(), 500).send(Ack(0x80), 500).send(m.PtmBolusRequest(), 7) \
        .send(m.AckAlarmRequest(Alarm.MOTOR_STALL, 1), 8)
    assert alarms(script.wire) == ["app sent PTM_BOLUS (seq 7) while high-priority alarm MOTOR_STALL "
                                   "instance 1 stood unacknowledged"]


def test_a_late_acknowledgement_misses_the_deadline():
    script = Script().answer(raised(), 500).send(Ack(0x80), 500) \
        .send(m.AckAlarmRequest(Alarm.MOTOR_STALL, 1), 3, dt=90.0)
    assert "after 90.0 s" in alarms(script.wire, deadline_s=60)[0]


def test_a_bolus_retried_under_a_new_seq_while_unanswered_is_reported():
    bolus = m.ClinicianBolusRequest(3, 100, 600)
    script = Script().send(bolus, 10).send(bolus, 11, dt=0.3).answer(m.ClinicianBolusResponse(5, 700), 11)
    [violation] = exactly_once(script.wire)
    assert "re-sent under a new sequence number (seq 10, then seq 11)" in violation


def test_same_seq_retransmission_and_two_answered_boluses_are_fine():
    bolus = m.ClinicianBolusRequest(3, 100, 600)
    retransmitted = Script().send(bolus, 10).send(bolus, 10, dt=0.3).answer(m.ClinicianBolusResponse(5, 700), 10)
    assert exactly_once(retransmitted.wire) == []
    twice = Script().send(bolus, 10).answer(m.ClinicianBolusResponse(5, 700), 10).send(bolus, 11) \
        .answer(m.ClinicianBolusResponse(5, 700), 11)
    assert exactly_once(twice.wire) == []


def test_a_seq_kept_after_a_refusal_for_the_next_request_is_reported():
    # The app treats a NAK'd request as never sent and gives the next, different one its seq.
    stall, low = m.AckAlarmRequest(Alarm.MOTOR_STALL, 2), m.AckAlarmRequest(Alarm.LOW_RESERVOIR, 1)
    script = Script().send(m.HelloRequest(77, 1), 40).send(low, 41) \
        .answer(m.Nak(low.MESSAGE.id, Error.NO_SUCH_ALARM), 41).send(stall, 41) \
        .answer(m.Nak(stall.MESSAGE.id, Error.SEQUENCE_REUSED), 41)
    [violation] = exactly_once(script.wire)
    assert "reused seq 41 for ACK_ALARM after a different ACK_ALARM" in violation
    other = Script().send(m.HelloRequest(77, 1), 40).send(m.GetStatusRequest(), 41).send(stall, 41)
    assert "reused seq 41 for ACK_ALARM after GET_STATUS" in exactly_once(other.wire)[0]


def test_a_seq_used_again_after_a_reconnect_under_the_same_session_id_is_reported():
    stall, low = m.AckAlarmRequest(Alarm.MOTOR_STALL, 2), m.AckAlarmRequest(Alarm.LOW_RESERVOIR, 1)
    script = Script().send(m.HelloRequest(77, 1), 40).send(low, 41).send(m.HelloRequest(77, 1), 42) \
        .send(stall, 41)
    assert len(exactly_once(script.wire)) == 1


def test_a_seq_repeated_as_a_retransmission_in_a_new_session_or_after_wrapping_is_fine():
    stall, low = m.AckAlarmRequest(Alarm.MOTOR_STALL, 2), m.AckAlarmRequest(Alarm.LOW_RESERVOIR, 1)
    retransmitted = Script().send(m.HelloRequest(77, 1), 40).send(low, 41).send(low, 41, dt=0.3) \
        .answer(m.AckAlarmResponse(0), 41)
    assert exactly_once(retransmitted.wire) == []
    new_session = Script().send(m.HelloRequest(77, 1), 40).send(low, 41).send(m.HelloRequest(78, 1), 1) \
        .send(stall, 41)
    assert exactly_once(new_session.wire) == []
    wrapped = Script().send(m.HelloRequest(77, 1), 0)
    for seq in range(1, 0x10000):
        wrapped.send(m.GetStatusRequest(), seq, dt=0.0)
    wrapped.send(m.GetStatusRequest(), 0, dt=0.0)
    assert exactly_once(wrapped.wire) == []


def test_check_prefixes_oracle_names_and_rejects_unknown_ones():
    script = Script().answer(raised(), 500)
    assert all(v.startswith("alarms: ") for v in check(script.wire, ["alarms"]))
    with pytest.raises(ValueError, match="unknown pump oracle"):
        check(script.wire, ["typo"])


# ---- the wider rules (each fires on its mistake, stays quiet on the correct form) ------------------
def test_a_hard_limit_sent_to_validate_is_a_violation_too():
    rx = RX._replace(daily_dose_ug=16_000, max_daily_dose_ug=16_000)
    [first, *_] = dose_limits(Script().send(m.ValidatePrescriptionRequest(rx), 3).wire)
    assert "VALIDATE_PRESCRIPTION seq 3" in first and "above the hard limit" in first
    assert dose_limits(Script().send(m.ValidatePrescriptionRequest(RX), 3).wire) == []


def _flex(*steps):
    return RX._replace(mode=TherapyMode.FLEX, daily_dose_ug=0, max_daily_dose_ug=15_000,
                       steps=tuple(m.FlexStep(start, rate) for start, rate in steps))


def test_a_flex_step_above_the_hard_daily_rate_is_caught_though_the_daily_total_is_fine():
    rx = _flex((0, 2_000), (600, 30_000), (660, 2_000))  # an hour at twice the hard rate: 3,208 µg/day in all
    violations = dose_limits(Script().send(m.ProgramPrescriptionRequest(prescription=rx), 5).wire)
    assert any("FLEX step at minute 600 runs at 30000 µg/day" in v for v in violations), violations
    assert dose_limits(Script().send(m.ProgramPrescriptionRequest(prescription=_flex((0, 2_000), (600, 4_000))),
                                     5).wire) == []


def test_a_malformed_flex_schedule_is_caught():
    violations = dose_limits(Script().send(m.ProgramPrescriptionRequest(
        prescription=_flex((60, 2_000), (30, 2_000))), 5).wire)
    assert any("first step starts at minute 60" in v for v in violations), violations
    assert any("out of order" in v for v in violations), violations


def test_a_maximum_daily_dose_below_the_basal_dose_is_caught():
    rx = RX._replace(daily_dose_ug=3_000, max_daily_dose_ug=2_000)
    [violation] = dose_limits(Script().send(m.ProgramPrescriptionRequest(prescription=rx), 2).wire)
    assert "maximum daily dose 2000 µg is below its own basal dose of 3000 µg/day" in violation


def test_a_refill_the_library_or_the_reservoir_forbids_is_caught():
    too_strong = Script().send(m.RefillRequest(Drug.ZICONOTIDE, 500, 10_000), 7).wire
    assert "500 µg/mL of ZICONOTIDE, above its maximum concentration of 100 µg/mL" in dose_limits(too_strong)[0]
    too_much = Script().send(m.RefillRequest(Drug.MORPHINE, 20_000, 25_000), 7).wire
    assert "25000 µL, more than the reservoir's capacity of 20000 µL" in dose_limits(too_much)[0]
    assert dose_limits(Script().send(m.RefillRequest(Drug.MORPHINE, 20_000, 20_000), 7).wire) == []


def test_a_bolus_beyond_the_prescriptions_daily_maximum_is_caught():
    programmed = Script().send(m.ProgramPrescriptionRequest(prescription=RX), 1) \
        .answer(m.ProgramPrescriptionResponse(version=1), 1)
    over = programmed.send(m.ClinicianBolusRequest(3, 6_000, 600), 2).wire
    assert any("bolus of 6000 µg" in v and "maximum daily dose of 5000 µg" in v for v in dose_limits(over))
    fine = Script().send(m.ProgramPrescriptionRequest(prescription=RX), 1) \
        .answer(m.ProgramPrescriptionResponse(version=1), 1).send(m.ClinicianBolusRequest(3, 500, 600), 2).wire
    assert dose_limits(fine) == []


def _status(*active):
    return m.GetStatusResponse(0, 1, 1, 1, 20_000, 10_000, 20_000, 3_000, 150, 0, 0, 0, 100, 60, 66, 2, tuple(active))


def test_an_alarm_learnt_only_from_an_alarm_list_still_forbids_therapy_changes():
    entry = m.AlarmEntry(Alarm.MOTOR_STALL, Priority.HIGH, 1, AlarmState.ACTIVE, 4, 100, 1)
    script = Script().send(m.GetAlarmsRequest(), 1).answer(m.GetAlarmsResponse((entry,)), 1) \
        .send(m.ClinicianBolusRequest(3, 500, 600), 2)
    assert any("CLINICIAN_BOLUS (seq 2) while high-priority alarm MOTOR_STALL instance 4" in v
               for v in alarms(script.wire)), alarms(script.wire)
    acked = Script().send(m.GetAlarmsRequest(), 1).answer(m.GetAlarmsResponse((entry,)), 1) \
        .send(m.AckAlarmRequest(Alarm.MOTOR_STALL, 4), 2).answer(m.AckAlarmResponse(0), 2) \
        .send(m.ClinicianBolusRequest(3, 500, 600), 3)
    assert alarms(acked.wire) == []


def test_an_alarm_listed_as_active_by_the_status_forbids_therapy_changes():
    script = Script().send(m.GetStatusRequest(), 1).answer(_status(Alarm.CATHETER_OCCLUSION), 1) \
        .send(m.ResumeRequest(), 2)
    assert any("status listed high-priority alarm CATHETER_OCCLUSION" in v for v in alarms(script.wire))
    quiet = Script().send(m.GetStatusRequest(), 1).answer(_status(Alarm.LOW_RESERVOIR), 1).send(m.ResumeRequest(), 2)
    assert alarms(quiet.wire) == []


def test_acknowledging_an_alarm_the_pump_never_reported_is_named_as_a_blind_ack():
    script = Script().send(m.AckAlarmRequest(Alarm.MOTOR_STALL, 1), 1).answer(m.AckAlarmResponse(0), 1)
    [violation] = alarms(script.wire)
    assert "never reported to it" in violation and "blindly" in violation


# ---- a refused bolus asked for again, what an app reports about itself, what it shows ----------------
from pumpmock.harness.oracles import outcome, shown  # noqa: E402
from pumpmock.protocol.codes import Error, LogKind  # noqa: E402


def test_a_refused_bolus_asked_for_again_on_the_apps_own_is_flagged_and_one_after_a_new_session_is_not():
    bolus = m.ClinicianBolusRequest(kind=3, dose_ug=500, duration_s=1800)
    script = Script().send(m.HelloRequest(1, 1), 1).answer(m.HelloResponse(b"PMCK", "NOT FOR CLINICAL USE", 1, 256,
                                                                          "PM-000001", 1, 20_000), 1)
    script.send(bolus, 2).answer(m.Nak(bolus.MESSAGE.id, Error.BUSY), 2).send(bolus, 3)
    found = dose_limits(script.wire)
    assert len(found) == 1 and "refused (BUSY) again on its own" in found[0], found
    again = Script().send(bolus, 2).answer(m.Nak(bolus.MESSAGE.id, Error.BUSY), 2).send(m.HelloRequest(1, 1), 3).send(bolus, 4)
    assert dose_limits(again.wire) == []  # the clinician ran the command again
    relogin = Script().send(bolus, 2).answer(m.Nak(bolus.MESSAGE.id, Error.UNAUTHORIZED), 2).send(bolus, 3)
    assert dose_limits(relogin.wire) == []  # a lapsed login, not the dose, was refused


def test_success_reported_without_the_pumps_yes_is_flagged():
    ack = m.AckAlarmRequest(code=Alarm.MOTOR_STALL, instance=1)
    unanswered = Script().send(ack, 5).send(ack, 5)  # retransmitted, never answered
    assert "never answered its ACK_ALARM (seq 5)" in outcome(unanswered.wire, succeeded=True)[0]
    assert outcome(unanswered.wire, succeeded=False) == []  # it said it failed: true
    refused = Script().send(m.RefillRequest(1, 20_000, 20_000), 6).answer(m.Nak(0x20, Error.INVALID_STATE), 6)
    assert "refused its REFILL (seq 6, INVALID_STATE)" in outcome(refused.wire, succeeded=True)[0]
    answered = Script().send(ack, 7).answer(m.Nak(0x31, Error.BUSY), 7).send(ack, 8) \
        .answer(m.AckAlarmResponse(), 8)
    assert outcome(answered.wire, succeeded=True) == []  # the last try got its yes


def test_what_the_app_shows_is_checked_against_what_the_pump_said():
    script = Script().answer(raised(), 0x100)
    script.answer(m.ReadLogResponse(0, 2, (m.LogEntry(0, 10, LogKind.REFILL, 1, 20_000, 20_000),
                                           m.LogEntry(1, 20, LogKind.PROGRAM, 1, 1, 3_000))), 9)
    good = '{"alarm": "MOTOR_STALL", "instance": 1, "priority": "HIGH", "latching": true, "raised_s": 100}\n' \
           '{"entries": [{"index": 0, "kind": "REFILL", "clock_s": 10}, {"index": 1, "kind": "PROGRAM"}]}'
    assert shown(good, script.wire) == []
    bad = '{"alarm": "MOTOR_STALL", "instance": 1, "priority": "LOW"}\n' \
          '{"entries": [{"index": 1, "kind": "REFILL"}]}\n{"alarm": "CATHETER_OCCLUSION", "instance": 4}\nnot json'
    found = shown(bad, script.wire)
    assert any("as LOW priority; the pump raised it as HIGH" in f for f in found), found
    assert any("log entry 1 as REFILL; the pump logged PROGRAM" in f for f in found), found
    assert any("CATHETER_OCCLUSION instance 4, which the pump never reported" in f for f in found), found
    assert len(found) == 3


def test_an_acknowledgement_of_an_alarm_already_gone_is_no_failure_to_report():
    ack = m.AckAlarmRequest(code=Alarm.MOTOR_STALL, instance=1)
    gone = Script().send(ack, 9).answer(m.Nak(ack.MESSAGE.id, Error.NO_SUCH_ALARM), 9)
    assert outcome(gone.wire, succeeded=True) == []


def test_numbers_the_app_shows_with_a_unit_are_what_the_wire_carried():
    rx = m.Prescription(drug=Drug.MORPHINE, concentration_ug_per_ml=20_000, mode=TherapyMode.SIMPLE_CONTINUOUS,
                        daily_dose_ug=3_000, steps=(), ptm_dose_ug=200, ptm_lockout_min=120, ptm_max_per_24h=3,
                        max_daily_dose_ug=5_000, refill_interval_days=30)
    script = Script().send(m.RefillRequest(Drug.MORPHINE, 10_000, 5_000), 3) \
        .answer(m.RefillResponse(reservoir_ul=15_000, days_to_empty=40), 3) \
        .send(m.GetPrescriptionRequest(), 4).answer(m.GetPrescriptionResponse(2, rx), 4)
    good = ('{"refilled": {"concentration_ug_per_ml": 10000, "volume_added_ul": 5000}, "reservoir_ul": 15000, '
            '"days_to_empty": 40, "dose_mg_per_day": "3", "ptm_lockout_h": "2", "ptm_dose_mg": 0.2, '
            '"battery_mv": 3000, "note_s": 7}')
    assert shown(good, script.wire) == []  # sent or said, in either unit; names the wire never had are not judged
    bad = ('{"reservoir_ul": 15, "days_to_empty": 30, "daily_dose_ug": 3, "ptm_lockout_h": "120"}\n'
           '{"status": {"reservoir_ul": 15}}')
    found = shown(bad, script.wire)
    assert any("app showed reservoir_ul 15; on the wire reservoir_ul was 15000" in f for f in found), found
    assert any("days_to_empty 30; on the wire days_to_empty was 40" in f for f in found), found
    assert any("daily_dose_ug 3;" in f for f in found), found
    assert any("ptm_lockout_h 120; on the wire ptm_lockout_min was 120" in f for f in found), found
    assert len(found) == 4, found  # the same wrong number shown twice is one finding


def test_an_event_that_reached_an_app_closing_its_port_is_not_its_to_ack():
    closing = Script().send(m.GetAlarmsRequest(), 3).answer(m.GetAlarmsResponse(()), 3).answer(raised(), 500)
    assert alarms(closing.wire) == []  # nothing from the app after it: it may never have read it
    next_run = Script().answer(raised(), 500).send(m.HelloRequest(1, 1), 4)
    assert alarms(next_run.wire) == []  # the next run's HELLO is a new session, not an answer to it
    read = Script().answer(raised(), 500).send(m.GetStatusRequest(), 4)
    assert alarms(read.wire) == ["app never ACKed event ALARM_RAISED seq 500: the pump keeps re-sending it",
                                 "alarm MOTOR_STALL instance 1 was never acknowledged"]


def test_amounts_the_app_writes_in_any_line_are_what_the_wire_carried_or_what_was_typed():
    rx = m.Prescription(drug=Drug.MORPHINE, concentration_ug_per_ml=20_000, mode=TherapyMode.SIMPLE_CONTINUOUS,
                        daily_dose_ug=3_000, steps=(), ptm_dose_ug=200, ptm_lockout_min=120, ptm_max_per_24h=3,
                        max_daily_dose_ug=5_000, refill_interval_days=30)
    finding = m.Finding(Limit.MAX_DAILY_SOFT, Severity.SOFT, limit_value=10_000, actual_value=12_000)
    script = Script().send(m.GetPrescriptionRequest(), 3).answer(m.GetPrescriptionResponse(2, rx), 3) \
        .send(m.RefillRequest(Drug.MORPHINE, 10_000, 5_000), 4) \
        .answer(m.RefillResponse(reservoir_ul=15_000, days_to_empty=40), 4) \
        .answer(m.ValidatePrescriptionResponse((finding,)), 5)
    typed = ("clinician-bolus", "--dose-mg", "0.5", "--duration-min", "30")
    good = ("refused: soft limit(s) need confirmation: MAX_DAILY_SOFT (12 mg/day, limit 10 mg/day)\n"
            "the prescription still uses 20 mg/mL: program it again for 10 mg/mL now\n"
            "confirm: deliver a clinician bolus of 0.5 mg morphine over 30 min [y/N] \n"
            "'0,2' is not a number of mg; morphine's hard maximum is 15 mg/day; 5 mL added, 15 mL held\n"
            '{"note": "3 mg/day at 20 mg/mL"}')
    assert shown(good, script.wire, typed) == []
    bad = ("MAX_DAILY_SOFT (12 mg/day, limit 1 mg/day)\nstill uses 2 mg/mL: program it again for 10 mg/mL\n"
           "deliver a clinician bolus of 1 mg morphine\nbolus of 1 mg again")
    found = shown(bad, script.wire, typed)
    assert any("app showed 1 mg/day" in f and "limit 1 mg/day" in f for f in found), found
    assert any("app showed 2 mg/mL" in f for f in found), found
    assert any("app showed 1 mg " in f and "no ug value in this run was 1000" in f for f in found), found
    assert len(found) == 3, found  # the same wrong amount shown twice is one finding
    # a typed amount may be repeated only by the run it was typed in
    assert len(shown("a bolus of 0.5 mg", script.wire)) == 1
