"""Seeded defect (blind4): the basal daily dose is taken from --max-mg-per-day.

A copy-paste slip in build_prescription: daily_dose_ug is converted from the maximum daily dose
argument. `--dose-mg-per-day 3 --max-mg-per-day 5` programs 5 mg/day of basal morphine. The pump
accepts it (basal equal to the ceiling breaks no limit), the read-back compares the pump with the
app's own wrong prescription and passes.
NOT an example to follow.
"""

import sys

from _blind4_seed import app, dosing
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import TherapyMode


def build_prescription(args, drug, concentration_ug_per_ml):
    with_ptm = args.ptm_dose_mg is not None
    return m.Prescription(
        drug=drug, concentration_ug_per_ml=concentration_ug_per_ml, mode=TherapyMode.SIMPLE_CONTINUOUS,
        daily_dose_ug=dosing.mg_to_ug(args.max_mg_per_day), steps=(),
        ptm_dose_ug=dosing.mg_to_ug(args.ptm_dose_mg) if with_ptm else 0,
        ptm_lockout_min=dosing.hours_to_min(args.ptm_lockout_h) if with_ptm else 0,
        ptm_max_per_24h=args.ptm_max if with_ptm else 0,
        max_daily_dose_ug=dosing.mg_to_ug(args.max_mg_per_day),
        refill_interval_days=args.refill_interval_days)


app.build_prescription = build_prescription

if __name__ == "__main__":
    sys.exit(app.main())
