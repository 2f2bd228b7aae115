"""The transcript diff and the pump's real clock: stamps in whole seconds agree within the clock's
resolution (1 s), shown as "within tolerance"; every other difference still counts."""

import io
import json

from pumpmock.harness import cli
from pumpmock.harness.bench import scenario
from pumpmock.harness.transcript import CLOCK_FIELDS, CLOCK_TOLERANCE_S, TranscriptRecorder, compare, diff
from pumpmock.protocol import encode_message
from pumpmock.protocol import messages as m
from pumpmock.protocol.codes import Alarm

from test_transcript import STATUS


def cleared(cleared_s, instance=3):
    recorder = TranscriptRecorder(io.StringIO())
    return recorder.feed("pump>host", encode_message(m.AlarmCleared(code=Alarm.MOTOR_STALL, instance=instance,
                                                                    cleared_s=cleared_s), 9))


def status(**changes):
    recorder = TranscriptRecorder(io.StringIO())
    return recorder.feed("pump>host", encode_message(STATUS._replace(**changes), 4))


def test_the_clock_fields_are_the_catalogs_pump_clock_seconds():
    assert CLOCK_FIELDS == {"clock_s", "raised_s", "cleared_s", "ends_s", "next_allowed_s"}
    assert CLOCK_TOLERANCE_S == 1


def test_a_stamp_a_second_apart_is_within_tolerance_not_a_difference():
    found = compare(cleared(5_800), cleared(5_801))
    assert found.differences == []
    assert found.within_tolerance == ["a#0/b#0 pump>host EVENT ALARM_CLEARED seq=9: cleared_s: 5800 != 5801 "
                                      "(within 1 s)"]
    assert diff(cleared(5_801), cleared(5_800)) == []


def test_two_seconds_apart_or_any_other_field_still_counts():
    assert diff(cleared(5_800), cleared(5_802)) == ["a#0/b#0 pump>host EVENT ALARM_CLEARED seq=9: cleared_s: "
                                                    "5800 != 5802"]
    assert diff(cleared(5_800, instance=3), cleared(5_800, instance=4)) == [
        "a#0/b#0 pump>host EVENT ALARM_CLEARED seq=9: instance: 3 != 4"]
    # In one frame: the stamp within tolerance, the reservoir a difference.
    found = compare(status(clock_s=100, reservoir_ul=500), status(clock_s=101, reservoir_ul=499))
    assert found.differences == ["a#0/b#0 pump>host RESPONSE GET_STATUS seq=4: reservoir_ul: 500 != 499"]
    assert len(found.within_tolerance) == 1 and "clock_s: 100 != 101" in found.within_tolerance[0]


def test_tolerance_zero_compares_stamps_exactly():
    assert diff(cleared(5_800), cleared(5_801), tolerance_s=0) == [
        "a#0/b#0 pump>host EVENT ALARM_CLEARED seq=9: cleared_s: 5800 != 5801"]


def write(path, entries):
    with open(path, "w") as handle:
        handle.write(json.dumps({"transcript": 1, "started": "2026-12-02T00:00:00+00:00", "meta": {}}) + "\n")
        for entry in entries:
            handle.write(json.dumps(entry) + "\n")


def test_pumpmock_diff_says_within_tolerance_and_strict_compares_exactly(tmp_path, capsys):
    write(tmp_path / "a.jsonl", cleared(5_800))
    write(tmp_path / "b.jsonl", cleared(5_801))
    write(tmp_path / "c.jsonl", cleared(5_803))
    a, b, c = (str(tmp_path / name) for name in ("a.jsonl", "b.jsonl", "c.jsonl"))
    assert cli.main(["diff", a, b]) == 0
    out = capsys.readouterr().out
    assert "within tolerance: a#0/b#0 pump>host EVENT ALARM_CLEARED seq=9: cleared_s: 5800 != 5801" in out
    assert "equivalent, 1 within the clock's tolerance" in out
    assert cli.main(["diff", a, b, "--strict"]) == 1
    assert cli.main(["diff", a, c]) == 1
    assert cli.main(["diff", a, c, "--clock-tolerance", "3"]) == 0
    assert cli.main(["diff", a, c, "--clock-tolerance", "-1"]) == 2


def test_the_bench_allows_the_clock_resolution_plus_how_long_the_run_took():
    quick = [{"t": 0.0}, {"t": 0.4}]
    slow = [{"t": 0.1}, {"t": 2.3}]  # a board that took 2.2 s: its clock ran on up to that much
    assert scenario.clock_tolerance_s(quick, quick) == 2
    assert scenario.clock_tolerance_s(quick, slow) == 4
    assert "clock_s" not in scenario.IGNORED_FIELDS and "seq" in scenario.IGNORED_FIELDS
