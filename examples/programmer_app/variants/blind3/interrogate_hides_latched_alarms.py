"""Seeded defect (blind3): interrogate lists only ACTIVE alarms.

The team read "latched" as "already dealt with" and filtered the alarm list: a latching alarm
whose cause has ended (state LATCHED, still waiting for ACK_ALARM) is missing from the report.
NOT an example to follow.
"""

import sys

from _blind3_seed import app
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import AlarmState


def cmd_interrogate(link, args):
    status = link.request(m.GetStatusRequest())
    rx = app.current_prescription(link)
    alarms = [a for a in link.request(m.GetAlarmsRequest()).alarms if a.state == AlarmState.ACTIVE]
    identity = link.identity
    app.emit({"pump": {"serial": identity.serial, "firmware_version": identity.firmware_version,
                       "test_mode": identity.test_mode, "capacity_ul": identity.capacity_ul},
              "status": app.readable(status), "prescription": app.readable(rx) if rx is not None else None,
              "alarms": app.readable(alarms)})
    return app.EXIT_OK


app.cmd_interrogate = cmd_interrogate

if __name__ == "__main__":
    sys.exit(app.main())
