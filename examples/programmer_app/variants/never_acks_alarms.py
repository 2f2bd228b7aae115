"""Seeded defect: alarms are shown but never acknowledged with ACK_ALARM.

Effect: the pump keeps re-announcing the alarm; the alarm stands unacknowledged.
NOT an example to follow.
"""

import sys

from _seed import app


def acknowledge_alarm(link, code, instance):
    pass  # DEFECT: "the clinician saw it on screen": ACK_ALARM is never sent


app.acknowledge_alarm = acknowledge_alarm

if __name__ == "__main__":
    sys.exit(app.main())
