"""Prescription arithmetic and validation: basal doses and volume rates, findings, the PROGRAM decision.

Integers only, floor division throughout. A prescription is the dict codec.decode_request
returns for the `prescription` layout.
"""

from . import spec
from .errors import Refusal

MINUTES_PER_DAY = 1440
NEVER_DAYS = 65535


def volume_rate_ul_per_day(dose_rate_ug_per_day, concentration_ug_per_ml):
    """µL/day that carry a dose rate at a concentration: dose × 1000 // concentration."""
    return dose_rate_ug_per_day * 1000 // concentration_ug_per_ml


def is_flex(rx):
    return rx["mode"] == spec.MODE_FLEX


def schedule(rx):
    """[(start_min, dose_rate_ug_per_day, minutes)] of the basal day; minutes never below 0."""
    if not is_flex(rx):
        return [(0, rx["daily_dose_ug"], MINUTES_PER_DAY)]
    steps = rx["steps"]
    out = []
    for i, step in enumerate(steps):
        end_min = steps[i + 1]["start_min"] if i + 1 < len(steps) else MINUTES_PER_DAY
        minutes = end_min - step["start_min"]
        out.append((step["start_min"], step["dose_rate_ug_per_day"], minutes if minutes > 0 else 0))
    return out


def basal_daily_dose_ug(rx):
    """SIMPLE: daily_dose_ug. FLEX: Σ rate × minutes // 1440 (one division, at the end)."""
    if not is_flex(rx):
        return rx["daily_dose_ug"]
    return sum(rate * minutes for _start, rate, minutes in schedule(rx)) // MINUTES_PER_DAY


def basal_daily_volume_ul(rx):
    """Σ volume rate × minutes // 1440, each step's volume rate floored first."""
    concentration = rx["concentration_ug_per_ml"]
    total = 0
    for _start, rate, minutes in schedule(rx):
        total += volume_rate_ul_per_day(rate, concentration) * minutes
    return total // MINUTES_PER_DAY


def ptm_volume_ul(rx):
    return volume_rate_ul_per_day(rx["ptm_dose_ug"], rx["concentration_ug_per_ml"])


def days_of(reservoir_ul, daily_ul):
    """Whole days a volume lasts at daily_ul per day; 65535 when it never runs out."""
    if daily_ul <= 0:
        return NEVER_DAYS
    days = reservoir_ul // daily_ul
    return days if days < NEVER_DAYS else NEVER_DAYS - 1


def _schedule_problem(rx):
    """(limit_value, actual_value) of the first flex schedule problem, or None."""
    steps = rx["steps"]
    if not steps:
        return (1, 0)
    if steps[0]["start_min"] != 0:
        return (0, steps[0]["start_min"])
    for i in range(1, len(steps)):
        if steps[i]["start_min"] <= steps[i - 1]["start_min"]:
            return (steps[i - 1]["start_min"] + 1, steps[i]["start_min"])
    return None


def findings(rx, reservoir_drug, reservoir_conc, reservoir_ul):
    """Every finding, in limit-code order: [(limit, severity, limit_value, actual_value)]."""
    soft, hard = spec.SEV_SOFT, spec.SEV_HARD
    max_conc, soft_day, hard_day = spec.DRUGS[rx["drug"]]
    conc = rx["concentration_ug_per_ml"]
    basal = basal_daily_dose_ug(rx)
    max_daily = rx["max_daily_dose_ug"]
    ptm_dose = rx["ptm_dose_ug"]
    out = []
    if conc > max_conc:
        out.append((spec.LIM_CONCENTRATION_MAX, hard, max_conc, conc))
    if basal > soft_day:
        out.append((spec.LIM_DAILY_DOSE_SOFT, soft, soft_day, basal))
    if basal > hard_day:
        out.append((spec.LIM_DAILY_DOSE_HARD, hard, hard_day, basal))
    if max_daily > soft_day:
        out.append((spec.LIM_MAX_DAILY_SOFT, soft, soft_day, max_daily))
    if max_daily > hard_day:
        out.append((spec.LIM_MAX_DAILY_HARD, hard, hard_day, max_daily))
    if max_daily < basal:
        out.append((spec.LIM_MAX_DAILY_BELOW_PLAN, hard, basal, max_daily))
    volumes = [volume_rate_ul_per_day(rate, conc) for _start, rate, _minutes in schedule(rx)]
    if volumes:
        lowest, highest = min(volumes), max(volumes)
        if lowest < spec.RATE_MIN_UL_PER_DAY:
            out.append((spec.LIM_RATE_MIN, hard, spec.RATE_MIN_UL_PER_DAY, lowest))
        if highest > spec.RATE_MAX_UL_PER_DAY:
            out.append((spec.LIM_RATE_MAX, hard, spec.RATE_MAX_UL_PER_DAY, highest))
    daily_ul = basal_daily_volume_ul(rx)
    if ptm_dose > 0:
        daily_ul += rx["ptm_max_per_24h"] * ptm_volume_ul(rx)
    needed_days = max(rx["refill_interval_days"], spec.MIN_RESERVOIR_DAYS)
    if daily_ul > 0 and reservoir_ul // daily_ul < needed_days:
        out.append((spec.LIM_RESERVOIR_DURATION, soft, needed_days, reservoir_ul // daily_ul))
    if reservoir_drug != spec.DRUG_NONE:
        if conc != reservoir_conc:
            out.append((spec.LIM_CONCENTRATION_MISMATCH, hard, reservoir_conc, conc))
        if rx["drug"] != reservoir_drug:
            out.append((spec.LIM_DRUG_MISMATCH, hard, reservoir_drug, rx["drug"]))
    if ptm_dose > 0:
        lockout = rx["ptm_lockout_min"]
        if lockout < spec.PTM_LOCKOUT_MIN_MIN:
            out.append((spec.LIM_PTM_LOCKOUT_RANGE, hard, spec.PTM_LOCKOUT_MIN_MIN, lockout))
        elif lockout > spec.PTM_LOCKOUT_MAX_MIN:
            out.append((spec.LIM_PTM_LOCKOUT_RANGE, hard, spec.PTM_LOCKOUT_MAX_MIN, lockout))
        activations = rx["ptm_max_per_24h"]
        if activations < 1:
            out.append((spec.LIM_PTM_ACTIVATIONS_RANGE, hard, 1, activations))
        elif activations > spec.PTM_ACTIVATIONS_MAX:
            out.append((spec.LIM_PTM_ACTIVATIONS_RANGE, hard, spec.PTM_ACTIVATIONS_MAX, activations))
        if ptm_dose > soft_day:
            out.append((spec.LIM_PTM_DOSE_MAX, hard, soft_day, ptm_dose))
    if is_flex(rx):
        problem = _schedule_problem(rx)
        if problem is not None:
            out.append((spec.LIM_SCHEDULE_INVALID, hard, problem[0], problem[1]))
    return out


def check_program(found, overrides):
    """The soft findings a PROGRAM may apply with these overrides; raises Refusal otherwise."""
    for limit, severity, limit_value, actual_value in found:
        if severity == spec.SEV_HARD:
            raise Refusal(spec.E_HARD_LIMIT, limit, limit_value, actual_value)
    soft_limits = [f[0] for f in found]
    for limit in overrides:
        if limit not in soft_limits:
            raise Refusal(spec.E_OVERRIDE_MISMATCH, limit)
    for limit, _severity, limit_value, actual_value in found:
        if limit not in overrides:
            raise Refusal(spec.E_SOFT_LIMIT_NEEDS_OVERRIDE, limit, limit_value, actual_value)
    return found


def finding_dicts(found):
    return [{"limit": f[0], "severity": f[1], "limit_value": clamp32(f[2]), "actual_value": clamp32(f[3])}
            for f in found]


def clamp32(value):
    """A u32 wire field shows values beyond its range as its maximum."""
    return value if value <= 0xFFFFFFFF else 0xFFFFFFFF
