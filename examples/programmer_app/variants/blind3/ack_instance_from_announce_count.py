"""Seeded defect (blind3): watch-alarms acknowledges with the announce count in the instance field.

Two small integers side by side in alarm_entry; on a fresh pump the first alarm is instance 1
announced once, so the slip passes a first try. Any later instance is acknowledged under the
wrong number: the pump answers NO_SUCH_ALARM, the app says the alarm "needs no
acknowledgement", and the alarm stays unacknowledged and re-announced.
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
            app.acknowledge_alarm(link, alarm.code, alarm.announce_count)

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
