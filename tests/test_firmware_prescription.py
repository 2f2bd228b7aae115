"""Prescription validation: every finding with its values, and PROGRAM's decision order."""

import pytest

from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Drug, Error, Limit, LogKind, Severity, TherapyMode, TherapyState

from test_firmware_support import Host, flex, morphine

SOFT, HARD = Severity.SOFT, Severity.HARD


def findings(host, rx):
    return [(f.limit, f.severity, f.limit_value, f.actual_value)
            for f in host.call(m.ValidatePrescriptionRequest(rx)).findings]


@pytest.fixture
def host():
    host = Host()
    host.hello()
    host.authenticate()
    host.refill(20_000)
    return host


def test_a_plain_prescription_has_no_findings(host):
    assert findings(host, morphine()) == []


CASES = [
    ("concentration above the drug's maximum", dict(concentration_ug_per_ml=20_001),
     (Limit.CONCENTRATION_MAX, HARD, 20_000, 20_001)),
    ("daily dose above soft", dict(daily_dose_ug=10_001, max_daily_dose_ug=10_001),
     (Limit.DAILY_DOSE_SOFT, SOFT, 10_000, 10_001)),
    ("daily dose above hard", dict(daily_dose_ug=15_001, max_daily_dose_ug=9_000),
     (Limit.DAILY_DOSE_HARD, HARD, 15_000, 15_001)),
    ("maximum daily above soft", dict(max_daily_dose_ug=10_001), (Limit.MAX_DAILY_SOFT, SOFT, 10_000, 10_001)),
    ("maximum daily above hard", dict(max_daily_dose_ug=15_001), (Limit.MAX_DAILY_HARD, HARD, 15_000, 15_001)),
    ("maximum daily below the plan", dict(max_daily_dose_ug=2_999), (Limit.MAX_DAILY_BELOW_PLAN, HARD, 3_000, 2_999)),
    ("volume rate below the pump's minimum", dict(daily_dose_ug=959, max_daily_dose_ug=959),
     (Limit.RATE_MIN, HARD, 48, 47)),
    ("reservoir runs out before the refill date", dict(refill_interval_days=112),
     (Limit.RESERVOIR_DURATION, SOFT, 112, 111)),
    ("concentration differs from the reservoir", dict(concentration_ug_per_ml=10_000),
     (Limit.CONCENTRATION_MISMATCH, HARD, 20_000, 10_000)),
    ("drug differs from the reservoir", dict(drug=Drug.HYDROMORPHONE, concentration_ug_per_ml=15_000),
     (Limit.DRUG_MISMATCH, HARD, Drug.MORPHINE, Drug.HYDROMORPHONE)),
    ("PTM lockout too short", dict(ptm_lockout_min=9), (Limit.PTM_LOCKOUT_RANGE, HARD, 10, 9)),
    ("PTM lockout too long", dict(ptm_lockout_min=1_441), (Limit.PTM_LOCKOUT_RANGE, HARD, 1_440, 1_441)),
    ("PTM activations zero", dict(ptm_max_per_24h=0), (Limit.PTM_ACTIVATIONS_RANGE, HARD, 1, 0)),
    ("PTM activations too many", dict(ptm_max_per_24h=25), (Limit.PTM_ACTIVATIONS_RANGE, HARD, 24, 25)),
    ("PTM dose above the soft daily maximum", dict(ptm_dose_ug=10_001, ptm_max_per_24h=1),
     (Limit.PTM_DOSE_MAX, HARD, 10_000, 10_001)),
]


@pytest.mark.parametrize("changes, finding", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_finding(host, changes, finding):
    assert finding in findings(host, morphine(**changes))


def test_rate_max_and_the_daily_dose_of_a_flex_schedule(host):
    # 1000 µg/mL: 24_001 µg/day is 24_001 µL/day, above the pump's maximum.
    rx = flex([(0, 1_000), (360, 24_001), (1_080, 1_000)], concentration_ug_per_ml=1_000,
              max_daily_dose_ug=9_000)
    found = findings(host, rx)
    # basal = (1000 × 360 + 24001 × 720 + 1000 × 360) // 1440 = 12500 µg/day
    assert (Limit.DAILY_DOSE_SOFT, SOFT, 10_000, 12_500) in found
    assert (Limit.RATE_MAX, HARD, 24_000, 24_001) in found
    assert (Limit.MAX_DAILY_BELOW_PLAN, HARD, 12_500, 9_000) in found


@pytest.mark.parametrize("steps, values", [
    ([], (1, 0)),
    ([(60, 3_000)], (0, 60)),
    ([(0, 3_000), (600, 3_000), (600, 3_000)], (601, 600)),
    ([(0, 3_000), (600, 3_000), (500, 3_000)], (601, 500)),
])
def test_schedule_invalid(host, steps, values):
    found = [f for f in findings(host, flex(steps)) if f[0] == Limit.SCHEDULE_INVALID]
    assert found == [(Limit.SCHEDULE_INVALID, HARD) + values]


def test_ptm_checks_only_apply_when_ptm_is_enabled(host):
    assert findings(host, morphine(ptm_dose_ug=0, ptm_lockout_min=0, ptm_max_per_24h=0)) == []


def test_reservoir_duration_counts_every_ptm_bolus_and_the_minimum_days(host):
    host.call(m.TcSetReservoirRequest(1_000))
    # 150 µL/day basal + 3 × 10 µL PTM = 180 µL/day: 1000 µL last 5 days < max(3, 7)
    assert (Limit.RESERVOIR_DURATION, SOFT, 7, 5) in findings(host, morphine(refill_interval_days=3))


def test_no_reservoir_findings_about_drug_before_a_refill():
    host = Host()
    host.authenticate()
    found = findings(host, morphine(concentration_ug_per_ml=10_000))
    assert [f[0] for f in found] == [Limit.RESERVOIR_DURATION]  # an empty reservoir lasts 0 days


def test_findings_come_in_limit_order(host):
    rx = morphine(concentration_ug_per_ml=30_000, daily_dose_ug=16_000, max_daily_dose_ug=1_000,
                  ptm_lockout_min=1, refill_interval_days=60)
    limits = [f[0] for f in findings(host, rx)]
    assert limits == sorted(limits) and len(limits) >= 6


def test_program_refuses_the_first_hard_finding(host):
    nak = host.refused(m.ProgramPrescriptionRequest((Limit.DAILY_DOSE_SOFT,), morphine(
        daily_dose_ug=15_001, max_daily_dose_ug=15_001, ptm_lockout_min=5)))
    assert (nak.code, nak.subject, nak.limit_value, nak.actual_value) == \
        (Error.HARD_LIMIT, Limit.DAILY_DOSE_HARD, 15_000, 15_001)


def test_program_soft_limits_need_exactly_their_overrides(host):
    rx = morphine(daily_dose_ug=11_000, max_daily_dose_ug=12_000)
    nak = host.refused(m.ProgramPrescriptionRequest((), rx))
    assert (nak.code, nak.subject, nak.limit_value, nak.actual_value) == \
        (Error.SOFT_LIMIT_NEEDS_OVERRIDE, Limit.DAILY_DOSE_SOFT, 10_000, 11_000)
    nak = host.refused(m.ProgramPrescriptionRequest((Limit.DAILY_DOSE_SOFT,), rx))
    assert (nak.code, nak.subject) == (Error.SOFT_LIMIT_NEEDS_OVERRIDE, Limit.MAX_DAILY_SOFT)
    nak = host.refused(m.ProgramPrescriptionRequest((Limit.DAILY_DOSE_SOFT, Limit.RATE_MIN, Limit.MAX_DAILY_SOFT), rx))
    assert (nak.code, nak.subject) == (Error.OVERRIDE_MISMATCH, Limit.RATE_MIN)
    answer = host.program(rx, (Limit.MAX_DAILY_SOFT, Limit.DAILY_DOSE_SOFT))
    assert answer.version == 1
    assert [(f.limit, f.limit_value, f.actual_value) for f in answer.findings] == \
        [(Limit.DAILY_DOSE_SOFT, 10_000, 11_000), (Limit.MAX_DAILY_SOFT, 10_000, 12_000)]


def test_program_read_back_versions_and_log(host):
    assert host.refused(m.GetPrescriptionRequest()).code == Error.NOT_PROGRAMMED
    assert host.refused(m.TcGetPrescriptionRequest()).code == Error.NOT_PROGRAMMED
    rx = flex([(0, 2_000), (480, 4_000), (1_200, 2_000)])
    assert host.program(rx).version == 1
    assert host.program(morphine()).version == 2
    assert host.program(rx).version == 3
    answer = host.call(m.GetPrescriptionRequest())
    assert (answer.version, answer.prescription) == (3, rx)
    assert host.call(m.TcGetPrescriptionRequest()) == m.TcGetPrescriptionResponse(3, rx)
    programs = [(e.code, e.value, e.value2) for e in host.log() if e.kind == LogKind.PROGRAM]
    # FLEX basal: (2000 × 480 + 4000 × 720 + 2000 × 240) // 1440 = 3000 µg/day
    assert programs == [(Drug.MORPHINE, 1, 3_000), (Drug.MORPHINE, 2, 3_000), (Drug.MORPHINE, 3, 3_000)]
    status = host.status()
    assert (status.mode, status.therapy_state) == (TherapyMode.FLEX, TherapyState.RUNNING)


def test_program_ends_a_suspension(host):
    host.program(morphine())
    host.call(m.SuspendRequest())
    host.program(morphine(daily_dose_ug=2_000))
    assert host.status().therapy_state == TherapyState.RUNNING
