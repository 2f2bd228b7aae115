"""Seeded defect: the alarm list is cached on disk between sessions and trusted for 10 minutes.

To save a telemetry exchange, the team keeps the alarm list each session reads (interrogate, or
the high-alarm check before a therapy change) in a small file per pump serial, and the check
before a change uses that file instead of asking the pump while it is younger than 10 minutes.

Effect: an alarm raised after the last read is not seen by the check. A clinician interrogates
(no alarms), the pump raises MOTOR_STALL, and a `program` a minute later goes ahead past a
high-priority alarm nobody has looked at; the correct app asks the pump and refuses. interrogate
itself always asks the pump, so its output looks right. (The cache is
$TMPDIR/programmer-alarms-<serial>.json; delete it to start clean.)

Shows with: interrogate, then a MOTOR_STALL injected, then program --drug morphine
--dose-mg-per-day 3 --max-mg-per-day 5 within 10 minutes (PROGRAM_PRESCRIPTION sent, no
GET_ALARMS in that session). NOT an example to follow.
"""

import json
import os
import sys
import tempfile
import time

from _blind2_seed import app
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm, Priority

CACHE_FRESH_S = 600


def _cache_path(link):
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in link.identity.serial)
    return os.path.join(tempfile.gettempdir(), "programmer-alarms-%s.json" % safe)


def _store(link, alarms):
    data = {"saved": time.time(), "alarms": [[a.code, a.priority, a.instance] for a in alarms]}
    try:
        with open(_cache_path(link), "w") as out:
            json.dump(data, out)
    except OSError:
        pass


def _cached(link):
    try:
        with open(_cache_path(link)) as cached:
            data = json.load(cached)
    except (OSError, ValueError):
        return None
    if time.time() - data.get("saved", 0) > CACHE_FRESH_S:
        return None
    return data["alarms"]


def refuse_if_high_alarm(link):
    alarms = _cached(link)  # DEFECT: a list up to 10 minutes old, from an earlier session
    if alarms is None:
        listed = link.request(m.GetAlarmsRequest()).alarms
        _store(link, listed)
        alarms = [[a.code, a.priority, a.instance] for a in listed]
    for code, priority, instance in alarms:
        if priority == Priority.HIGH:
            raise app.Refused("high-priority alarm %s (instance %d) is active: deal with it and acknowledge it "
                              "(watch-alarms) before changing therapy" % (Alarm(code).name, instance))


_correct_interrogate = app.cmd_interrogate


def cmd_interrogate(link, args):
    result = _correct_interrogate(link, args)
    _store(link, link.request(m.GetAlarmsRequest()).alarms)
    return result


app.refuse_if_high_alarm = refuse_if_high_alarm
app.cmd_interrogate = cmd_interrogate

if __name__ == "__main__":
    sys.exit(app.main())
