"""Seeded defect (reviewer4): the high-priority alarm block counts only alarms in state ACTIVE.

The team read LATCHED as "the cause is over, so it is safe": a motor stall or an occlusion that
has stopped but was never acknowledged no longer stops program, ptm-bolus or clinician-bolus,
though nobody has looked at why the pump stopped delivering.
NOT an example to follow.
"""

import sys

from _reviewer4_seed import app
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm, AlarmState, Priority


def refuse_if_high_alarm(link):
    for alarm in link.request(m.GetAlarmsRequest()).alarms:
        if alarm.priority == Priority.HIGH and alarm.state == AlarmState.ACTIVE:  # DEFECT: LATCHED let through
            raise app.Refused("high-priority alarm %s (instance %d) is active: deal with it and acknowledge it "
                              "(watch-alarms) before changing therapy" % (Alarm(alarm.code).name, alarm.instance))


app.refuse_if_high_alarm = refuse_if_high_alarm

if __name__ == "__main__":
    sys.exit(app.main())
