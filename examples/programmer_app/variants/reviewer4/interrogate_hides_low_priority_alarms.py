"""Seeded defect (reviewer4): interrogate leaves LOW-priority alarms out of its alarm list.

The team thought of low-priority alarms (a refused patient bolus, the daily maximum reached) as
notices, not alarms, and kept the report "to what needs action": the clinician reading the
report never learns that the patient has been pressing for boluses the pump refused.
NOT an example to follow.
"""

import sys

from _reviewer4_seed import app
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Priority


def cmd_interrogate(link, args):
    status = link.request(m.GetStatusRequest())
    rx = app.current_prescription(link)
    alarms = [a for a in link.request(m.GetAlarmsRequest()).alarms if a.priority != Priority.LOW]  # DEFECT
    identity = link.identity
    app.emit({"pump": {"serial": identity.serial, "firmware_version": identity.firmware_version,
                       "test_mode": identity.test_mode, "capacity_ul": identity.capacity_ul},
              "status": app.readable(status), "prescription": app.readable(rx) if rx is not None else None,
              "alarms": app.readable(alarms)})
    return app.EXIT_OK


app.cmd_interrogate = cmd_interrogate

if __name__ == "__main__":
    sys.exit(app.main())
