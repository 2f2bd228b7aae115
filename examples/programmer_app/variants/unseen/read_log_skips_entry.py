"""Seeded defect: read-log's page loop asks for the next page from the last entry's index + 2
(the author took READ_LOG's start_index to be "after this one", then added 1 again).

Effect: one log entry is silently lost at every page boundary (every 13th entry with the
12-entry pages). The clinician reviewing the log after an incident does not see, say, the PTM
bolus or the alarm that was the 13th event; "oldest_index"/"next_index" still look complete.
Logs of 12 entries or fewer are shown correctly, so a short session hides it.

Shows with: read-log on a pump with more than 12 log entries (the "index" values jump 11 -> 13).
NOT an example to follow.
"""

import sys

from _unseen_seed import app
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import LogKind


def cmd_read_log(link, args):
    page = link.request(m.ReadLogRequest(0, app.LOG_PAGE))
    start, end = page.oldest_index, page.next_index
    entries = [e for e in page.entries if e.index >= start]
    while entries and entries[-1].index + 1 < end:
        following = link.request(m.ReadLogRequest(entries[-1].index + 2, app.LOG_PAGE)).entries  # DEFECT: + 2
        if not following:
            break
        entries += following
    app.emit({"oldest_index": start, "next_index": end,
              "entries": [dict(app.readable(e), kind=LogKind(e.kind).name) for e in entries]})
    return app.EXIT_OK


app.cmd_read_log = cmd_read_log

if __name__ == "__main__":
    sys.exit(app.main())
