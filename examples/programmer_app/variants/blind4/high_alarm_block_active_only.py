"""Seeded defect (blind4): a LATCHED high-priority alarm does not block a therapy change.

The alarm check before program, clinician-bolus and ptm-bolus looks only at alarms whose state
is ACTIVE ("a latched alarm's cause is gone"). A motor stall whose fault has cleared but that no
clinician has acknowledged still stops delivery; the app programs past it and reports success.
NOT an example to follow.
"""

import sys

from _blind4_seed import app
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm, AlarmState, Priority


def refuse_if_high_alarm(link):
    for alarm in link.request(m.GetAlarmsRequest()).alarms:
        if alarm.priority == Priority.HIGH and alarm.state == AlarmState.ACTIVE:
            raise app.Refused("high-priority alarm %s (instance %d) is active: deal with it and acknowledge it "
                              "(watch-alarms) before changing therapy" % (Alarm(alarm.code).name, alarm.instance))


app.refuse_if_high_alarm = refuse_if_high_alarm

if __name__ == "__main__":
    sys.exit(app.main())
