"""How the CLI starts the dashboard process: headless Streamlit told where the API is."""

from __future__ import annotations

from dashboard.launcher import APP, dashboard_url, streamlit_command, streamlit_environment


def test_the_command_runs_the_router_headless_on_the_port() -> None:
    """No browser, no usage statistics, the requested port, the router script."""
    command = streamlit_command(8502)
    assert command[1:5] == ["-m", "streamlit", "run", str(APP)]
    assert APP.name == "app.py"
    assert APP.is_file()
    assert {
        "--server.headless=true",
        "--server.port=8502",
        "--browser.gatherUsageStats=false",
    } <= set(command)


def test_the_environment_points_at_the_api_and_binds_the_given_address() -> None:
    """The API URL and token go in; a stale token from the parent does not survive."""
    env = streamlit_environment(
        {"PATH": "/bin", "SYNCSIGHT_API_TOKEN": "stale-token-from-parent"},
        api_url="http://127.0.0.1:4318",
        api_token="",
        address="127.0.0.1",
    )
    assert env["SYNCSIGHT_API_URL"] == "http://127.0.0.1:4318"
    assert "SYNCSIGHT_API_TOKEN" not in env
    assert env["STREAMLIT_SERVER_ADDRESS"] == "127.0.0.1"
    assert env["PATH"] == "/bin"


def test_an_explicit_streamlit_address_wins_over_the_default() -> None:
    """A container that sets STREAMLIT_SERVER_ADDRESS=0.0.0.0 keeps it."""
    env = streamlit_environment(
        {"STREAMLIT_SERVER_ADDRESS": "0.0.0.0"},
        api_url="http://syncsight:4318",
        api_token="viewer-token-0123456789",
        address="127.0.0.1",
    )
    assert env["STREAMLIT_SERVER_ADDRESS"] == "0.0.0.0"
    assert env["SYNCSIGHT_API_TOKEN"] == "viewer-token-0123456789"


def test_the_printed_url_is_reachable_from_this_machine() -> None:
    """A wildcard bind is announced as the loopback address."""
    assert dashboard_url("0.0.0.0", 8501) == "http://127.0.0.1:8501/"
    assert dashboard_url("127.0.0.1", 8502) == "http://127.0.0.1:8502/"
