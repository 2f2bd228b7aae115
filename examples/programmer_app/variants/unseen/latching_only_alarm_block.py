"""Seeded defect: therapy changes are refused only past a high-priority LATCHING alarm; a
non-latching high alarm ("it clears by itself when its cause is gone") does not block them.

Effect: with EMPTY_RESERVOIR standing (high, non-latching) the app still programs a new
prescription, asks for PTM boluses and delivers clinician boluses, without the clinician having
dealt with the alarm: e.g. a bridge bolus is "delivered" into an empty reservoir, the patient is
in withdrawal, and the app reports the change as made. Latching alarms (motor stall...) still
block, so the usual tests with a motor stall pass.

Shows with: program / ptm-bolus / clinician-bolus while EMPTY_RESERVOIR is listed (the correct
app exits 1 before sending anything). NOT an example to follow.
"""

import sys

from _unseen_seed import app
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm, Priority


def refuse_if_high_alarm(link):
    for alarm in link.request(m.GetAlarmsRequest()).alarms:
        if alarm.priority == Priority.HIGH and alarm.latching:  # DEFECT: non-latching high alarms pass
            raise app.Refused("high-priority alarm %s (instance %d) is active: deal with it and acknowledge "
                              "it (watch-alarms) before changing therapy" % (Alarm(alarm.code).name, alarm.instance))


app.refuse_if_high_alarm = refuse_if_high_alarm

if __name__ == "__main__":
    sys.exit(app.main())
