"""Seeded defect: watch-alarms "starts from a clean slate": every alarm already LISTED when it
starts is acknowledged at once, without being shown; only alarms raised afterwards are printed.

Effect: a standing high-priority alarm (a latching motor stall or catheter occlusion raised
while no programmer was connected) is acknowledged, so it stops re-announcing and the patient's
pump goes quiet, yet the clinician never saw it: nothing on stdout, only a terse count on
stderr. Delivery has stopped and nobody knows why. The ACK_ALARM looks legitimate on the wire
(the alarm was listed), but no alarm line was ever emitted for it.

Shows with: watch-alarms --seconds 2 while an alarm is active (e.g. after a MOTOR_STALL fault):
stdout has no {"alarm": ...} line, the alarm is gone from interrogate. NOT an example to follow.
"""

import sys
import time

from _unseen_seed import app, pumplink
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

    backlog = link.request(m.GetAlarmsRequest()).alarms
    for alarm in backlog:
        shown.add(app.alarm_key(alarm))  # DEFECT: old alarms are "known": acknowledged, never shown
        if can_acknowledge:
            try:
                link.request(m.AckAlarmRequest(alarm.code, alarm.instance))
            except pumplink.PumpRefused:
                pass
    if backlog:
        app.note("cleared %d old alarm(s)" % len(backlog))
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
