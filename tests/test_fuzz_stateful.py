"""The model-based stateful fuzzer: clean on the emulator, and planted firmware defects are found, shrunk and replayed.

Each planted defect is a monkeypatch of the firmware (never an edit): the campaign runs with a
fixed seed, so finding it is deterministic, and a bounded number of examples.
"""

import os
import sys
import threading

import pytest

from pumpmock.firmware_mock import commands, dedup, spec, therapy
from pumpmock.firmware_mock.errors import Refusal
from pumpmock.firmware_mock.model import DAY_MS, MINUTE_MS, PTM_BOLUS_KIND
from pumpmock.harness.fuzz.campaign import check_transcript, run_stateful, with_line_numbers
from pumpmock.harness.fuzz.replay import replay_failure
from pumpmock.harness.servers import PtyServer, make_pump
from pumpmock.harness.transcript import read_transcript, replay

from pumpmock import harness
from targets import target

URL = "pumpmock://?clock=virtual"
REAL_CLOCK_URL = "pumpmock://?clock=real"


def test_the_emulator_passes_a_ci_campaign():
    """The CI-sized campaign: every run fuzzes the in-process emulator for a bounded time."""
    result = run_stateful(URL, budget_s=6, seed=20, max_examples=60)
    assert result["failures"] == [], result["failures"][0]["message"]
    assert result["steps"] > 500


def test_the_emulator_on_a_real_clock_passes_a_short_campaign():
    """On a real clock the pump's TC_GET_CLOCK answers pin each write's moment: no false alarms."""
    result = run_stateful(REAL_CLOCK_URL, budget_s=3, seed=21, max_examples=40)
    assert result["failures"] == [], result["failures"][0]["message"]
    assert result["steps"] > 100


def _planted_campaign(tmp_path, max_examples=300, budget_s=None, seed=1, url=URL):
    """A campaign against a planted defect. On the virtual clock budget_s=None: no wall-clock bound,
    so what is found and how far it shrinks is the same on an idle or a loaded machine."""
    result = run_stateful(url, budget_s=budget_s, seed=seed, max_examples=max_examples,
                          failures_dir=str(tmp_path))
    assert result["failures"], "the planted defect was not found in %d examples" % result["examples"]
    return result["failures"][0]


def _replays(failure, planted, url=URL):
    """Replay the saved transcript on a fresh pump; the model's verdict on what that pump answered."""
    entries = read_transcript(failure["transcript"])
    port = harness.open_port(url)
    try:
        replayed = replay(entries, port, timeout_s=0.2)
    finally:
        port.close()
    replayed.header = entries.header
    return check_transcript(replayed)


def _ptm_lockout_one_minute_short(model):
    """pumpmock.firmware_mock.commands._ptm_bolus with one planted defect: the lockout ends a minute early."""
    t = model.clock_ms
    commands._check_can_deliver(model)
    commands._check_running(model)
    rx = model.rx
    dose_ug = rx["ptm_dose_ug"]
    if dose_ug == 0:
        raise Refusal(spec.E_PTM_DISABLED)
    recent = [at for at in model.ptm_times if t - at < DAY_MS]
    model.ptm_times = recent
    lockout_ms = rx["ptm_lockout_min"] * MINUTE_MS
    if recent and t < recent[-1] + lockout_ms - MINUTE_MS:  # planted: "- MINUTE_MS"
        commands._informational_lockout(model, recent[-1] + lockout_ms)
        raise Refusal(spec.E_LOCKOUT_ACTIVE, spec.LIM_PTM_LOCKOUT, lockout_ms // 1000,
                      commands._ceil_s(recent[-1] + lockout_ms - t))
    if len(recent) >= rx["ptm_max_per_24h"]:
        commands._informational_lockout(model, recent[len(recent) - rx["ptm_max_per_24h"]] + DAY_MS)
        raise Refusal(spec.E_MAX_ACTIVATIONS, spec.LIM_PTM_ACTIVATIONS, rx["ptm_max_per_24h"], len(recent))
    commands._check_daily_max(model, dose_ug)
    if model.bolus is not None:
        raise Refusal(spec.E_BUSY)
    volume_ul = therapy.ptm_volume_ul(rx)
    commands._check_reservoir(model, volume_ul)
    recent.append(t)
    duration_ms = (volume_ul * DAY_MS + spec.RATE_MAX_UL_PER_DAY - 1) // spec.RATE_MAX_UL_PER_DAY
    model.start_bolus(PTM_BOLUS_KIND, dose_ug, volume_ul, t, duration_ms)
    return dose_ug, len(recent), commands._ceil_s(t + lockout_ms)


def test_a_ptm_lockout_one_minute_short_is_found_as_a_dose_beyond_a_limit(monkeypatch, tmp_path):
    monkeypatch.setattr(commands, "_ptm_bolus", _ptm_lockout_one_minute_short)
    failure = _planted_campaign(tmp_path)
    assert failure["category"].startswith("SAFETY"), failure["message"]
    assert "PTM_BOLUS" in failure["message"] or "PtmBolus" in failure["message"]
    # Shrunk well below the 25 steps an example may have: 3 alone, up to 9 in some full-suite runs
    # on a loaded machine (the kept steps are inert out-of-range frames; the cause is not known yet).
    assert failure["steps"] <= 12, failure["program"]
    assert _replays(failure, planted=True) is not None
    monkeypatch.undo()
    assert _replays(failure, planted=False) is None


def test_a_dedup_miss_is_found_as_a_bolus_executed_twice(monkeypatch, tmp_path):
    monkeypatch.setattr(dedup.ExactlyOnceCache, "lookup", lambda self, seq, msg_id, digest: None)
    failure = _planted_campaign(tmp_path)
    assert failure["category"] == "SAFETY: exactly once", failure["message"]
    assert failure["steps"] <= 4, failure["program"]
    assert _replays(failure, planted=True) is not None
    monkeypatch.undo()
    assert _replays(failure, planted=False) is None


def test_a_cache_that_forgets_a_session_at_another_hosts_hello_is_found(monkeypatch, tmp_path):
    """A host comes back with its own id after another host's HELLO and retransmits: the pump must
    still have its answer (planted: the cache dropped at every change of session, as it once was)."""
    def set_session(cache, session):
        if session != cache.__dict__.get("_session"):
            cache.answers.clear()  # planted
            cache.order.clear()
        cache.__dict__["_session"] = session

    monkeypatch.setattr(dedup.ExactlyOnceCache, "session",
                        property(lambda cache: cache.__dict__.get("_session"), set_session), raising=False)
    failure = _planted_campaign(tmp_path)
    assert failure["category"] == "SAFETY: exactly once", failure["message"]
    assert _replays(failure, planted=True) is not None
    monkeypatch.undo()
    assert _replays(failure, planted=False) is None


def _plant_refill_forgetting_the_withdrawn_volume(monkeypatch):
    original = commands.refill

    def refill(model, drug, conc, volume_ul):
        removed = model.removed_ul
        answer = original(model, drug, conc, volume_ul)
        model.removed_ul = removed  # planted: the old drug's volume vanishes from the books
        return answer

    monkeypatch.setattr(commands, "refill", refill)


def test_a_refill_that_forgets_the_withdrawn_volume_breaks_conservation(monkeypatch, tmp_path):
    _plant_refill_forgetting_the_withdrawn_volume(monkeypatch)
    failure = _planted_campaign(tmp_path)
    assert failure["category"] == "SAFETY: volume not conserved", failure["message"]
    assert failure["steps"] <= 3, failure["program"]
    assert _replays(failure, planted=True) is not None
    monkeypatch.undo()
    assert _replays(failure, planted=False) is None


def test_a_conservation_defect_is_found_on_a_real_clock_too(monkeypatch, tmp_path):
    _plant_refill_forgetting_the_withdrawn_volume(monkeypatch)
    failure = _planted_campaign(tmp_path, max_examples=100, url=REAL_CLOCK_URL)
    assert failure["category"] == "SAFETY: volume not conserved", failure["message"]
    assert failure["steps"] <= 3, failure["program"]
    # Replayed on a real clock too: judged at the ms each TC_GET_CLOCK answer names.
    assert _replays(failure, planted=True, url=REAL_CLOCK_URL) is not None
    monkeypatch.undo()
    assert _replays(failure, planted=False, url=REAL_CLOCK_URL) is None


@pytest.mark.parametrize("kind", ["pty", "tcp", "rfc2217", "stdio", "micropython"])
def test_a_pump_in_another_process_passes_a_short_campaign(kind):
    """The same machine drives any URL: `pumpmock serve` over a tty and TCP, the MicroPython firmware."""
    with target(kind) as url:
        result = run_stateful(url, budget_s=10, seed=22, max_examples=25)
    assert result["failures"] == [], result["failures"][0]["message"]
    assert result["examples"] >= 5 and result["steps"] > 50, result


def test_a_planted_defect_is_found_and_replayed_over_a_pty(monkeypatch, tmp_path):
    """A pty served from this process (so the plant takes): found, shrunk, replayed through the tty."""
    if not hasattr(os, "openpty"):
        pytest.skip("pseudo-terminals exist only on POSIX")
    _plant_refill_forgetting_the_withdrawn_volume(monkeypatch)
    server = PtyServer(make_pump(test_mode=True, seed=0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        failure = _planted_campaign(tmp_path, max_examples=40, url=server.path)
        assert failure["category"] == "SAFETY: volume not conserved", failure["message"]
        assert failure["steps"] <= 3, failure["program"]
        assert _replays(failure, planted=True, url=server.path) is not None
    finally:
        server.stop()
        thread.join(timeout=5)


CRASHING_PUMP = """
import os, sys
from pumpmock.firmware_mock import commands
from pumpmock.harness import cli

def refill(model, drug, conc, volume_ul):
    os._exit(70)  # planted: any refill kills the firmware

commands.refill = refill
sys.exit(cli.main(["serve", "--stdio", "--test-mode"]))
"""


def test_a_crash_is_found_the_campaign_reconnects_and_the_replay_tells_crash_from_fix(tmp_path):
    """A pump that dies (here a child process that exits) is a finding, not the end of the campaign:
    each example gets the restarted pump; the shrunk transcript replays as a crash, and as fixed
    against a pump without the plant."""
    script = tmp_path / "crashing_pump.py"
    script.write_text(CRASHING_PUMP)
    crashing = "exec://%s %s" % (sys.executable, script)
    result = run_stateful(crashing, budget_s=30, seed=1, max_examples=30, failures_dir=str(tmp_path))
    assert result["stopped"] is None
    assert [f["category"] for f in result["failures"]] == ["the pump went away"], result["failures"]
    assert result["examples"] >= 10  # most examples refill, so most ran on a pump restarted after a crash
    failure = result["failures"][0]
    assert "exit status 70" in failure["message"]
    assert failure["steps"] <= 1, failure["program"]
    still = replay_failure(failure["transcript"], crashing, timeout=2)
    assert still.fails and "broke during the replay" in still.text, still.text
    healthy = "exec://%s -m pumpmock.harness.cli serve --stdio --test-mode" % sys.executable
    fixed = replay_failure(failure["transcript"], healthy, timeout=2)
    assert not fixed.fails, fixed.text


DYING_PUMP = """
import os, sys
from pumpmock.firmware_mock import commands
from pumpmock.harness import cli

marker = sys.argv[1]
if os.path.exists(marker):
    sys.exit(9)  # once dead, it never starts again


def refill(model, drug, conc, volume_ul):
    open(marker, "w").close()
    os._exit(70)  # planted: the first refill kills it for good


commands.refill = refill
sys.exit(cli.main(["serve", "--stdio", "--test-mode"]))
"""


def test_a_pump_that_dies_for_good_stops_the_campaign_with_the_finding_as_first_seen(tmp_path):
    script = tmp_path / "dying_pump.py"
    script.write_text(DYING_PUMP)
    url = "exec://%s %s %s" % (sys.executable, script, tmp_path / "dead")
    result = run_stateful(url, budget_s=30, seed=1, failures_dir=str(tmp_path / "failures"))
    assert result["stopped"] and "exit status 9" in result["stopped"]
    assert result["seconds"] < 15  # it stopped; it did not wait out the budget
    [failure] = result["failures"]
    assert failure["category"] == "the pump went away" and "not shrunk" in failure["program"]
    entries = read_transcript(failure["transcript"])
    assert any(e["name"] == "REFILL" for e in entries if e["dir"] == "host>pump")


def test_a_pump_that_cannot_be_reached_raises_at_once():
    with pytest.raises(OSError, match="exit status 3"):
        run_stateful("exec://%s -c 'import sys; sys.exit(3)'" % sys.executable, budget_s=30, seed=1)


def test_a_copied_examples_database_finds_the_failure_first_on_another_machine(monkeypatch, tmp_path):
    """--examples-db: what one campaign found, a campaign elsewhere (another seed, a one-example
    budget) tries first; without the database that budget finds nothing."""
    import shutil
    monkeypatch.setattr(dedup.ExactlyOnceCache, "lookup", lambda self, seq, msg_id, digest: None)
    found = run_stateful(URL, budget_s=15, seed=1, max_examples=300, examples_db=str(tmp_path / "here"))
    assert found["failures"]
    shutil.copytree(tmp_path / "here", tmp_path / "there")
    elsewhere = run_stateful(URL, budget_s=15, seed=99, max_examples=1, examples_db=str(tmp_path / "there"))
    assert {f["category"] for f in elsewhere["failures"]} == {"SAFETY: exactly once"}
    assert elsewhere["examples"] < 10
    without = run_stateful(URL, budget_s=15, seed=99, max_examples=1)
    assert without["failures"] == []


STATEFUL_SUITE = """
from hypothesis import settings
from pumpmock.harness.fuzz.stateful import machine_for

TestPumpFuzz = machine_for("{url}", max_examples=15, steps=10).TestCase
TestPumpFuzz.settings = settings(TestPumpFuzz.settings, derandomize=True)  # the same examples every run
"""

DEDUP_MISS = """
from pumpmock.firmware_mock import dedup
dedup.ExactlyOnceCache.lookup = lambda self, seq, msg_id, digest: None  # planted
"""


def test_a_team_runs_the_machine_as_a_test_case_in_its_own_suite(pytester):
    """The documented way in: machine_for(url).TestCase in a test file, collected by plain pytest."""
    pytester.makepyfile(test_fuzz_pump=STATEFUL_SUITE.format(url=URL))
    pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_that_test_case_fails_with_the_shrunk_program_on_a_planted_defect(pytester):
    pytester.makepyfile(test_fuzz_pump=DEDUP_MISS + STATEFUL_SUITE.format(url=URL).replace("15", "200"))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*SAFETY: exactly once*", "*state.retransmit(*"])


def test_an_error_of_hypothesis_itself_is_never_reported_as_a_finding_about_the_pump(monkeypatch):
    """On a target whose timing varies hypothesis may give up on a run (inconsistent data
    generation): that says nothing of the pump, so it is a note, never a failure."""
    from hypothesis.errors import FlakyStrategyDefinition

    from pumpmock.harness.fuzz import stateful
    original, calls = stateful.PumpMachine._reset, []

    def reset_then_give_up(self):
        calls.append(1)
        if len(calls) == 3:
            raise FlakyStrategyDefinition("Inconsistent data generation! (planted)")
        original(self)

    monkeypatch.setattr(stateful.PumpMachine, "_reset", reset_then_give_up)
    result = run_stateful(URL, budget_s=None, seed=1, max_examples=20)
    assert result["failures"] == [], result["failures"]
    [error] = result["harness_errors"]
    assert error.startswith("hypothesis FlakyStrategyDefinition: Inconsistent data generation!"), error
    assert result["examples"] >= 10  # the campaign went on after it


def test_a_pump_that_repeats_a_nonce_is_found(monkeypatch, tmp_path):
    """The model cannot predict a nonce (the pump draws it at random), but it knows one must never
    come twice: a challenge counter that does not move lets a captured AUTH_RESPONSE in."""
    from pumpmock.firmware_mock import auth

    original = auth.Authenticator.challenge

    def challenge(self, role, now_ms, *seq):
        nonce = original(self, role, now_ms, *seq)
        self.counter = 0  # planted: every challenge of a boot hashes the same counter
        return nonce

    monkeypatch.setattr(auth.Authenticator, "challenge", challenge)
    failure = _planted_campaign(tmp_path, max_examples=100)
    assert failure["category"] == "SAFETY: a nonce repeated", failure["message"]
    monkeypatch.undo()
    assert _replays(failure, planted=False) is None


def test_a_replay_signs_a_good_login_again_for_the_new_nonce_and_leaves_a_forged_one_forged(tmp_path):
    """Two unseeded pumps never issue the same nonce, so a recorded MAC is refused by the next
    pump: the replay signs a login that succeeded again (the role keys are the protocol's), and a
    MAC that was wrong stays wrong."""
    from pumpmock.harness.transcript import TranscriptRecorder
    from pumpmock.protocol import messages as m
    from pumpmock.protocol.codes import Role

    path = tmp_path / "login.jsonl"
    recorder = TranscriptRecorder(str(path))
    session = harness.connect("pumpmock://?clock=virtual", transcript=recorder)
    try:
        session.authenticate(Role.CLINICIAN)
        session.request(m.AuthChallengeRequest(Role.PATIENT))
        with pytest.raises(harness.PumpRefusedError):
            session.request(m.AuthResponseRequest(Role.PATIENT, bytes(32)))  # forged
    finally:
        session.close()
        recorder.close()
    entries = read_transcript(str(path))
    port = harness.open_port("pumpmock://?clock=virtual", handshake=False)
    try:
        replayed = replay(entries, port, timeout_s=0.2)
    finally:
        port.close()

    def nonces(transcript):
        return [e["fields"]["nonce"] for e in transcript if e["dir"] == "pump>host" and e.get("name") == "AUTH_CHALLENGE"]

    def auth_answers(transcript):
        return [e["kind"] for e in transcript if e["dir"] == "pump>host" and e.get("msg_id") == 0x03]

    assert len(nonces(entries)) == len(nonces(replayed)) == 2
    assert not set(nonces(entries)) & set(nonces(replayed))  # fresh pumps, fresh nonces
    assert auth_answers(entries) == auth_answers(replayed) == ["RESPONSE", "NAK"]


def test_power_cuts_during_test_control_pass_on_the_emulator():
    """The machine draws TC_POWER_LOSS(n) before a test control whose save it cuts: the correct
    firmware reboots as if the request never happened, and the model agrees at every step."""
    result = run_stateful(URL, budget_s=None, seed=31, max_examples=40)
    assert result["failures"] == [], result["failures"][0]["message"]


def test_a_cut_save_that_keeps_its_clock_change_is_found(monkeypatch, tmp_path):
    """Planted back: the pump takes every cut save for one that landed, so a cut TC_WARP_CLOCK or
    TC_RESET keeps what it did to the clock though storage never learned of it (the clock desync
    that froze delivery). The oracle's pump clock == model clock catches it."""
    from pumpmock.firmware_mock import persist
    monkeypatch.setattr(persist.Persistence, "last_save_landed", lambda self: True)
    failure = _planted_campaign(tmp_path, max_examples=200)
    assert failure["category"] == "pump clock != model clock", failure["message"]
    assert "power_cut_during_test_control" in failure["program"], failure["program"]
    monkeypatch.undo()
    assert _replays(failure, planted=False) is None


def test_a_runner_outcome_inside_an_example_ends_the_campaign_with_that_outcome(monkeypatch):
    """pytest-timeout's alarm raises pytest's Failed wherever the test is; hypothesis would count it
    as the example failing and shrink it, example after example, past the alarm (which fires once).
    The campaign raises it again at once instead, and no example starts after it."""
    from pumpmock.harness.fuzz import stateful
    original, resets = stateful.PumpMachine._reset, []

    def reset_then_time_out(self):
        resets.append(1)
        if len(resets) == 5:
            pytest.fail("Timeout (planted)")
        original(self)

    monkeypatch.setattr(stateful.PumpMachine, "_reset", reset_then_time_out)
    stats = __import__("collections").Counter()
    with pytest.raises(pytest.fail.Exception, match="Timeout \\(planted\\)"):
        run_stateful(URL, budget_s=None, seed=1, max_examples=500, stats=stats)
    assert len(resets) == 5, "examples ran after the runner's outcome: %d resets" % len(resets)
    assert stateful.PumpMachine.interrupted is None  # the next campaign starts clean
    monkeypatch.undo()
    assert run_stateful(URL, budget_s=None, seed=1, max_examples=3)["failures"] == []


def test_a_runner_alarm_that_lands_in_hypothesis_code_ends_the_campaign(monkeypatch):
    """pytest-timeout's way: SIGALRM, and a handler that raises Failed once. Here it lands just after
    an example's teardown, in hypothesis's own code, which counts pytest's Failed as the example
    failing and shrinks it, example after example, past the alarm (a CI run hung for its 60 s
    bound so). The campaign notes the alarm as it fires and ends within an example, raising it."""
    import collections
    import signal
    from pumpmock.harness.fuzz import stateful
    stats = collections.Counter()
    at_alarm = []

    def timeout(signum, frame):
        at_alarm.append(stats["examples"])
        pytest.fail("Timeout (alarm)")

    original, teardowns = stateful.PumpMachine.teardown, []

    def teardown_then_alarm(self):
        original(self)
        teardowns.append(1)
        if len(teardowns) == 5:
            os.kill(os.getpid(), signal.SIGALRM)  # the handler runs as this returns, after teardown

    monkeypatch.setattr(stateful.PumpMachine, "teardown", teardown_then_alarm)
    runner_handler = signal.signal(signal.SIGALRM, timeout)
    runner_timer = signal.setitimer(signal.ITIMER_REAL, 0)  # pytest-timeout's own, put back below
    try:
        with pytest.raises(pytest.fail.Exception, match="Timeout \\(alarm\\)"):
            run_stateful(URL, budget_s=None, seed=7, max_examples=400, stats=stats)  # ~7 s without the alarm
    finally:
        signal.signal(signal.SIGALRM, runner_handler)
        if runner_timer[0]:
            signal.setitimer(signal.ITIMER_REAL, *runner_timer)
    assert at_alarm == [5]
    assert stats["examples"] - at_alarm[0] <= 1, "%d examples ran after the alarm" % (stats["examples"] - at_alarm[0])
    assert signal.getsignal(signal.SIGALRM) is runner_handler
    assert stateful.PumpMachine.interrupted is None  # the next campaign starts clean


TIMED_OUT_CAMPAIGN = """
import pytest
from pumpmock.harness.fuzz.campaign import run_stateful

@pytest.mark.timeout(2)
def test_a_long_campaign():
    run_stateful("{url}", budget_s=None, seed=3, max_examples=100000)  # minutes of work
"""


def test_pytest_timeout_stops_a_campaign_from_outside(pytester):
    """As a team's suite sees it: the test's own timeout ends it, reported as a timeout."""
    pytester.makepyfile(test_campaign=TIMED_OUT_CAMPAIGN.format(url=URL))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Timeout*"])


class _LinelessEntry:
    """A traceback entry as CPython 3.11 leaves one when an alarm lands on an instruction with no
    source line (seen in CI: pytest then failed rendering the timeout, INTERNALERROR)."""

    def __init__(self, frame, tb_next=None):
        self.tb_frame, self.tb_lasti, self.tb_lineno, self.tb_next = frame, 0, None, tb_next


def test_a_timeout_with_a_lineless_entry_is_reported_not_an_internal_error():
    try:
        raise pytest.fail.Exception("Timeout >2.0s")
    except BaseException as error:
        caught = error
    ours = caught.__traceback__
    assert with_line_numbers(ours) is ours  # every line known: the traceback as it was
    lineless = _LinelessEntry(sys._getframe(), tb_next=ours)
    repaired = with_line_numbers(lineless)
    lines, frames, entry = [], [], repaired
    while entry is not None:
        lines.append(entry.tb_lineno)
        frames.append(entry.tb_frame)
        entry = entry.tb_next
    assert all(isinstance(line, int) and line > 0 for line in lines)
    assert frames == [sys._getframe(), ours.tb_frame]
    assert lines[1] == ours.tb_lineno  # a known line is kept
    text = str(pytest.ExceptionInfo.from_exception(caught.with_traceback(repaired)).getrepr())
    assert "Timeout >2.0s" in text
