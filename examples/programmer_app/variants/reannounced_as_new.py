"""Seeded defect: an alarm is identified by its whole record, announce_count included.

Effect: every re-announcement of an alarm looks like a new alarm: shown again and acknowledged
again. NOT an example to follow.
"""

import sys

from _seed import app


def alarm_key(alarm):
    return (alarm.code, alarm.instance, alarm.announce_count)  # DEFECT: announce_count is not identity


app.alarm_key = alarm_key

if __name__ == "__main__":
    sys.exit(app.main())
