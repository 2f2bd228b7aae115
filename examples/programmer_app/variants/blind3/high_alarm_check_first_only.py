"""Seeded defect (blind3): the high-priority alarm check looks only at the first alarm listed.

"The pump lists the worst alarm first" is not what the protocol says: GET_ALARMS keeps raise
order. A high-priority alarm raised after a medium one (low reservoir, then a motor stall) does
not stop program, ptm-bolus or clinician-bolus.
NOT an example to follow.
"""

import sys

from _blind3_seed import app
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm, Priority


def refuse_if_high_alarm(link):
    alarms = link.request(m.GetAlarmsRequest()).alarms
    if alarms and alarms[0].priority == Priority.HIGH:
        raise app.Refused("high-priority alarm %s (instance %d) is active: deal with it and acknowledge it "
                          "(watch-alarms) before changing therapy" % (Alarm(alarms[0].code).name, alarms[0].instance))


app.refuse_if_high_alarm = refuse_if_high_alarm

if __name__ == "__main__":
    sys.exit(app.main())
