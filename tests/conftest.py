import pytest

import background

pytest_plugins = ["pytester"]


def pytest_configure(config):
    background.configure(config)


def _waits(item):
    module = getattr(item, "module", None)
    check = getattr(module, "waits_for_background", None)
    return check is not None and check(item)


def pytest_collection_modifyitems(items):
    """The files with tests that wait for a background run (tests/background.py) run last, whole,
    in their order: the rest of the suite runs while the background runs go on, instead of the
    first such test holding the suite up until they end (a durations run had one waiting 166 s,
    early in the suite). Whole files, as pytest-xdist's --dist loadfile hands out files in the
    order of their first test."""
    last_files = {item.nodeid.split("::")[0] for item in items if _waits(item)}
    if last_files:
        items[:] = [item for item in items if item.nodeid.split("::")[0] not in last_files] + \
            [item for item in items if item.nodeid.split("::")[0] in last_files]


def pytest_collection_finish(session):
    """Background runs start now, when a test that needs one was selected."""
    if session.config.option.collectonly:
        return
    for item in session.items:
        if _waits(item):
            module = item.module
            background.start(module.__name__, module.background_work)
            if module not in _STARTED:
                _STARTED.append(module)


_STARTED = []


def pytest_sessionfinish(session, exitstatus):
    """Under xdist the worker doing the work keeps it going until it ends (other workers read it);
    a run that ended early (-x, a keyboard interrupt) stops what is still running."""
    if background.does_the_work() and getattr(session.config, "workerinput", None) is not None \
            and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        background.wait_for_all(BACKGROUND_WAIT_S)
    for module in _STARTED:
        stop = getattr(module, "stop_in_background", None)
        if stop is not None:
            stop()


BACKGROUND_WAIT_S = 1800  # the longest background work's own bounds, with room


@pytest.fixture
def no_config(monkeypatch, tmp_path):
    """No allowlist entries from the machine running the tests: an empty config, no environment."""
    config = tmp_path / "empty.toml"
    config.write_text("")
    monkeypatch.setenv("PUMPMOCK_CONFIG", str(config))
    monkeypatch.delenv("PUMPMOCK_ALLOW_USB", raising=False)
    monkeypatch.delenv("PUMPMOCK_ALLOW_PORTS", raising=False)
