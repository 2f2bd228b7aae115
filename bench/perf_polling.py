"""Busy-polling benchmark: the default against polling off and always-on polling, idle and under a CPU hog.

Targets (issue 15), measured side by side in one run, as ratios:
  under a hog on every CPU   default round trips/s >= 0.9 x polling off
  idle (no hog of ours)      default round trips/s >= 0.9 x the best setting measured
on TCP and on a pty, with three settings of server and client together:
  default  `pumpmock serve` and the client as they come (adaptive polling, portio.BusyPoll)
  off      `--busy-poll-us 0`, client busy_poll_s=0: both sleep in select
  always   polling every wait, the server 500 us and the client 300 us (the old default)
Each round measures every setting idle and then with the hog (one spinning process per CPU,
started and stopped here), the settings taking turns in short slices (each order in turn, so
each setting follows each other as often) and the machine's other load falls on each alike; a
setting's figure pools all its slices.

    python -m bench.perf_polling [--quick]
"""

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import time

from bench.common import ROOT, served, write
from pumpmock import harness
from pumpmock.harness.portio import BusyPoll, cpus
from pumpmock.protocol.codes import Role

SETTINGS = ("default", "off", "always")
ORDERS = list(itertools.permutations(SETTINGS))
TRANSPORTS = ("tcp", "pty")
LOADED_MIN_RATIO = 0.9  # default vs polling off under the hog
IDLE_MIN_RATIO = 0.9  # default vs the best setting, idle

# The old always-on polling needs a server built in code: `pumpmock serve` polls adaptively.
ALWAYS_SERVER = """
import sys
from pumpmock.harness.portio import BusyPoll
from pumpmock.harness.servers import PtyServer, TcpServer, make_pump
pump = make_pump(test_mode=True)
poll = BusyPoll(0.0005, adaptive=False)
server = PtyServer(pump, busy_poll_s=poll) if sys.argv[1] == "pty" else TcpServer(pump, busy_poll_s=poll)
print(server.path if sys.argv[1] == "pty" else server.address, flush=True)
server.serve_forever()
"""

HOG = "while True: pass"


def start_server(transport, setting):
    """(process, URL) of a pump server for one setting."""
    if setting == "always":
        process = subprocess.Popen([sys.executable, "-c", ALWAYS_SERVER, transport], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, cwd=ROOT)
        where = process.stdout.readline().strip()
        if not where:
            process.kill()
            raise RuntimeError("the always-polling server printed no address: %s" % process.stderr.read())
    else:
        flags = ["--pty"] if transport == "pty" else ["--tcp", "0"]
        if setting == "off":
            flags += ["--busy-poll-us", "0"]
        process, where = served(flags)
    return process, (where if transport == "pty" else "socket://" + where)


def client_poll(setting):
    """The client's busy_poll_s for a setting (None: the client's default)."""
    return {"default": None, "off": 0.0, "always": BusyPoll(0.0003, adaptive=False)}[setting]


def open_session(url, setting):
    session = harness.connect(url, role=Role.CLINICIAN, timeout=1, busy_poll_s=client_poll(setting))
    for _ in range(20):
        session.status()
    return session


def measure(session, seconds, into):
    """GET_STATUS round trips for `seconds`; their latencies (s) are added to `into`. Returns the time taken."""
    start = now = time.perf_counter()
    deadline = start + seconds
    while now < deadline:
        session.status()
        later = time.perf_counter()
        into.append(later - now)
        now = later
    return now - start


class Hog:
    """One busy process per CPU, for as short a time as the loaded rounds take."""

    def __init__(self):
        self.processes = []

    def __enter__(self):
        self.processes = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(os.cpu_count() or 1)]
        time.sleep(0.2)  # every hog is running before the first round trip
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait(timeout=10)


def run(rounds, slices, seconds):
    """{(condition, transport, setting): [(round trips/s, p99 µs) per round]}.

    In a round every setting gets `slices` turns of `seconds` each, taking turns, so a change in
    the machine's other load falls on all of them alike."""
    servers = {}
    try:
        for transport in TRANSPORTS:
            for setting in SETTINGS:
                servers[transport, setting] = start_server(transport, setting)
        samples = {(condition, transport, setting): [] for condition in ("idle", "loaded")
                   for transport in TRANSPORTS for setting in SETTINGS}
        polls = {}
        for number in range(rounds):
            # Every order once in six rounds: each setting follows each other one as often (a
            # slice right after always-on polling starts behind: the scheduler remembers the spin).
            order = ORDERS[number % len(ORDERS)]
            for condition in ("idle", "loaded"):
                hog = Hog() if condition == "loaded" else None
                if hog:
                    hog.__enter__()
                try:
                    for transport in TRANSPORTS:
                        sessions = {setting: open_session(servers[transport, setting][1], setting)
                                    for setting in SETTINGS}
                        latencies = {setting: [] for setting in SETTINGS}
                        elapsed = dict.fromkeys(SETTINGS, 0.0)
                        try:
                            for _turn in range(slices):
                                for setting in order:
                                    elapsed[setting] += measure(sessions[setting], seconds, latencies[setting])
                        finally:
                            poll = getattr(sessions["default"]._read, "busy_poll", None)
                            if poll is not None:
                                totals = polls.setdefault((condition, transport), dict.fromkeys(poll.stats, 0))
                                for key, count in poll.stats.items():
                                    totals[key] += count
                            for session in sessions.values():
                                session.close()
                        for setting in SETTINGS:
                            got = sorted(latencies[setting])
                            samples[condition, transport, setting].append(
                                (len(got), elapsed[setting], got[int(len(got) * 0.99)] * 1e6))
                finally:
                    if hog:
                        hog.__exit__()
        return samples, polls
    finally:
        for process, _where in servers.values():
            process.terminate()
        for process, _where in servers.values():
            process.wait(timeout=10)


def summarise(samples, polls, rounds):
    """Each setting's round trips/s over all its slices pooled, its median p99, and the ratios."""
    results = {}
    for condition in ("idle", "loaded"):
        for transport in TRANSPORTS:
            entry = {}
            for setting in SETTINGS:
                runs = samples[condition, transport, setting]
                entry[setting + "_round_trips_per_s"] = sum(n for n, _s, _p in runs) / sum(s for _n, s, _p in runs)
                entry[setting + "_p99_us"] = statistics.median(p99 for _n, _s, p99 in runs)
            rates = [entry[setting + "_round_trips_per_s"] for setting in SETTINGS]
            entry["default_vs_off"] = entry["default_round_trips_per_s"] / entry["off_round_trips_per_s"]
            # The spread from round to round: how far one round's noise moves the ratio
            entry["default_vs_off_by_round"] = [round((d[0] / d[1]) / (o[0] / o[1]), 2) for d, o in
                                                zip(samples[condition, transport, "default"],
                                                    samples[condition, transport, "off"])]
            entry["default_vs_best"] = entry["default_round_trips_per_s"] / max(rates)
            entry["default_client_polls"] = polls.get((condition, transport))  # what its BusyPoll saw
            results["%s_%s" % (transport, condition)] = entry
    targets = {}
    for transport in TRANSPORTS:
        targets["%s_loaded_default_ge_0.9x_off" % transport] = \
            results["%s_loaded" % transport]["default_vs_off"] >= LOADED_MIN_RATIO
        targets["%s_idle_default_ge_0.9x_best" % transport] = \
            results["%s_idle" % transport]["default_vs_best"] >= IDLE_MIN_RATIO
    results["rounds"] = rounds
    results["cpus"] = cpus()
    results["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    results["targets"] = targets
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (a CI smoke run)")
    args = parser.parse_args(argv)
    rounds, slices, seconds = (1, 2, 0.05) if args.quick else (6, 8, 0.05)
    samples, polls = run(rounds, slices, seconds)
    write("perf_polling", summarise(samples, polls, rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
