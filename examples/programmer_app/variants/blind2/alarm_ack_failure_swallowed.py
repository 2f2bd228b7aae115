"""Seeded defect: an ACK_ALARM that gets no answer is given up on silently.

watch-alarms is meant to keep watching whatever happens, so the author wrapped the
acknowledgement in a handler for link failures that moves on to the next alarm. The link
already retransmitted the ACK_ALARM three times; after that nothing is retried and nothing is said.

Effect: when the answers to one ACK_ALARM are lost, the alarm is shown, never acknowledged, and
the app says nothing about it and exits 0 as after a clean watch. The clinician, used to the app
acknowledging what it shows, believes it was; the pump keeps re-announcing it (every 60 s for a
high alarm) and the app drops the re-announcements as already handled. The correct app stops
with "link failure: no answer to ACK_ALARM" and exit code 2.

Shows with: watch-alarms --seconds 3 with a MOTOR_STALL listed and every answer to ACK_ALARM
lost (4 frames: the request and its 3 retransmissions): exit 0, no "acknowledged" line, the
alarm still unacknowledged at the pump. NOT an example to follow.
"""

import sys

from _blind2_seed import app, pumplink

_correct_acknowledge_alarm = app.acknowledge_alarm


def acknowledge_alarm(link, code, instance):
    try:
        _correct_acknowledge_alarm(link, code, instance)
    except pumplink.LinkFailed:
        pass  # DEFECT: gives up silently; the alarm stays unacknowledged and nobody is told


app.acknowledge_alarm = acknowledge_alarm

if __name__ == "__main__":
    sys.exit(app.main())
