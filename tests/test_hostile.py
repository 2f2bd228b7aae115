"""The hostile pump (harness.hostile): honest at rate 0, each kind of lie at its rate and of its
kind, reproducible by seed, and neither the reference client nor the example app hangs on it."""

import collections
import contextlib
import re
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpmock import firmware_mock
from pumpmock import harness
from pumpmock.firmware_mock.core import Pump
from pumpmock.harness.errors import HarnessError
from pumpmock.harness.hostile import FAKE_EVENT_SEQ, KINDS, HostilePump, HostileSpec, field_at
from pumpmock.protocol import cobs
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import ALARM_PRIORITY, DRUG_LIBRARY, Alarm, Fault, Role
from pumpmock.protocol.errors import RemoteProtocolError
from pumpmock.protocol.framing import ACK, EVENT, NAK, RESPONSE, FrameDecoder, decode_frame, encode_frame

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_APP = ROOT / "examples" / "programmer_app" / "app.py"
MAX_CONCENTRATION = max(limits.max_concentration_ug_per_ml for limits in DRUG_LIBRARY.values())
MAX_HARD_DAILY = max(limits.hard_max_ug_per_day for limits in DRUG_LIBRARY.values())


# ---- helpers -------------------------------------------------------------------------------------
def request(message, seq):
    return m.encode_message(message, seq)


def scripted_session(split_points=()):
    """(ms, bytes or None for a poll) steps of a session with answers, NAKs, events and re-sends.

    It never depends on what the pump answers, so two pumps fed it must answer alike."""
    steps = [
        (0, b"\x00" + request(m.HelloRequest(0x1234, 1), 1)),
        (5, request(m.TcResetRequest(0), 2)),
        (10, request(m.TcGetStatusRequest(), 3)),
        (15, request(m.GetStatusRequest(), 4)),  # no role: a NAK
        (20, request(m.TcInjectFaultRequest(Fault.MOTOR_STALL), 5)),  # an ALARM_RAISED event
        (30, request(m.TcGetAlarmsRequest(), 6)),
        (40, b"\x13\x37\xff\x00"),  # line garbage
        (50, request(m.TcSetBatteryRequest(5), 7)),
        (600, None),  # the unacknowledged events are re-sent
        (700, encode_frame(ACK, 0x80, 0)),  # the first event acknowledged
        (800, request(m.TcWarpClockRequest(3600), 8)),  # re-announcements
        (900, request(m.TcGetStatusRequest(), 9)),
        (1500, None),
        (2200, None),
        (2300, request(m.TcReadCountersRequest(), 10)),
    ]
    out = []
    for i, (t, data) in enumerate(steps):
        if data is not None and i in split_points and len(data) > 2:
            half = len(data) // 2
            out += [(t, data[:half]), (t, data[half:])]
        else:
            out.append((t, data))
    return out


def drive(pump, steps):
    """Feed the steps; (output, next deadline) after each."""
    transcript = []
    for t, data in steps:
        out = pump.poll(t) if data is None else pump.receive(data, t)
        transcript.append((out, pump.next_deadline_ms()))
    return transcript


def status_session(spec, count, seed=0):
    """`count` TC_GET_STATUS requests 20 ms apart (under the hold-back time, so a held answer
    goes out after the next one): the hostile pump, the honest twin's answers, and each output."""
    hostile = HostilePump(Pump(test_mode=True), spec)
    twin = Pump(test_mode=True)
    hello = b"\x00" + request(m.HelloRequest(7, 1), 1)
    outputs, originals = {1: hostile.receive(hello, 0)}, {1: twin.receive(hello, 0)}
    for i in range(count):
        seq, t = 100 + i, 20 * (i + 1)
        wire = request(m.TcGetStatusRequest(), seq)
        outputs[seq] = hostile.receive(wire, t)
        originals[seq] = twin.receive(wire, t)
    outputs["end"] = hostile.poll(20 * (count + 1) + 1000)  # whatever is still held back
    return hostile, twin, outputs, originals


def impossible_status(status):
    """Why a (non-strictly decoded) status cannot be true, or None: the app's semantic checks."""
    if isinstance(status, m.HelloResponse):
        return "a reservoir of no capacity" if status.capacity_ul == 0 else \
            "test_mode neither 0 nor 1" if status.test_mode > 1 else None
    if status.reservoir_ul > status.capacity_ul:
        return "reservoir above capacity"
    if status.battery_pct > 100:
        return "battery above 100 %"
    if status.drug and status.concentration_ug_per_ml == 0:
        return "a drug at concentration 0"
    if status.concentration_ug_per_ml > MAX_CONCENTRATION:
        return "concentration above every drug's maximum"
    if status.delivered_24h_ug > 2 * MAX_HARD_DAILY:  # basal <= a hard max per day, boluses too
        return "more in 24 h than basal and boluses at any hard maximum"
    return None


# ---- (a) honest at rate 0 -------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2 ** 64 - 1), split_points=st.sets(st.integers(0, 16), max_size=6))
def test_all_rates_zero_is_byte_identical_to_the_plain_pump(seed, split_points):
    steps = scripted_session(split_points)
    plain = drive(Pump(test_mode=True), steps)
    hostile = HostilePump(Pump(test_mode=True), "malformed=0,truncated=0%%,all=0,seed=%d" % seed)
    wrapped = drive(hostile, steps)
    assert wrapped == plain
    assert sum(len(out) for out, _ in plain) > 200  # the session did produce answers and events
    assert hostile.stats["answers"] >= 10 and hostile.stats["events"] >= 2
    assert hostile.actions == [] and all(hostile.stats[kind] == 0 for kind in KINDS)


def test_the_wrapped_pump_is_never_modified_and_its_attributes_show_through():
    steps = scripted_session()
    plain_pump, hostile = Pump(test_mode=True, serial="PM-000042"), HostilePump(
        Pump(test_mode=True, serial="PM-000042"), "all=20%,seed=5")
    drive(plain_pump, steps)
    drive(hostile, steps)
    assert hostile.actions  # it did lie...
    assert hostile.pump.counters() == plain_pump.counters()  # ...but the pump lived the same life
    assert hostile.pump.event_seq == plain_pump.event_seq
    assert (hostile.serial, hostile.test_mode) == ("PM-000042", True)
    assert hostile.model is hostile.pump.model


def test_firmware_mock_cannot_import_the_hostile_pump():
    # Host-side only: firmware_mock runs on MicroPython and imports nothing from the rest of the repo.
    assert not hasattr(firmware_mock, "HostilePump")
    sources = list(Path(firmware_mock.__path__[0]).rglob("*.py"))
    assert len(sources) > 10
    for path in sources:
        assert "hostile" not in path.read_text().lower(), path


# ---- (b) each kind at its rate, and of its kind ------------------------------------------------
RATES = {"malformed": 0.10, "truncated": 0.08, "out_of_range": 0.10, "out_of_order": 0.10, "flood": 0.04}
SPEC = ",".join("%s=%g%%" % (kind, rate * 100) for kind, rate in RATES.items()) + ",flood_size=5,seed=11"
N = 1500


@pytest.fixture(scope="module")
def status_run():
    return status_session(SPEC, N)


def test_each_kind_happens_at_about_its_rate(status_run):
    hostile, _twin, _outputs, _originals = status_run
    assert hostile.stats["answers"] == N + 1  # HELLO and every TC_GET_STATUS
    for kind, rate in RATES.items():
        share = hostile.stats[kind] / hostile.stats["answers"]
        assert abs(share - rate) < 0.03, (kind, share, rate)
    assert collections.Counter(action["kind"] for action in hostile.actions) == {
        kind: hostile.stats[kind] for kind in KINDS}
    assert hostile.stats["flood_events"] == 5 * hostile.stats["flood"]


def test_every_lie_is_on_the_line_and_of_the_kind_claimed(status_run):
    hostile, _twin, outputs, originals = status_run
    line = b"".join(outputs.values())
    seen = collections.Counter()
    for action in hostile.actions:
        wire, kind = action["wire"], action["kind"]
        assert wire in line, action
        if kind == "malformed":
            (error,) = FrameDecoder().feed(wire)
            assert isinstance(error, RemoteProtocolError) and error.reason == "crc", action
            cobs.decode_block(wire[:-1])  # still valid COBS: only the CRC gives it away
        elif kind == "truncated":
            assert wire.count(0) == 1 and wire.endswith(b"\x00")
            (error,) = FrameDecoder().feed(wire)
            assert isinstance(error, RemoteProtocolError), action
            original = originals[action["seq"]]
            assert original.startswith(wire[:-1]) and len(wire) < len(original), action
        elif kind == "out_of_range":
            frame = decode_frame(wire)  # a correct CRC: framing has no complaint
            lie = m.decode_message(frame, strict=False)
            assert field_at(lie, action["field"].split(".")) == action["value"]
            assert impossible_status(lie), action
            truth = m.decode_message(decode_frame(originals[frame.seq]))
            assert impossible_status(truth) is None and field_at(truth, [action["field"]]) == action["was"]
        elif kind == "out_of_order":
            frame = decode_frame(wire[:wire.index(0) + 1])
            assert frame.kind in (RESPONSE, NAK) and frame.seq == action["seq"]
            if action["answering"] is not None:
                assert frame.seq != action["answering"], action
                assert wire in outputs[action["answering"]]  # out with another request's answer
        else:
            frames = FrameDecoder().feed(wire)
            assert len(frames) == 5 and all(f.kind == EVENT and f.seq >= FAKE_EVENT_SEQ for f in frames)
            events = [m.decode_message(f) for f in frames]
            assert all(isinstance(e, m.AlarmRaised) and e.code in set(Alarm) for e in events)
            assert wire + originals[action["seq"]] in outputs[action["seq"]]  # the answer survives, behind it
        seen[action.get("variant", kind)] += 1
    assert {"bad_crc", "garbled", "wrong_seq", "duplicate", "swap", "truncated", "out_of_range",
            "flood"} <= set(seen)


def test_answers_under_a_seq_that_does_not_match_are_exactly_the_out_of_order_ones(status_run):
    hostile, _twin, outputs, _originals = status_run
    mismatched = collections.Counter()
    for seq, out in outputs.items():
        for item in FrameDecoder().feed(out):
            if not isinstance(item, RemoteProtocolError) and item.kind in (RESPONSE, NAK) and item.seq != seq:
                mismatched[(item.seq, seq)] += 1
    claimed = collections.Counter((a["seq"], a["answering"] if a["answering"] is not None else "end")
                                  for a in hostile.actions if a["kind"] == "out_of_order")
    assert mismatched == claimed and sum(claimed.values()) > 100


def test_out_of_range_lies_differ_by_message_and_may_fool_the_strict_codec():
    # The host codec's range checks catch a battery of 250 %, never a reservoir above its capacity.
    hostile, *_ = status_session("out_of_range=100%,seed=2", 200)
    lies = [action for action in hostile.actions if action["msg"] == "TC_GET_STATUS"]
    assert len(lies) == 200 and {action["field"] for action in lies} == {
        "reservoir_ul", "battery_pct", "concentration_ug_per_ml", "delivered_24h_ug"}
    caught = {action["field"]: _strict_decode_fails(action["wire"]) for action in lies}
    assert caught["battery_pct"] and not caught["reservoir_ul"]


def _strict_decode_fails(wire):
    try:
        m.decode_message(decode_frame(wire))
    except RemoteProtocolError:
        return True
    return False


def test_a_flood_is_alarms_with_their_real_priorities():
    hostile, *_ = status_session("flood=100%,flood_size=40,seed=4", 3)
    events = [m.decode_message(f) for a in hostile.actions for f in FrameDecoder().feed(a["wire"])]
    assert len(events) == 40 * 4  # HELLO and three requests, each behind a storm
    assert len({e.code for e in events}) >= 5 and len({e.instance for e in events}) == len(events)
    assert all(event.priority == ALARM_PRIORITY[event.code] and event.announce_count == 1 for event in events)


# ---- the spec ------------------------------------------------------------------------------------
def test_spec_shorthands_and_refusals():
    assert HostileSpec.parse("all=4%,flood=0").rates == {"malformed": 0.04, "truncated": 0.04, "out_of_range": 0.04,
                                                         "out_of_order": 0.04, "flood": 0.0}
    default = HostileSpec.parse("1")
    assert default.rates == HostileSpec.parse("link_noise").rates == {
        "malformed": 0.05, "truncated": 0.05, "out_of_range": 0.0, "out_of_order": 0.0, "flood": 0.0}
    lying = HostileSpec.parse("lying,seed=4")
    assert lying.rates["out_of_range"] == 0.10 and lying.rates["flood"] == 0.02 and lying.seed == 4
    assert HostileSpec.parse("1,seed=9").seed == 9 and not HostileSpec.parse("0").active
    for bad, key in (("bogus=1%", "bogus"), ("malformed=lots", "malformed"), ("truncated=150%", "truncated"),
                     ("seed=x", "seed"), ("flood_size=0", "flood_size"), ("out_of_range", "out_of_range")):
        with pytest.raises(ValueError, match=key):
            HostileSpec.parse(bad)
    with pytest.raises(ValueError, match="100%"):
        HostileSpec.parse("all=30%")  # five kinds at 30 %: more than every frame


# ---- (c) the reference client never hangs ---------------------------------------------------------
def hostile_url(spec):
    return "pumpmock://?clock=virtual&hostile=" + urllib.parse.quote(spec)


def test_the_reference_client_survives_or_raises_typed_errors():
    outcomes = collections.Counter()
    lies_told = collections.Counter()
    absurd = []  # what the client returned although it cannot be true
    session, seed = None, 0
    started = time.monotonic()
    for _ in range(200):
        try:
            if session is None:  # a failed session is replaced by a new pump with the next seed
                seed += 1
                session = harness.connect(hostile_url("all=20%%,seed=%d" % seed), role=Role.PATIENT)
            status = session.status()
            why = impossible_status(status)
            outcomes["good answer"] += 1
            if why:
                absurd.append(why)
        except HarnessError as error:  # typed, and the harness's own: a bad answer is never returned
            outcomes[type(error).__name__] += 1
            if session is not None:
                lies_told.update(session.port.link.pump.stats)
                session.close()
            session = None
    if session is not None:
        lies_told.update(session.port.link.pump.stats)
        session.close()
    assert sum(outcomes.values()) == 200
    assert time.monotonic() - started < 20
    assert outcomes["good answer"] >= 50, outcomes  # retransmission got through the lies
    typed = sum(n for name, n in outcomes.items() if name != "good answer")
    assert typed >= 10, outcomes
    assert {"LinkTimeout", "MalformedAnswerError", "ImplausibleAnswerError"} <= set(outcomes), outcomes
    assert not absurd, absurd
    assert all(lies_told[kind] > 0 for kind in KINDS), lies_told


def test_the_url_option_wraps_only_that_port_and_refuses_a_bad_spec():
    with harness.connect(hostile_url("flood=100%,flood_size=3,seed=1") + "&name=hostile-test") as liar:
        with harness.connect("pumpmock://hostile-test?clock=virtual") as honest:
            assert isinstance(liar.port.link.pump, HostilePump)
            assert liar.port.link.pump.pump is honest.port.link.pump  # one pump, two views of it
            liar.test.status()
            honest.test.status()
            assert len(liar.poll_events()) >= 3 and honest.poll_events() == []
    with pytest.raises(ValueError, match="bogus"):
        harness.connect(hostile_url("bogus=3%"))


# ---- (e) reproducible ---------------------------------------------------------------------------
def test_same_seed_same_transcript_and_another_seed_another():
    steps = scripted_session()
    runs = []
    for seed in (3, 3, 4):
        pump = HostilePump(Pump(test_mode=True), "all=20%%,seed=%d" % seed)
        runs.append((drive(pump, steps), pump.actions))
    assert runs[0] == runs[1] and runs[0][1]
    assert runs[0][0] != runs[2][0]


def test_same_seed_same_story_through_the_reference_client():
    def story():
        outcomes = []
        with harness.connect(hostile_url("all=10%,seed=8")) as session:
            for _ in range(40):
                try:
                    outcomes.append(session.test.status().battery_pct)
                except (HarnessError, RemoteProtocolError) as error:
                    outcomes.append(type(error).__name__)
            acts = [(a["kind"], a.get("variant"), a["msg"], a.get("field"), a.get("value"))
                    for a in session.port.link.pump.actions]
        return outcomes, acts
    first = story()
    assert first == story() and len(first[1]) >= 5


# ---- (d) the example app on `pumpmock serve --hostile` --------------------------------------------
@contextlib.contextmanager
def served_hostile_pump(spec, report):
    """`pumpmock serve --pty --hostile SPEC`: yields the pty path; `report` gets the closing report."""
    server = subprocess.Popen([sys.executable, "-m", "pumpmock.harness.cli", "serve", "--pty", "--test-mode", "--hostile", spec],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        path = server.stdout.readline().strip()
        assert path.startswith("/dev/"), server.stderr.read()
        yield path
    finally:
        server.terminate()
        report.append(server.communicate(timeout=10)[1])


def run_app(path, *command, timeout):
    """The example app's run, or None when it did not exit within `timeout` s (it hung)."""
    try:
        return subprocess.run([sys.executable, str(EXAMPLE_APP), "--port", path, *command],
                              capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def test_the_example_app_on_a_served_hostile_pump_exits_or_reports_within_a_timeout():
    report = []
    with served_hostile_pump("all=15%,flood_size=8,seed=6", report) as path:
        for command in (["interrogate"], ["read-log"], ["--role", "patient", "interrogate"]):
            # The app's own bound is a few requests x 4 attempts x 250 ms; far past that, it hung.
            run = run_app(path, *command, timeout=10)
            assert run is not None, "the example app hung on a hostile pump: %s" % " ".join(command)
            assert run.returncode in (0, 1, 2), run.stderr  # done, refused or link failure: never a crash
            assert "Traceback" not in run.stderr, run.stderr
            assert run.returncode == 0 or run.stderr.strip(), "exit %d without a reason" % run.returncode
    summary = re.search(r"hostile pump \(.*\): (\d+) frames.*; (.*)", report[0])
    assert summary, report[0]
    hits = {kind: int(n) for kind, n in re.findall(r"(%s) (\d+)" % "|".join(KINDS), summary.group(2))}
    assert int(summary.group(1)) >= 6 and set(hits) == set(KINDS) and sum(hits.values()) >= 1, report[0]


# Found by the hostile pump: watch-alarms used to drain its event queue before looking at its deadline.
def test_the_example_app_watching_alarms_ends_on_time_under_an_alarm_flood():
    report = []
    with served_hostile_pump("flood=100%,flood_size=4,seed=1", report) as path:
        run = run_app(path, "watch-alarms", "--seconds", "0.5", timeout=4)
    assert "flood" in report[0]
    assert run is not None, "watch-alarms --seconds 0.5 still running after 4 s of an alarm flood"
    assert run.returncode in (0, 2)


def test_serve_refuses_a_bad_hostile_spec():
    run = subprocess.run([sys.executable, "-m", "pumpmock.harness.cli", "serve", "--pty", "--hostile", "flood=lots"],
                         capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert run.returncode == 2 and "flood" in run.stderr


HOSTILE_SUITE_TIMEOUT_S = 600
# The suite's workflow files (every command of the app, its alarms, boluses, limits, the link):
# the later files re-check what the pump holds and what was shown, which noise on the link does
# not change, and running them too doubled this run's cost in CI.
HOSTILE_SUITE_FILES = ["tests/test_alarms.py", "tests/test_bolus.py", "tests/test_every_workflow.py",
                       "tests/test_interrogate.py", "tests/test_link.py", "tests/test_prescription.py"]
_HOSTILE_SUITE = {}


def background_work():
    """The example suite on the correct app under the default hostile profile, in a subprocess
    (started as collection ends when its test is selected: tests/background.py)."""
    import pathlib
    import subprocess
    import sys
    import tempfile
    import urllib.parse
    examples = pathlib.Path(__file__).resolve().parent.parent / "examples"
    url = "pumpmock://?clock=real&hostile=" + urllib.parse.quote("1,seed=5")
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        process = _HOSTILE_SUITE["process"] = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pump-url", url] + HOSTILE_SUITE_FILES,
            cwd=examples, stdout=out, stderr=err, text=True)
        try:
            code = process.wait(timeout=HOSTILE_SUITE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = "did not finish within %d s" % HOSTILE_SUITE_TIMEOUT_S
        finally:
            stop_in_background()
        out.seek(0)
        err.seek(0)
        return {"code": code, "stdout": out.read(), "stderr": err.read()}


def waits_for_background(item):
    """tests/conftest.py: the test that waits for the hostile suite runs last."""
    return item.originalname == "test_the_default_profile_is_one_a_correct_app_survives_a_whole_suite_under"


def stop_in_background():
    """At the session's end (and the work's): a suite still running is not left behind."""
    process = _HOSTILE_SUITE.get("process")
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.timeout(HOSTILE_SUITE_TIMEOUT_S + 120)  # the subprocess's own bound comes first
def test_the_default_profile_is_one_a_correct_app_survives_a_whole_suite_under():
    """The promise of link_noise (hostile=1): the example suite's workflow files pass on the correct
    app under it."""
    import background
    suite = background.result(__name__, HOSTILE_SUITE_TIMEOUT_S + 60)
    code, stdout, stderr = suite["code"], suite["stdout"], suite["stderr"]
    assert code == 0, "exit %s\n%s%s" % (code, stdout[-3000:], stderr[-1000:])
    assert " passed" in stdout and "failed" not in stdout
