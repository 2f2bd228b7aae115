"""Seeded defect (reviewer5): watch-alarms tells the clinician one alarm fewer is still listed.

After each ACK_ALARM the app notes "(N alarm(s) still listed)". The pump's `remaining` already
is the number still listed; the team took it to include the alarm just acknowledged and took
one off. An acknowledged alarm whose cause goes on (an occlusion) stays listed, so the clinician
acknowledging the only alarm reads "0 alarm(s) still listed" while it still stands.
NOT an example to follow.
"""

import sys

from _reviewer5_seed import app, pumplink
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm


def acknowledge_alarm(link, code, instance):
    try:
        remaining = link.request(m.AckAlarmRequest(code, instance)).remaining
    except pumplink.PumpRefused as refused:
        if refused.error == "NO_SUCH_ALARM":
            app.note("%s instance %d needs no acknowledgement (already acknowledged or gone)"
                     % (Alarm(code).name, instance))
            return
        raise
    others = max(remaining - 1, 0)  # DEFECT: `remaining` does not count the acknowledged alarm as gone
    app.note("acknowledged %s instance %d (%d alarm(s) still listed)" % (Alarm(code).name, instance, others))


app.acknowledge_alarm = acknowledge_alarm

if __name__ == "__main__":
    sys.exit(app.main())
