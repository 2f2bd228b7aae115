"""Seeded defect: read-log names entry kinds from a table numbered from 0; the codes start at 1.

The author built the kind-name table with enumerate() over the log kinds, which numbers them
0, 1, 2 ..., while POWER_UP is 1 on the wire; unknown numbers are shown as "UNKNOWN" rather
than failing, so the last kind (TEST_CONTROL, 13) does not crash it either.

Effect: every entry of the audit log is shown under the NEXT kind's name, with its own code and
values: a BOLUS reads as PROGRAM, a PROGRAM as REFILL, a REFILL as ALARM_RAISED, an
ALARM_RAISED as ALARM_CLEARED, an ALARM_ACKED as SUSPEND, a PTM_REFUSED as TEST_CONTROL. A
clinician reviewing an incident sees a reprogramming where a bolus was given and an alarm
"cleared" that was raised. The index, clock and values are untouched, so nothing looks missing.

Shows with: read-log after a refill and a program (the REFILL entry's "kind" is ALARM_RAISED,
the PROGRAM entry's REFILL). NOT an example to follow.
"""

import sys

from _blind2_seed import app
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import LogKind

KIND_NAMES = dict(enumerate(kind.name for kind in LogKind))  # DEFECT: 0-based, the codes are 1-based


def cmd_read_log(link, args):
    page = link.request(m.ReadLogRequest(0, app.LOG_PAGE))
    start, end = page.oldest_index, page.next_index
    entries = [e for e in page.entries if e.index >= start]
    while entries and entries[-1].index + 1 < end:
        entries += link.request(m.ReadLogRequest(entries[-1].index + 1, app.LOG_PAGE)).entries
    app.emit({"oldest_index": start, "next_index": end,
              "entries": [dict(app.readable(e), kind=KIND_NAMES.get(e.kind, "UNKNOWN")) for e in entries]})
    return app.EXIT_OK


app.cmd_read_log = cmd_read_log

if __name__ == "__main__":
    sys.exit(app.main())
