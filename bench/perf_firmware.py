"""Firmware core benchmark: GET_STATUS requests/s through Pump.receive, and a year fast-forwarded.

Targets (issue 3): >= 50,000 GET_STATUS requests/s in-process; 365 days of a FLEX schedule with
3 PTM boluses a day in <= 100 ms, with doses, volumes and log equal to stepping minute by minute
(asserted here, both timings reported). The MicroPython figure belongs to the WASM runner.

    python -m bench.perf_firmware [--quick]   # --quick: fewer repeats, 30 days stepped by the minute
    python -m bench.perf_firmware --against DIR [--rounds 8]

--against compares this tree's core with another copy of firmware_mock/ in DIR (made with
`git archive <commit> firmware_mock | tar -x -C DIR`): the two take turns, round after round,
each figure the best of its rounds of thread CPU time, so a shared machine's load falls on both
(wall-clock figures there swing threefold from minute to minute). Writes perf_firmware_against.json.
"""

import argparse
import importlib
import importlib.util
import os
import sys
import time
import timeit

from bench.common import write
from pumpmock.protocol import FrameDecoder, decode_message, encode_message
from pumpmock.protocol import messages as m
from pumpmock.protocol.auth import auth_mac, role_key
from pumpmock.protocol.codes import Drug, Role, TherapyMode

from pumpmock.firmware_mock.core import Pump

SERIAL = "PM-000001"
DAY_MS = 86_400_000
MINUTE_MS = 60_000
PTM_TIMES_MS = (8 * 3_600_000, 13 * 3_600_000, 19 * 3_600_000)
CAPACITY_UL = 40_000


class Driver:
    """Just enough of a host to set a pump up (the timed loops call Pump directly)."""

    def __init__(self, pump):
        self.pump = pump
        self.seq = 0
        self.decoder = FrameDecoder()

    def call(self, message, now_ms=0):
        self.seq += 1
        answers = [f for f in self.decoder.feed(self.pump.receive(encode_message(message, self.seq), now_ms))
                   if f.kind in (1, 4)]
        answer = decode_message(answers[-1])
        assert not isinstance(answer, m.Nak), answer
        return answer

    def authenticate(self, role):
        nonce = self.call(m.AuthChallengeRequest(role)).nonce
        self.call(m.AuthResponseRequest(role, auth_mac(role_key(SERIAL, role), nonce, SERIAL, role)))


def ready_pump(pump_class=Pump):
    pump = pump_class(serial=SERIAL, test_mode=True, capacity_ul=CAPACITY_UL)
    driver = Driver(pump)
    driver.call(m.HelloRequest(1, 1))
    driver.authenticate(Role.CLINICIAN)
    driver.call(m.RefillRequest(Drug.MORPHINE, 20_000, CAPACITY_UL))
    steps = tuple(m.FlexStep(start, rate) for start, rate in ((0, 1_000), (360, 1_500), (720, 1_000), (1_080, 1_200)))
    rx = m.Prescription(drug=Drug.MORPHINE, concentration_ug_per_ml=20_000, mode=TherapyMode.FLEX, steps=steps,
                        ptm_dose_ug=60, ptm_lockout_min=120, ptm_max_per_24h=3, max_daily_dose_ug=3_000,
                        refill_interval_days=365)
    driver.call(m.ProgramPrescriptionRequest((), rx))
    return pump, driver


def ptm_frames(days):
    return [encode_message(m.PtmBolusRequest(), 0x1000 + (i & 0x7FFF)) for i in range(days * 3)]


def year(step_ms=None, days=365):
    """Run `days` days with 3 PTM boluses a day; poll every step_ms (None: only at the boluses)."""
    pump, driver = ready_pump()
    frames = ptm_frames(days)
    start = time.perf_counter()
    now = 0
    bolus = 0
    for day in range(days):
        for at in PTM_TIMES_MS:
            due = day * DAY_MS + at
            if step_ms is not None:
                while now + step_ms < due:
                    now += step_ms
                    pump.poll(now)
            now = due
            pump.receive(frames[bolus], now)
            bolus += 1
    end = days * DAY_MS
    if step_ms is not None:
        while now + step_ms < end:
            now += step_ms
            pump.poll(now)
    pump.poll(end)
    elapsed = time.perf_counter() - start
    driver.authenticate(Role.CLINICIAN)
    log = []
    next_index = 0
    while True:
        page = driver.call(m.ReadLogRequest(next_index, 12), end)
        log += page.entries
        if not page.entries:
            break
        next_index = page.entries[-1].index + 1
    counters = driver.call(m.TcReadCountersRequest(), end)
    status = driver.call(m.TcGetStatusRequest(), end)
    return elapsed, counters._replace(requests_executed=0, dedup_hits=0), status, log


def pump_class_in(directory):
    """Pump from the copy of firmware_mock/ in directory, imported as a package of its own."""
    init = os.path.join(directory, "firmware_mock", "__init__.py")
    if not os.path.isfile(init):
        raise SystemExit("no firmware_mock/__init__.py in %s" % directory)
    name = "perf_firmware_against"
    found = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[os.path.dirname(init)])
    package = importlib.util.module_from_spec(found)
    sys.modules[name] = package
    found.loader.exec_module(package)
    return importlib.import_module(name + ".core").Pump


def taking_turns(pumps, rounds, passes=7, calls=10_000):
    """{(name, "same" or "polled"): best GET_STATUS/s of thread CPU}, the pumps taking turns."""
    status_frame = encode_message(m.GetStatusRequest(), 7)
    frames = [encode_message(m.GetStatusRequest(), 0x2000 + i) for i in range(calls)]
    clocks = dict.fromkeys(pumps, 2_000)
    best = {}
    names = list(pumps)
    for round_ in range(rounds):
        for name in (names if round_ % 2 == 0 else names[::-1]):  # neither always goes first
            receive = pumps[name].receive
            for _ in range(passes):
                start = time.thread_time()
                for _i in range(calls):
                    receive(status_frame, 1_000)
                spent = time.thread_time() - start
                best[name, "same"] = max(best.get((name, "same"), 0.0), calls / spent if spent else 0.0)
            for _ in range(passes):  # as a host polls: a new seq each, the clock a ms on
                now = clocks[name]
                start = time.thread_time()
                for i in range(calls):
                    receive(frames[i], now + i)
                spent = time.thread_time() - start
                clocks[name] = now + calls
                best[name, "polled"] = max(best.get((name, "polled"), 0.0), calls / spent if spent else 0.0)
    return best


def against(directory, rounds):
    before, _ = ready_pump(pump_class_in(directory))
    after, _ = ready_pump()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    best = taking_turns({"before": before, "after": after}, rounds)
    results = {"against": os.path.abspath(directory), "rounds": rounds,
               "load_average_start": load, "load_average_end": os.getloadavg()[0] if load is not None else None}
    for figure in ("same", "polled"):
        results["%s_before_per_s" % figure] = best["before", figure]
        results["%s_after_per_s" % figure] = best["after", figure]
        results["%s_after_over_before" % figure] = best["after", figure] / best["before", figure]
    # Both answer alike: the same status bytes at the same clock, after their different runs.
    probe = encode_message(m.GetStatusRequest(), 9)
    results["same_status_bytes"] = before.receive(probe, 10 ** 7) == after.receive(probe, 10 ** 7)
    write("perf_firmware_against", results)
    return 0 if results["same_status_bytes"] else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats; compare 30 days, not 365")
    parser.add_argument("--against", metavar="DIR", help="compare with the firmware_mock/ copy in DIR, taking turns")
    parser.add_argument("--rounds", type=int, default=8, help="rounds taking turns (with --against)")
    args = parser.parse_args(argv)
    if args.against:
        return against(args.against, args.rounds)
    repeats = 3 if args.quick else 9
    compared_days = 30 if args.quick else 365
    results = {}
    pump, driver = ready_pump()
    status_frame = encode_message(m.GetStatusRequest(), 7)
    # Best of several repeats: a shared machine only ever makes a run slower.
    calls = 10_000
    best = min(timeit.repeat(lambda: pump.receive(status_frame, 1_000), number=calls, repeat=repeats))
    results["get_status_requests_per_s"] = calls / best
    # As a host polls: every request a new seq, the clock a ms further on (reported, no target).
    frames = [encode_message(m.GetStatusRequest(), 0x2000 + i) for i in range(calls)]
    clock = [2_000]

    def polled():
        now = clock[0]
        for i in range(calls):
            pump.receive(frames[i], now + i)
        clock[0] = now + calls
    best = min(timeit.repeat(polled, number=1, repeat=repeats))
    results["get_status_polled_requests_per_s"] = calls / best

    fast = min((year() for _ in range(repeats // 2 + 1)), key=lambda run: run[0])
    counters = fast[1]
    assert counters.boluses_delivered == 365 * 3, counters
    results["year_fast_forward_ms"] = fast[0] * 1000
    compared = fast if compared_days == 365 else year(days=compared_days)
    stepped = year(MINUTE_MS, days=compared_days)
    assert compared[1:] == stepped[1:], "fast-forward and minute steps disagree"
    results["minute_steps_days"] = compared_days
    results["minute_steps_ms"] = stepped[0] * 1000
    results["year_delivered_ug"] = counters.delivered_ug
    results["year_delivered_ul"] = counters.delivered_ul
    results["year_boluses"] = counters.boluses_delivered
    results["year_log_entries"] = len(fast[3])
    results["fast_forward_equals_minute_steps"] = True
    write("perf_firmware", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
