"""Whether the target still answers, and what the bench saw last when it stopped: for a bench run that never ends without a report.

    frames = LastFrames(report_dir / "target-session.jsonl")   # tap it into every connection to the target
    why = silent(url, connect_options)                         # None while it answers HELLO, else why not
    death = obituary(frames, started_wall, "link", why, crash_reader)

A board can stop answering in the middle of a run (a MemoryError in the firmware, a hang, a
brown-out). The bench then asks it for HELLO a few times; when none is answered it stops, and the
report says when the board died, during which section, the last frames it exchanged and, where
the board can tell, the firmware's own traceback (main.py writes /pumpmock_crash.txt before it
falls back to the REPL, where mpremote can read it).
"""

import collections
import datetime
import time

from .. import connect
from ..transcript import TranscriptRecorder, format_entry
from ..wire import PUMP_TO_HOST

LAST_FRAMES = 20  # frames shown in the report
PROBES = 3  # HELLOs tried before the target counts as gone
PROBE_PAUSE_S = 1.0  # between them: a board that is busy (a long warp) or rebooting gets the time


class LastFrames:
    """A transcript recorder for every connection the bench opens to the target, keeping the last
    frames with the wall-clock time each was seen (the recorder's own t restarts per connection)."""

    def __init__(self, path, keep=LAST_FRAMES):
        self.recent = collections.deque(maxlen=keep)  # (wall s, entry)
        self.last_answer_wall = None  # time.time() of the last frame from the pump
        self.recorder = TranscriptRecorder(path, meta={"what": "every frame the bench exchanged with the target "
                                                       "(the fuzz campaign's are in its own transcripts)"},
                                           on_entry=self._seen)

    def _seen(self, entry):
        now = time.time()
        self.recent.append((now, entry))
        if entry["dir"] == PUMP_TO_HOST:
            self.last_answer_wall = now

    # The recorder interface TappedPort uses, forwarded, so one LastFrames taps many connections.
    def feed(self, direction, data, t=None):
        return self.recorder.feed(direction, data, t)

    def record(self, direction, block, t=None):
        return self.recorder.record(direction, block, t)

    @property
    def path(self):
        return self.recorder.path

    def close(self):
        self.recorder.close()

    def lines(self, started_wall):
        """The kept frames as readable lines, stamped with seconds since the run started."""
        return ["+%.3f s %s" % (wall - started_wall, format_entry(entry).split(" ", 1)[1])
                for wall, entry in self.recent]


class Tee:
    """Two recorders as one (the scenario's own transcript and the run's LastFrames)."""

    def __init__(self, *recorders):
        self.recorders = recorders
        self.path = getattr(recorders[0], "path", None)

    def feed(self, direction, data, t=None):
        entries = []
        for recorder in self.recorders:
            entries = recorder.feed(direction, data, t)
        return entries

    def record(self, direction, block, t=None):
        entry = None
        for recorder in self.recorders:
            entry = recorder.record(direction, block, t)
        return entry


def silent(url, connect_options, probes=PROBES, pause_s=PROBE_PAUSE_S, sleep=time.sleep):
    """None when the target answers HELLO (within `probes` tries), else what the last try raised."""
    options = {key: value for key, value in connect_options.items() if key != "transcript"}
    why = None
    for attempt in range(probes):
        if attempt:
            sleep(pause_s)
        try:
            with connect(url, **options):
                return None
        except Exception as error:  # noqa: BLE001 - any way of not answering is the finding
            why = "%s: %s" % (type(error).__name__, error)
    return why


def _iso(wall):
    return datetime.datetime.fromtimestamp(wall, datetime.timezone.utc).isoformat(timespec="milliseconds")


def obituary(frames, started_wall, section, why, crash_reader=None):
    """The report's "died" section: when, during what, the last frames and the firmware's traceback."""
    now = time.time()
    death = {"during": section, "noticed_at": _iso(now), "noticed_after_s": round(now - started_wall, 2),
             "last_answer_at": None, "last_answer_after_s": None, "error": why,
             "last_frames": frames.lines(started_wall) if frames is not None else []}
    if frames is not None and frames.last_answer_wall is not None:
        death["last_answer_at"] = _iso(frames.last_answer_wall)
        death["last_answer_after_s"] = round(frames.last_answer_wall - started_wall, 2)
    if crash_reader is None:
        death["crash"] = {"status": "not read", "reason": "only a board on a serial port can be asked for "
                          "/pumpmock_crash.txt (mpremote)"}
    else:
        try:
            text = crash_reader()
        except Exception as error:  # noqa: BLE001 - a board that hangs cannot give a REPL either
            death["crash"] = {"status": "unreadable", "reason": "%s: %s" % (type(error).__name__, error)}
        else:
            death["crash"] = ({"status": "none", "reason": "the board has no /pumpmock_crash.txt: it hung or lost "
                               "power rather than crashed"} if text is None else {"status": "read", "text": text})
    return death
