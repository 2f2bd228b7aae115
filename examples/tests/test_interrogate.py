"""Interrogation: the app identifies the pump, reads it, and changes nothing."""

from pumpmock.protocol.catalog import MESSAGES_BY_NAME

# Requests that change the pump's therapy state (logging in changes only the session).
STATE_CHANGING = {name for name, message in MESSAGES_BY_NAME.items()
                  if message.state_changing and message.role != "NONE"}


def test_interrogate_prints_a_factory_pump_as_json_and_changes_nothing(app, wire):
    result = app("interrogate")

    assert result.code == 0, result.stderr
    report = result.json()
    assert report["status"]["therapy_state"] == "NOT_PROGRAMMED"
    assert report["prescription"] is None
    assert report["alarms"] == []
    sent = [r.name for r in wire.requests()]
    assert sent[0] == "HELLO", "app sent %s before identifying the pump with HELLO" % sent[0]
    changed = sorted(set(sent) & STATE_CHANGING)
    assert not changed, "interrogation sent state-changing request(s): %s" % ", ".join(changed)


def test_interrogate_shows_what_was_programmed(programmed, pump):
    result = programmed("interrogate")

    assert result.code == 0, result.stderr
    report = result.json()
    _version, rx = pump.prescription()
    assert report["prescription"]["daily_dose_ug"] == rx.daily_dose_ug == 3000
    assert report["prescription"]["concentration_ug_per_ml"] == rx.concentration_ug_per_ml == 20000
    assert report["status"]["therapy_state"] == "RUNNING"
    # 3 mg/day at 20 mg/mL is 150 µL/day: a few seconds of therapy move at most a µL
    assert 19_990 <= report["status"]["reservoir_ul"] <= 20_000
