"""Seeded defect: the clinician bolus duration typed in minutes goes on the wire unconverted.

The author took CLINICIAN_BOLUS's duration to be in minutes, like the prescription's
ptm_lockout_min next to it in the catalog, so the minutes-to-seconds conversion the app uses for
it only checks the number and keeps it as it is (the field is duration_s).

Effect: `--duration-min 90` asks the pump for a 90-SECOND bolus: the whole dose goes in 60 times
faster than the clinician ordered (a bridge bolus of opioid pushed through the catheter in a
minute and a half). The confirmation prompt still says "over 90 min", the local range check
(60..86400 s) lets every duration of 60 min or more through, and durations under 60 min are
refused with a confusing "duration 30 s is outside 60..86400 s".

Shows with: clinician-bolus --dose-mg 0.5 --duration-min 90 --yes (duration_s 90 on the wire,
ends_s = clock + 90 in the output, instead of 5400). NOT an example to follow.
"""

import sys

from _blind2_seed import app, dosing


def minutes_to_s(text):
    # DEFECT: the bolus duration field is believed to be in minutes: no × 60
    return dosing._whole(text, 1, "min", "min")


dosing.minutes_to_s = minutes_to_s

if __name__ == "__main__":
    sys.exit(app.main())
