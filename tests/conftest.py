import pytest

pytest_plugins = ["pytester"]


def pytest_collection_modifyitems(items):
    """The tests that wait for a background run (waits_for_background) run last, in their order: the
    rest of the suite runs while the background runs go on, instead of the first such test holding
    the suite up until they end (a durations run had one waiting 166 s, early in the suite)."""
    def waits(item):
        module = getattr(item, "module", None)
        check = getattr(module, "waits_for_background", None)
        return check is not None and check(item)
    last = [item for item in items if waits(item)]
    if last:
        first = [item for item in items if not waits(item)]
        items[:] = first + last


def pytest_collection_finish(session):
    """Runs that take minutes of mostly waiting (the meta-test's example-suite runs, a whole
    example suite under the hostile profile) start now, beside the rest of the suite, when a test
    that needs them was selected: a module that has such runs defines start_in_background(items)."""
    if session.config.option.collectonly:
        return
    selected = {}
    for item in session.items:
        module = getattr(item, "module", None)
        if module is not None and hasattr(module, "start_in_background"):
            selected.setdefault(module, []).append(item)
    for module, items in selected.items():
        module.start_in_background(items)
        _STARTED.append(module)


_STARTED = []


def pytest_sessionfinish(session):
    """A run that ended before a background run's test (-x, a keyboard interrupt) stops it."""
    for module in _STARTED:
        stop = getattr(module, "stop_in_background", None)
        if stop is not None:
            stop()


@pytest.fixture
def no_config(monkeypatch, tmp_path):
    """No allowlist entries from the machine running the tests: an empty config, no environment."""
    config = tmp_path / "empty.toml"
    config.write_text("")
    monkeypatch.setenv("PUMPMOCK_CONFIG", str(config))
    monkeypatch.delenv("PUMPMOCK_ALLOW_USB", raising=False)
    monkeypatch.delenv("PUMPMOCK_ALLOW_PORTS", raising=False)
