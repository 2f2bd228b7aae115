"""Seeded defect (blind3): watch-alarms takes its deadline from the wall clock.

The deadline is time.time() + seconds but is compared with time.monotonic() (as the loop and
pumplink.wait_events do): the two clocks have different origins, so on a machine whose
monotonic clock is behind the epoch (every Linux box) the watch never ends.
NOT an example to follow.
"""

import sys
import time

from _blind3_seed import app
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm, Priority


def cmd_watch_alarms(link, args):
    shown = set()
    can_acknowledge = args.role.lower() == "clinician"

    def on_alarm(alarm, how):
        key = app.alarm_key(alarm)
        if key in shown:
            return
        shown.add(key)
        app.emit({"alarm": Alarm(alarm.code).name, "instance": alarm.instance,
                  "priority": Priority(alarm.priority).name, "latching": bool(alarm.latching),
                  "raised_s": alarm.raised_s, "seen": how})
        if can_acknowledge:
            app.acknowledge_alarm(link, alarm.code, alarm.instance)

    for alarm in link.request(m.GetAlarmsRequest()).alarms:
        on_alarm(alarm, "listed")
    app.note("watching alarms for %s s" % args.seconds)
    deadline = time.time() + args.seconds
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
