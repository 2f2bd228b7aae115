"""Seeded defect (blind3): read-log prints only the first page (12 entries).

A partial read: the paging loop was lost in a refactor, so a log of more than one READ_LOG page
is cut at 12 entries, while next_index (printed too) says there are more.
NOT an example to follow.
"""

import sys

from _blind3_seed import app
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import LogKind


def cmd_read_log(link, args):
    page = link.request(m.ReadLogRequest(0, app.LOG_PAGE))
    start, end = page.oldest_index, page.next_index
    entries = [e for e in page.entries if e.index >= start]
    app.emit({"oldest_index": start, "next_index": end,
              "entries": [dict(app.readable(e), kind=LogKind(e.kind).name) for e in entries]})
    return app.EXIT_OK


app.cmd_read_log = cmd_read_log

if __name__ == "__main__":
    sys.exit(app.main())
