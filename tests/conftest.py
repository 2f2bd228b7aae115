import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def no_config(monkeypatch, tmp_path):
    """No allowlist entries from the machine running the tests: an empty config, no environment."""
    config = tmp_path / "empty.toml"
    config.write_text("")
    monkeypatch.setenv("PUMPMOCK_CONFIG", str(config))
    monkeypatch.delenv("PUMPMOCK_ALLOW_USB", raising=False)
    monkeypatch.delenv("PUMPMOCK_ALLOW_PORTS", raising=False)
