"""Seeded defect: watch-alarms identifies an alarm by its code alone, not (code, instance).

The author knew a re-announcement is the same alarm and must not be shown again, and wrote the
key as the alarm code: "one motor stall is one motor stall". But each time an alarm is raised
anew it gets a new instance number, and it needs its own acknowledgement.

Effect: within one watch, an alarm that comes back (a motor stall acknowledged, cleared and
raised again; an occlusion that recurs) is taken for the one already handled: it is neither
shown nor acknowledged. The new instance stays unacknowledged at the pump, re-announced every
60 s, and the screen shows nothing after the first. Single alarms and re-announcements behave
as in the correct app, so a short watch looks right.

Shows with: watch-alarms --seconds 6 while a MOTOR_STALL is raised, cleared and raised again
(instance 1 shown and acknowledged, instance 2 neither). NOT an example to follow.
"""

import sys

from _blind2_seed import app


def alarm_key(alarm):
    return alarm.code  # DEFECT: a new instance of the same alarm is a new alarm


app.alarm_key = alarm_key

if __name__ == "__main__":
    sys.exit(app.main())
