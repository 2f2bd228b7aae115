"""The catalog's code sets as IntEnums (Error.HARD_LIMIT, Drug.MORPHINE, ...), plus lookup tables."""

from enum import IntEnum

from .catalog import ALARMS, CODE_SETS, DRUGS, PUMP, REANNOUNCE_S


def _enum(code_set):
    name = "".join(part.title() for part in code_set.name.split("_"))
    enum = IntEnum(name, [(c.name, c.value) for c in code_set.codes], module=__name__)
    enum.__doc__ = code_set.doc
    return enum


ENUMS = {name: _enum(cs) for name, cs in CODE_SETS.items()}
globals().update({e.__name__: e for e in ENUMS.values()})

FrameKind = ENUMS["frame_kind"]
Role = ENUMS["role"]
TherapyMode = ENUMS["therapy_mode"]
TherapyState = ENUMS["therapy_state"]
BatteryState = ENUMS["battery_state"]
BolusKind = ENUMS["bolus_kind"]
Severity = ENUMS["severity"]
Priority = ENUMS["priority"]
AlarmState = ENUMS["alarm_state"]
Fault = ENUMS["fault"]
LogKind = ENUMS["log_kind"]
Alarm = ENUMS["alarm"]
Limit = ENUMS["limit"]
Error = ENUMS["error"]
Drug = ENUMS["drug"]


class DrugLimits:
    """One drug library entry, in µg, µg/mL and µg/day."""

    __slots__ = ("drug", "display_unit", "max_concentration_ug_per_ml", "soft_max_ug_per_day",
                 "hard_max_ug_per_day")

    def __init__(self, drug, display_unit, max_concentration_ug_per_ml, soft_max_ug_per_day,
                 hard_max_ug_per_day):
        self.drug = drug
        self.display_unit = display_unit
        self.max_concentration_ug_per_ml = max_concentration_ug_per_ml
        self.soft_max_ug_per_day = soft_max_ug_per_day
        self.hard_max_ug_per_day = hard_max_ug_per_day

    def __repr__(self):
        return "DrugLimits(%s, soft=%d µg/day, hard=%d µg/day, max %d µg/mL)" % (
            self.drug.name, self.soft_max_ug_per_day, self.hard_max_ug_per_day,
            self.max_concentration_ug_per_ml)


DRUG_LIBRARY = {Drug(v): DrugLimits(Drug(v), unit, conc, soft, hard)
                for v, _name, unit, conc, soft, hard in DRUGS}
ALARM_PRIORITY = {Alarm(v): Priority[p] for v, _n, p, _l, _d in ALARMS}
ALARM_LATCHING = {Alarm(v): latching for v, _n, _p, latching, _d in ALARMS}
ALARM_REANNOUNCE_S = {Alarm(v): REANNOUNCE_S[p] for v, _n, p, _l, _d in ALARMS}
PUMP_LIMITS = dict(PUMP)

__all__ = [e.__name__ for e in ENUMS.values()] + [
    "ENUMS", "DRUG_LIBRARY", "DrugLimits", "ALARM_PRIORITY", "ALARM_LATCHING",
    "ALARM_REANNOUNCE_S", "PUMP_LIMITS"]
