"""Seeded defect: watch-alarms labels priorities from a list in urgency order, indexed by code.

The author wrote the labels as the alarm screen shows them, most urgent first
("HIGH", "MEDIUM", "LOW"), and picked one with priority - 1, but the priority codes count the
other way (LOW 1, MEDIUM 2, HIGH 3).

Effect: on the alarm watch every HIGH alarm (motor stall, empty reservoir, catheter occlusion,
end of service) is shown as "LOW", and the informational DAILY_MAX_REACHED / PTM_LOCKOUT as
"HIGH"; MEDIUM stays MEDIUM, so the table looks plausible. A clinician triaging by the label
leaves a stalled pump for later. The therapy-change check compares codes, not labels, so it is
unaffected, and interrogate shows the right names.

Shows with: watch-alarms --seconds 2 with a MOTOR_STALL listed ("priority": "LOW").
NOT an example to follow.
"""

import sys
import time

from _blind2_seed import app
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm

PRIORITY_LABELS = ("HIGH", "MEDIUM", "LOW")  # most urgent first, as on the alarm screen


def priority_label(priority):
    return PRIORITY_LABELS[priority - 1]  # DEFECT: codes are LOW=1 .. HIGH=3


def cmd_watch_alarms(link, args):
    shown = set()
    can_acknowledge = args.role.lower() == "clinician"

    def on_alarm(alarm, how):
        key = app.alarm_key(alarm)
        if key in shown:
            return
        shown.add(key)
        app.emit({"alarm": Alarm(alarm.code).name, "instance": alarm.instance,
                  "priority": priority_label(alarm.priority),
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
