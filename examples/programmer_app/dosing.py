"""Clinician units to wire units and back, and the app's own drug library check (no I/O).

Clinicians type milligrams, millilitres and hours; the pump speaks whole µg, µL, µg/mL and
minutes. Every conversion here is exact (decimal arithmetic, never a float) and refuses an
amount that is not a whole number of the wire unit, so 0.0005 mg is an error, not 0 µg.

The hard-limit check runs BEFORE anything is sent: a prescription that breaks a hard limit never
leaves the app. The numbers come from the protocol package's drug library and pump limits.
"""

from decimal import Decimal, InvalidOperation

from pumpmock.protocol.codes import DRUG_LIBRARY, PUMP_LIMITS, Drug, TherapyMode

UG_PER_MG = 1000
UL_PER_ML = 1000
MIN_PER_H = 60
S_PER_MIN = 60


class InputError(ValueError):
    """An amount the clinician typed that the app cannot turn into wire units."""


def _whole(text, factor, unit, wire_unit):
    """`text` (a decimal number in `unit`) times `factor`, as an exact non-negative integer."""
    try:
        amount = Decimal(str(text).strip())
    except InvalidOperation:
        raise InputError("%r is not a number of %s" % (text, unit)) from None
    if not amount.is_finite() or amount < 0:
        raise InputError("%s %s is not a valid amount" % (text, unit))
    scaled = amount * factor
    if scaled != scaled.to_integral_value():
        raise InputError("%s %s is not a whole number of %s" % (text, unit, wire_unit))
    return int(scaled)


def mg_to_ug(text):
    return _whole(text, UG_PER_MG, "mg", "µg")


def mg_per_ml_to_ug_per_ml(text):
    return _whole(text, UG_PER_MG, "mg/mL", "µg/mL")


def ml_to_ul(text):
    return _whole(text, UL_PER_ML, "mL", "µL")


def hours_to_min(text):
    return _whole(text, MIN_PER_H, "h", "min")


def minutes_to_s(text):
    return _whole(text, S_PER_MIN, "min", "s")


def as_milli(micro):
    """µg as mg, µL as mL, µg/mL as mg/mL, as a clinician reads it: 3000 -> '3', 250 -> '0.25'."""
    text = format(Decimal(micro) / 1000, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def drug_from_name(name):
    try:
        drug = Drug[name.strip().upper()]
    except KeyError:
        known = ", ".join(d.name.lower() for d in DRUG_LIBRARY)
        raise InputError("unknown drug %r (the drug library has: %s)" % (name, known)) from None
    if drug not in DRUG_LIBRARY:
        raise InputError("%s is not in the drug library" % drug.name.lower())
    return drug


def volume_rate_ul_per_day(dose_ug_per_day, concentration_ug_per_ml):
    """µL/day that carry `dose_ug_per_day` at a concentration: the pump's own formula (floored)."""
    return dose_ug_per_day * UL_PER_ML // concentration_ug_per_ml


def exceeds(actual, limit):
    """True when `actual` is above `limit`. A value exactly at a limit is allowed."""
    return actual > limit


def falls_below(actual, limit):
    """True when `actual` is below `limit`. A value exactly at a limit is allowed."""
    return actual < limit


def hard_limit_problems(rx):
    """Why `rx` (a protocol Prescription, SIMPLE_CONTINUOUS) can never be programmed: sentences
    in clinician units, empty when no hard limit is broken."""
    problems = []
    library = DRUG_LIBRARY[Drug(rx.drug)]
    name = library.drug.name.lower()
    if rx.mode != TherapyMode.SIMPLE_CONTINUOUS:
        return ["this app programs simple continuous therapy only"]
    if rx.concentration_ug_per_ml <= 0:
        return ["the concentration must be above 0"]
    if exceeds(rx.concentration_ug_per_ml, library.max_concentration_ug_per_ml):
        problems.append("concentration %s mg/mL is above %s's maximum of %s mg/mL" % (
            as_milli(rx.concentration_ug_per_ml), name, as_milli(library.max_concentration_ug_per_ml)))
    if exceeds(rx.daily_dose_ug, library.hard_max_ug_per_day):
        problems.append("daily dose %s mg is above %s's hard maximum of %s mg/day" % (
            as_milli(rx.daily_dose_ug), name, as_milli(library.hard_max_ug_per_day)))
    if exceeds(rx.max_daily_dose_ug, library.hard_max_ug_per_day):
        problems.append("maximum daily dose %s mg is above %s's hard maximum of %s mg/day" % (
            as_milli(rx.max_daily_dose_ug), name, as_milli(library.hard_max_ug_per_day)))
    if falls_below(rx.max_daily_dose_ug, rx.daily_dose_ug):
        problems.append("maximum daily dose %s mg is below the daily dose %s mg" % (
            as_milli(rx.max_daily_dose_ug), as_milli(rx.daily_dose_ug)))
    rate_ul_per_day = volume_rate_ul_per_day(rx.daily_dose_ug, rx.concentration_ug_per_ml)
    if falls_below(rate_ul_per_day, PUMP_LIMITS["rate_min_ul_per_day"]):
        problems.append("the pump cannot run that slowly: %d µL/day is below its minimum of %d µL/day" % (
            rate_ul_per_day, PUMP_LIMITS["rate_min_ul_per_day"]))
    if exceeds(rate_ul_per_day, PUMP_LIMITS["rate_max_ul_per_day"]):
        problems.append("the pump cannot run that fast: %d µL/day is above its maximum of %d µL/day" % (
            rate_ul_per_day, PUMP_LIMITS["rate_max_ul_per_day"]))
    if rx.ptm_dose_ug > 0:
        if exceeds(rx.ptm_dose_ug, library.soft_max_ug_per_day):
            problems.append("PTM dose %s mg is above %s's soft daily maximum of %s mg" % (
                as_milli(rx.ptm_dose_ug), name, as_milli(library.soft_max_ug_per_day)))
        if falls_below(rx.ptm_lockout_min, PUMP_LIMITS["ptm_lockout_min_min"]) \
                or exceeds(rx.ptm_lockout_min, PUMP_LIMITS["ptm_lockout_max_min"]):
            problems.append("PTM lockout %d min is outside %d..%d min" % (
                rx.ptm_lockout_min, PUMP_LIMITS["ptm_lockout_min_min"], PUMP_LIMITS["ptm_lockout_max_min"]))
        if falls_below(rx.ptm_max_per_24h, 1) or exceeds(rx.ptm_max_per_24h, PUMP_LIMITS["ptm_activations_max"]):
            problems.append("PTM activations %d per 24 h is outside 1..%d" % (
                rx.ptm_max_per_24h, PUMP_LIMITS["ptm_activations_max"]))
    return problems


def reservoir_problems(rx, reservoir_drug, reservoir_concentration_ug_per_ml):
    """Hard limits that depend on what the reservoir holds (read from the pump's status)."""
    if reservoir_drug == Drug.NONE:
        return ["the reservoir holds no drug: refill it before programming"]
    problems = []
    if rx.drug != reservoir_drug:
        problems.append("the reservoir holds %s, not %s" % (Drug(reservoir_drug).name.lower(),
                                                             Drug(rx.drug).name.lower()))
    elif rx.concentration_ug_per_ml != reservoir_concentration_ug_per_ml:
        problems.append("the reservoir holds %s mg/mL since the last refill, the prescription says %s mg/mL" % (
            as_milli(reservoir_concentration_ug_per_ml), as_milli(rx.concentration_ug_per_ml)))
    return problems


def bolus_problems(drug, dose_ug, duration_s):
    """Hard limits for a clinician bolus: never more than the drug's hard daily maximum at once."""
    library = DRUG_LIBRARY[Drug(drug)]
    problems = []
    if dose_ug <= 0:
        problems.append("the bolus dose must be above 0")
    if exceeds(dose_ug, library.hard_max_ug_per_day):
        problems.append("bolus %s mg is above %s's hard maximum of %s mg/day" % (
            as_milli(dose_ug), library.drug.name.lower(), as_milli(library.hard_max_ug_per_day)))
    if falls_below(duration_s, PUMP_LIMITS["bolus_duration_min_s"]) \
            or exceeds(duration_s, PUMP_LIMITS["bolus_duration_max_s"]):
        problems.append("bolus duration %d s is outside %d..%d s" % (
            duration_s, PUMP_LIMITS["bolus_duration_min_s"], PUMP_LIMITS["bolus_duration_max_s"]))
    return problems


def refill_problems(drug, concentration_ug_per_ml, volume_ul, capacity_ul):
    library = DRUG_LIBRARY[Drug(drug)]
    problems = []
    if concentration_ug_per_ml <= 0:
        problems.append("the concentration must be above 0")
    if exceeds(concentration_ug_per_ml, library.max_concentration_ug_per_ml):
        problems.append("concentration %s mg/mL is above %s's maximum of %s mg/mL" % (
            as_milli(concentration_ug_per_ml), library.drug.name.lower(),
            as_milli(library.max_concentration_ug_per_ml)))
    if volume_ul <= 0:
        problems.append("the volume must be above 0")
    if exceeds(volume_ul, capacity_ul):
        problems.append("%s mL does not fit the %s mL reservoir" % (
            as_milli(volume_ul), as_milli(capacity_ul)))
    return problems
