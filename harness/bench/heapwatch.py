"""The bench's heap figures: the firmware's own TC_HEAP_INFO read around every phase, held to budgets.

    watch = HeapWatch(url, connect_options)
    watch.around("the conformance checks", run_checks_section)   # reads before and after
    section = watch.memory_workload()   # a full log, its download, a power loss with it: one session
    watch.report()                      # {"status": ..., "budgets": ..., "phases": [...]}

A phase's window opens with TC_RESET and a first TC_HEAP_INFO (its `used_bytes` is the phase's
at-rest figure: the firmware's code and an empty state) and closes with a second TC_HEAP_INFO,
whose extremes cover every watch point in between (docs/PUMP_MODEL.md section 14, "Watching the
heap"). A phase crosses its budget when the firmware held more than PEAK_GROWTH_BUDGET over the
at-rest figure, when free heap fell below LOW_FREE_BUDGET (where the port can tell: a board), or
when one storage buffer or state body was larger than LARGEST_BUFFER_BUDGET. bench/README.md
states the budgets and why.

Each ask is a connection of its own (a pty or a board's console is one line: no second
connection may stay open beside a section's). A target whose every connection starts a new pump
(exec:, an unnamed pumpmock://) cannot be watched across connections: its windows around the
other sections are "not measured", and only the memory workload, in one session, is.
"""

from pumpmock.protocol.catalog import PUMP
from pumpmock.protocol.codes import Drug, Role

from .. import connect
from ..checks import MORPHINE_UG_PER_ML, morphine
from ..errors import NotInTestModeError, UnknownMessageError

# Budgets (bytes). Measured under MicroPython's WebAssembly port (bench/README.md): at rest
# ~111 KB used (runtime, firmware, empty state), a full log +32 KB, its download +14 KB more at
# the deepest reading; a Pico-class board has ~190 KB free before the firmware is imported.
PEAK_GROWTH_BUDGET = 64 * 1024  # held above the at-rest figure, at any watch point of a phase
LOW_FREE_BUDGET = 16 * 1024  # free heap left at the fullest moment (a fragmented heap needs slack)
LARGEST_BUFFER_BUDGET = 512  # one storage read or write, or a state body (PUMP_MODEL section 14)
BUDGETS = {"peak_growth_bytes": PEAK_GROWTH_BUDGET, "low_free_bytes": LOW_FREE_BUDGET,
           "largest_buffer_bytes": LARGEST_BUFFER_BUDGET}
FIELDS = ("free_bytes", "low_free_bytes", "used_bytes", "peak_used_bytes", "largest_buffer_bytes")

FULL_LOG = "a full event log"
LOG_DOWNLOAD = "log download"
POWER_LOSS = "power loss with a full log"


def new_pump_per_connection(url):
    """Whether every connection to `url` starts a pump of its own (nothing to watch across them)."""
    if url.startswith("exec://"):
        return True
    if url.startswith("pumpmock://"):
        rest = url[len("pumpmock://"):]
        return not (rest.split("?")[0] or "name=" in rest)
    return False


def figures(answer):
    return {name: getattr(answer, name) for name in FIELDS}


def judge(phase, at_rest, closing, budgets=None):
    """The phase's row: its figures, growth over the at-rest reading, and every budget it crossed."""
    budgets = budgets or BUDGETS
    row = {"phase": phase, "at_rest_used_bytes": at_rest["used_bytes"]}
    row.update(closing)
    over = []
    if closing["used_bytes"]:  # the port can tell
        growth = closing["peak_used_bytes"] - at_rest["used_bytes"]
        row["peak_growth_bytes"] = growth
        if growth > budgets["peak_growth_bytes"]:
            over.append("held %d bytes above its at-rest %d (budget %d)"
                        % (growth, at_rest["used_bytes"], budgets["peak_growth_bytes"]))
        if closing["low_free_bytes"] < budgets["low_free_bytes"]:
            over.append("free heap fell to %d bytes (budget: at least %d)"
                        % (closing["low_free_bytes"], budgets["low_free_bytes"]))
    else:
        row["peak_growth_bytes"] = None
        row["heap"] = "unknown (the port has no gc.mem_free: CPython)"
    if closing["largest_buffer_bytes"] > budgets["largest_buffer_bytes"]:
        over.append("one buffer of %d bytes (budget %d)"
                    % (closing["largest_buffer_bytes"], budgets["largest_buffer_bytes"]))
    row["over_budget"] = over
    row["status"] = "over budget" if over else "within budget"
    return row


class HeapWatch:
    """Readings of one bench run's target, phase by phase."""

    def __init__(self, url, connect_options, budgets=None, available=True):
        self.url = url
        self.connect_options = dict(connect_options)
        self.budgets = dict(budgets or BUDGETS)
        self.across_connections = not new_pump_per_connection(url)
        self.phases = []
        self.unavailable = None if available else "the target is not in test mode"

    # ---- the windows -------------------------------------------------------------------------
    def _ask(self, session):
        try:
            return figures(session.test.heap_info())
        except UnknownMessageError:
            self.unavailable = "the firmware has no TC_HEAP_INFO (flash a newer one)"
        except NotInTestModeError:
            self.unavailable = "the target is not in test mode"
        return None

    def _open_window(self, session):
        """TC_RESET, then the window's first reading (the at-rest figure), or None."""
        session.test.reset(seed=1)
        self._ask(session)  # the first ask since boot only starts the watch: its extremes are its own
        return self._ask(session)

    def around(self, phase, run):
        """run() (a bench section), with a heap window around it where the target allows one."""
        if self.unavailable is not None or not self.across_connections:
            self.phases.append({"phase": phase, "status": "not measured",
                                "reason": self.unavailable or "every connection to this target starts a new "
                                "pump: only the memory workload, in one session, is watched"})
            return run()
        at_rest = None
        try:
            with connect(self.url, **self.connect_options) as session:
                at_rest = self._open_window(session)
        except Exception as error:  # noqa: BLE001 - the section runs all the same; the window is lost
            self.phases.append({"phase": phase, "status": "not measured", "reason": "%s: %s"
                                % (type(error).__name__, error)})
            return run()
        result = run()
        if at_rest is None:
            return result
        try:
            with connect(self.url, **self.connect_options) as session:
                closing = self._ask(session)
        except Exception as error:  # noqa: BLE001 - a target that died is the lifeline's to report
            self.phases.append({"phase": phase, "status": "not measured", "reason": "%s: %s"
                                % (type(error).__name__, error)})
            return result
        if closing is not None:
            self.phases.append(judge(phase, at_rest, closing, self.budgets))
        return result

    # ---- the memory workload -------------------------------------------------------------------
    def memory_workload(self, progress=print, tap=None):
        """A full event log, its download, a power loss with it: one session, a window each."""
        if self.unavailable is not None:
            return {"status": "not run", "reason": self.unavailable}
        options = dict(self.connect_options)
        if tap is not None:
            options["transcript"] = tap
        progress("memory: %s, %s, %s" % (FULL_LOG, LOG_DOWNLOAD, POWER_LOSS))
        with connect(self.url, **options) as session:
            at_rest = self._open_window(session)
            if at_rest is None:
                return {"status": "not run", "reason": self.unavailable}
            test = session.test
            session.authenticate(Role.CLINICIAN)
            session.refill(Drug.MORPHINE, MORPHINE_UG_PER_ML, 20_000)
            session.program(morphine())
            capacity = session.read_log(0, 1)
            while capacity.next_index - capacity.oldest_index < PUMP["log_capacity"]:
                for _i in range(64):
                    test.set_battery(100)  # each logs one test-control entry
                capacity = session.read_log(0, 1)
            self._closed(FULL_LOG, at_rest, session)
            entries = len(session.download_log())
            self._closed(LOG_DOWNLOAD, at_rest, session)
            reboots = test.power_loss(0)
            self._closed(POWER_LOSS, at_rest, session)
        return {"status": "ran", "log_entries": entries, "reboots": reboots}

    def _closed(self, phase, at_rest, session):
        closing = self._ask(session)
        if closing is not None:
            self.phases.append(judge(phase, at_rest, closing, self.budgets))

    # ---- the report ----------------------------------------------------------------------------
    def report(self):
        measured = [row for row in self.phases if row["status"] != "not measured"]
        if self.unavailable is not None and not measured:
            status = "not available"
        elif any(row["status"] == "over budget" for row in measured):
            status = "over budget"
        elif measured and all(row.get("heap") for row in measured):
            status = "heap unknown"  # only the buffer budget could be judged
        else:
            status = "within budget" if measured else "not measured"
        section = {"status": status, "budgets": self.budgets, "phases": self.phases}
        if self.unavailable is not None:
            section["reason"] = self.unavailable
        return section

