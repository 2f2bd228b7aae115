"""Seeded defect (blind4): read-log pages through fixed offsets 0, 12, 24 ... up to next_index.

The pager assumes the log holds entries 0..next_index-1. Once the 512-entry ring has wrapped,
every page asked below oldest_index comes back as the oldest page again (the pump starts at the
oldest entry it holds), so the printed log repeats those entries: one bolus or refill shows as
several.
NOT an example to follow.
"""

import sys

from _blind4_seed import app
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import LogKind


def cmd_read_log(link, args):
    page = link.request(m.ReadLogRequest(0, app.LOG_PAGE))
    start, end = page.oldest_index, page.next_index
    entries = list(page.entries)
    for first in range(app.LOG_PAGE, end, app.LOG_PAGE):
        entries += link.request(m.ReadLogRequest(first, app.LOG_PAGE)).entries
    app.emit({"oldest_index": start, "next_index": end,
              "entries": [dict(app.readable(e), kind=LogKind(e.kind).name) for e in entries]})
    return app.EXIT_OK


app.cmd_read_log = cmd_read_log

if __name__ == "__main__":
    sys.exit(app.main())
