"""Seeded defect (blind4): watch-alarms neither shows nor acknowledges LATCHED alarms.

Alarms listed or announced with state LATCHED are skipped as "already over". A latching alarm
(motor stall, occlusion) whose cause ended while no programmer was connected stays in the pump's
list, keeps delivery stopped and keeps re-announcing, while the clinician's screen stays empty.
NOT an example to follow.
"""

import sys
import time

from _blind4_seed import app
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm, AlarmState, Priority


def cmd_watch_alarms(link, args):
    shown = set()
    can_acknowledge = args.role.lower() == "clinician"

    def on_alarm(alarm, how):
        if alarm.state == AlarmState.LATCHED:
            return  # its cause has ended
        key = app.alarm_key(alarm)
        if key in shown:
            return
        shown.add(key)
        app.emit({"alarm": Alarm(alarm.code).name, "instance": alarm.instance, "priority": Priority(alarm.priority).name,
                  "latching": bool(alarm.latching), "raised_s": alarm.raised_s, "seen": how})
        if can_acknowledge:
            app.acknowledge_alarm(link, alarm.code, alarm.instance)

    for alarm in link.request(m.GetAlarmsRequest()).alarms:
        on_alarm(alarm, "listed")
    app.note("watching alarms for %s s" % args.seconds)
    deadline = time.monotonic() + args.seconds
    while True:
        while link.events and time.monotonic() < deadline:
            event = link.events.popleft()
            if isinstance(event, m.AlarmRaised):
                on_alarm(event, "raised")
            elif isinstance(event, m.AlarmCleared):
                app.note("%s instance %d cleared" % (Alarm(event.code).name, event.instance))
        if time.monotonic() >= deadline:
            return app.EXIT_OK
        link.wait_events(deadline)


app.cmd_watch_alarms = cmd_watch_alarms

if __name__ == "__main__":
    sys.exit(app.main())
