"""Fuzzing a slow real-time target (issue 16): the emulator and the firmware under MicroPython
behind a line paced at 9600-19200 baud with a per-frame delay, a few exchanges a second. The
campaign must end within its documented overrun, find nothing in a clean pump, report none of
its own troubles (hypothesis's errors, answers still on their way) as findings, and say so when
the target is too slow for even one example."""

import collections
import os
import shutil
import subprocess
import sys
import time
import urllib.parse

import pytest

from pumpmock.harness.fuzz import campaign, stateful
from pumpmock.firmware_mock import commands
from pumpmock.harness import fuzz_cmd
from pumpmock.harness.bench import report as bench_report
from pumpmock.harness.fuzz.oracle import SPLIT_WRITE_TRIES, Checker, LostTrack, SplitTooWide, Violation
from pumpmock.protocol.catalog import MESSAGES_BY_NAME
from pumpmock.protocol.framing import encode_frame
from pumpmock.harness.fuzz.model import REQUEST

from test_bench_kit import MICROPYTHON_MJS, PUMPMOCK, ROOT

BUDGET_S = 12.0
# ~250 ms each way per write and 960 bytes a second: 1-3 exchanges a second.
SLOW_LINE = "baud=9600,delay=250ms,jitter=100ms,seed=3"


def slow_emulator(line=SLOW_LINE):
    return "pumpmock://?clock=real&faults=%s" % urllib.parse.quote(line)


def run_within_budget(url, budget_s=BUDGET_S, **options):
    started = time.monotonic()
    result = campaign.run_campaign(url, budget_s=budget_s, seed=3, modes=["stateful"], **options)
    return result, time.monotonic() - started


def assert_clean_run(result, seconds, budget_s=BUDGET_S):
    assert result["failures"] == [], result
    assert result["harness_errors"] == [], result
    assert result["status"] == "passed", result
    assert result["examples"] >= 1 and result["cases"] >= 1, result
    # The campaign's own promise (stop at the budget), not a speed goal.
    assert seconds <= budget_s + campaign.overrun_s(budget_s), (seconds, result)


def test_a_clean_emulator_behind_a_slow_paced_line_gives_no_findings_within_budget():
    result, seconds = run_within_budget(slow_emulator())
    assert_clean_run(result, seconds)
    stateful_run = result["results"][0]
    # Examples are sized from the measured round trip: several fit, not one cut-short example
    # (hypothesis's first, always the simplest) that takes the whole budget.
    assert stateful_run["examples"] >= 2, result
    assert stateful_run["exchanges"] / stateful_run["seconds"] < 6, result  # it really was a slow target


needs_node = pytest.mark.skipif(not shutil.which("node") or not MICROPYTHON_MJS.exists(),
                                reason="the MicroPython runner needs node and node_modules (npm ci)")


@needs_node
@pytest.mark.skipif(not hasattr(os, "openpty"), reason="pseudo-terminals are POSIX only")
def test_the_firmware_under_micropython_behind_a_paced_delayed_pty_gives_no_findings_within_budget():
    environment = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    proxy = subprocess.Popen(PUMPMOCK + ["proxy", "pty", "exec:pumpmock micropython --test-mode",
                                         "--faults", "baud=19200,delay=100ms"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        path = proxy.stdout.readline().strip()
        assert path.startswith("/dev/"), proxy.stderr.read()
        result, seconds = run_within_budget(path, timeout=2)
    finally:
        proxy.terminate()
        try:
            proxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait(timeout=10)
        proxy.stdout.close()
        proxy.stderr.close()
    assert_clean_run(result, seconds)


def test_a_target_too_slow_for_one_example_is_said_so_not_failed():
    # 300 baud: the reset alone takes seconds, so a 1 s budget ends before any rule runs.
    result, seconds = run_within_budget(slow_emulator("baud=300"), budget_s=1.0)
    assert result["failures"] == [] and result["status"] == "not available", result
    assert "too slow for one example" in result["reason"]
    assert seconds <= 1.0 + campaign.overrun_s(1.0) + 2 * stateful.RESET_WAITS * stateful.ANSWER_TIMEOUT_S


TC_READ_COUNTERS = MESSAGES_BY_NAME["TC_READ_COUNTERS"].id
TC_GET_STATUS = MESSAGES_BY_NAME["TC_GET_STATUS"].id
GET_STATUS = MESSAGES_BY_NAME["GET_STATUS"].id


def _observation_write():
    return b"\x00" + b"".join(encode_frame(REQUEST, msg_id, seq) for msg_id, seq in
                              ((GET_STATUS, 1), (TC_READ_COUNTERS, 0xFF01), (TC_GET_STATUS, 0xFF02)))


def test_a_write_over_a_slow_lines_wide_window_is_judged_at_once():
    """The oracle tried every moment of every frame of a write that matched at no single moment:
    over a slow line's 1.5 s window that is ~10**9 model runs (a campaign that overran its budget
    by minutes). Now: answers of the right kinds that no moment explains are not judged
    (SplitTooWide, a LostTrack: no finding, counted by the campaign); answers of the wrong kinds
    still are a finding."""
    data = _observation_write()
    expected = list(Checker().model.copy().receive(data, 700))
    assert [f[1:3] for f in expected] == [(GET_STATUS, 1), (TC_READ_COUNTERS, 0xFF01), (TC_GET_STATUS, 0xFF02)]
    kind, msg_id, seq, payload = expected[2]
    odd = expected[:2] + [(kind, msg_id, seq, bytes([payload[0] ^ 0xFF]) + payload[1:])]
    with pytest.raises(SplitTooWide):
        Checker().exchange(data, 0, 1500, odd, exact=False)
    with pytest.raises(Violation):
        Checker().exchange(data, 0, 1500, expected[:1] + expected[2:], exact=False)


def test_one_writes_judgement_costs_a_bounded_number_of_model_runs(monkeypatch):
    """Every moment of a wide window for every candidate state, even for the write read whole,
    cost a slow line's campaign seconds of CPU per write (a 12 s campaign ran 41-70 s): past
    SPLIT_WRITE_TRIES model runs the write is left unjudged (counted), never judged for minutes."""
    checker = Checker()
    model_class = type(checker.models[0])
    runs = collections.Counter()
    receive = model_class.receive

    def counted(self, data, shell_ms):
        runs["model"] += 1
        return receive(self, data, shell_ms)

    monkeypatch.setattr(model_class, "receive", counted)
    data = _observation_write()
    expected = list(checker.models[0].copy().receive(data, 700))
    kind, msg_id, seq, payload = expected[2]
    odd = expected[:2] + [(kind, msg_id, seq, bytes([payload[0] ^ 0xFF]) + payload[1:])]
    runs.clear()
    with pytest.raises(SplitTooWide):
        checker.exchange(data, 0, 3 * SPLIT_WRITE_TRIES, odd, exact=False)
    assert runs["model"] <= SPLIT_WRITE_TRIES, runs


def test_steps_per_example_follow_the_measured_round_trip():
    assert campaign.sized_steps(60, 0.002) == stateful.DEFAULT_STEPS  # the emulator, a fast line
    assert campaign.sized_steps(60, 0.75) == 60 / 0.75 / campaign.EXAMPLES_PER_BUDGET - campaign.SETUP_EXCHANGES
    assert campaign.sized_steps(12, 0.75) == campaign.MIN_STEPS  # 9600 baud behind 250 ms each way


def test_writes_the_oracle_cannot_judge_are_counted_in_the_result_not_failed(monkeypatch):
    """An oracle that gives up on some writes (planted: every example's fifth, alternately past
    SPLIT_WRITE_TRIES and for another lost track): each is counted, none is a finding, and the
    summaries say how many."""
    raised = collections.Counter()
    judge = Checker.exchange

    def exchange(checker, data, *args, **kwargs):
        if checker.exchanges == 4:
            checker.exchanges += 1
            lost = SplitTooWide if raised["all"] % 2 == 0 else LostTrack
            raised["all"] += 1
            raised["split"] += lost is SplitTooWide
            raise lost("planted")
        return judge(checker, data, *args, **kwargs)

    monkeypatch.setattr(Checker, "exchange", exchange)
    result = campaign.run_campaign("pumpmock://?clock=virtual", budget_s=2, seed=4, modes=["stateful"])
    assert raised["all"] >= 2 and result["failures"] == [] and result["status"] == "passed", result
    assert (result["unjudged_writes"], result["unjudged_split_writes"]) == (raised["all"], raised["split"])
    assert result["results"][0]["unjudged_writes"] == raised["all"]
    line = "%d write(s) left unjudged (%d past SPLIT_WRITE_TRIES)" % (raised["all"], raised["split"])
    assert line in fuzz_cmd.summary(result)
    report = {"target": {"port": "pumpmock://"}, "verdict": "pass", "not_run": [], "machine": bench_report.machine(),
              "fuzz": result}
    assert "unjudged writes: %d (%d past SPLIT_WRITE_TRIES)" % (raised["all"], raised["split"]) \
        in bench_report.summary(report)


def test_a_setup_write_the_oracle_cannot_judge_is_counted_not_failed(monkeypatch):
    """Planted: the oracle gives up on every example's first judged write, the reset's own (it
    once let LostTrack escape from there, a failure about nothing). No rule runs: no verdict."""
    raised = []
    judge = Checker.exchange

    def exchange(checker, data, *args, **kwargs):
        if checker.exchanges == 0:
            raised.append(True)
            raise SplitTooWide("planted")
        return judge(checker, data, *args, **kwargs)

    monkeypatch.setattr(Checker, "exchange", exchange)
    result = campaign.run_campaign("pumpmock://?clock=virtual", budget_s=3, seed=4, modes=["stateful"])
    assert raised and result["failures"] == [], result
    # Every example rejected: hypothesis says it could not satisfy the test, about itself, not the pump.
    assert all("Unsatisfiable" in error for error in result["harness_errors"]), result["harness_errors"][:1]
    assert result["status"] == "not available" and result["unjudged_writes"] == len(raised), result

def test_a_campaign_that_ends_past_its_promise_says_so(monkeypatch):
    """Planted: one answer takes longer than the whole overrun allows (a board stalled mid-answer).
    The campaign still ends (it is not hung) and its result and summary say it overran."""
    budget_s = 1.0
    stall_s = campaign.overrun_s(budget_s) + 1.5
    started = time.monotonic()
    read_until = stateful.Link.read_until
    stalled = []

    def read_until_stalling_once(link, done, timeout_s=None):
        frames = read_until(link, done, timeout_s)
        if not stalled and time.monotonic() - started > budget_s / 2:
            stalled.append(True)
            time.sleep(stall_s)
        return frames

    monkeypatch.setattr(stateful.Link, "read_until", read_until_stalling_once)
    result = campaign.run_campaign("pumpmock://?clock=virtual", budget_s=budget_s, seed=5, modes=["stateful"])
    assert stalled and result["status"] == "passed", result
    assert result["overran_s"] > 0 and result["seconds"] > budget_s + campaign.overrun_s(budget_s), result
    assert "OVERRAN: the campaign ended %.1f s past its 1 s budget" % result["overran_s"] in fuzz_cmd.summary(result)


def test_a_campaign_within_its_promise_does_not_say_it_overran():
    result = campaign.run_campaign("pumpmock://?clock=virtual", budget_s=1.0, seed=5, modes=["stateful"])
    assert "overran_s" not in result and "OVERRAN" not in fuzz_cmd.summary(result), result


def _plant_refill_forgetting_the_withdrawn_volume(monkeypatch):
    clean = commands.refill

    def refill(model, drug, conc, volume_ul):
        withdrawn = model.removed_ul
        answer = clean(model, drug, conc, volume_ul)
        model.removed_ul = withdrawn  # planted: the old drug's volume vanishes from the books
        return answer

    monkeypatch.setattr(commands, "refill", refill)


def test_a_shrink_that_would_outlast_the_promise_is_cut_and_its_failure_still_reported(monkeypatch, tmp_path):
    """A defect found early, then every exchange slow (a slow board: each shrink example takes
    seconds). hypothesis's own shrink limit is checked between examples and ran a 60 s campaign
    on the slow line to 152 s; the campaign's hard end (budget + overrun_s) cuts the shrink, and
    the smallest failing example so far is the finding, saved as a transcript."""
    _plant_refill_forgetting_the_withdrawn_volume(monkeypatch)
    read_until = stateful.Link.read_until

    def slow_once_failing(link, done, timeout_s=None):
        if stateful.PumpMachine.first_failure is not None:
            time.sleep(0.2)
        return read_until(link, done, timeout_s)

    monkeypatch.setattr(stateful.Link, "read_until", slow_once_failing)
    budget_s = 3.0
    result, seconds = run_within_budget("pumpmock://?clock=virtual", budget_s=budget_s, failures_dir=str(tmp_path))
    assert seconds <= budget_s + campaign.overrun_s(budget_s), (seconds, result)
    assert "overran_s" not in result, result
    found = [f for f in result["details"] if f["category"] == "SAFETY: volume not conserved"]
    assert found and found[0]["transcript"], result["failures"]


def test_a_planted_defect_every_example_meets_is_found_behind_the_slow_line(monkeypatch, tmp_path):
    """The rehearsal with a defect (planted: every refill books 1 µL less than it put in, so the
    setup's refill of most examples breaks conservation): found as that, with its transcript,
    and nothing else reported (no timing artefact beside it). Defects that need a rarer rule
    (a refill that forgets the withdrawn volume: about one rule in a hundred) take minutes on
    this line: bench/fuzz_slow_target.py measures them (bench/FUZZING.md, "Slow targets")."""
    clean = commands.refill

    def refill(model, drug, conc, volume_ul):
        answer = clean(model, drug, conc, volume_ul)
        model.filled_ul -= 1  # planted
        return answer

    monkeypatch.setattr(commands, "refill", refill)
    result, _seconds = run_within_budget(slow_emulator(), failures_dir=str(tmp_path))
    assert result["status"] == "failed" and result["harness_errors"] == [], result
    assert {f["category"] for f in result["details"]} == {"SAFETY: volume not conserved"}, result["failures"]
    assert all(f["transcript"] for f in result["details"]), result["failures"]
