"""The Host allow-list: parsing SYNCSIGHT_ALLOWED_HOSTS, its default, and reading Host headers."""

from __future__ import annotations

import re

import pytest

from syncsight.hosts import (
    AllowedHostError,
    allowed_hosts,
    host_allowed,
    host_name,
    parse_allowed_hosts,
)
from syncsight.settings import Settings


class TestParsing:
    def test_entries_are_lower_cased_and_blanks_ignored(self) -> None:
        """Names, addresses (IPv6 with or without brackets), wildcards; case does not matter."""
        assert parse_allowed_hosts(" API.Example.com, ,*.corp.test,[::1],10.0.0.5,*") == (
            "api.example.com",
            "*.corp.test",
            "::1",
            "10.0.0.5",
            "*",
        )

    @pytest.mark.parametrize(
        "entry", ["example.com:8080", "http://example.com", "a*.example.com", "user@host", "*."]
    )
    def test_a_port_scheme_or_odd_wildcard_is_refused_by_position(self, entry: str) -> None:
        """The error names the entry and what is expected."""
        with pytest.raises(AllowedHostError, match=re.escape(f"entry 2 {entry!r}: expected a")):
            parse_allowed_hosts(f"ok.example, {entry}")

    def test_settings_name_the_variable(self) -> None:
        """A bad value stops Settings with the variable's name and value."""
        with pytest.raises(ValueError, match="SYNCSIGHT_ALLOWED_HOSTS='h:1': entry 1"):
            Settings(allowed_hosts="h:1")


class TestDefault:
    def test_loopback_names_and_the_bind_address(self) -> None:
        """Empty setting: loopback names plus a concrete bind address."""
        assert allowed_hosts((), bind_host="10.0.0.5", public_url="") == {
            "localhost",
            "127.0.0.1",
            "::1",
            "10.0.0.5",
        }

    @pytest.mark.parametrize("bind", ["0.0.0.0", "::", "[::]"])
    def test_a_wildcard_bind_adds_no_name(self, bind: str) -> None:
        """0.0.0.0 is no name a client sends; other names must be configured."""
        assert allowed_hosts((), bind_host=bind, public_url="") == {"localhost", "127.0.0.1", "::1"}

    def test_the_public_url_host_is_allowed(self) -> None:
        """Users reach the service at public_url, so its host is allowed by default."""
        hosts = allowed_hosts((), bind_host="0.0.0.0", public_url="https://Sync.Example.com:8443/x")
        assert "sync.example.com" in hosts

    def test_a_configured_list_replaces_the_default(self) -> None:
        """Configured names are the whole list: loopback is not added behind the operator's back."""
        assert allowed_hosts(("syncsight",), bind_host="127.0.0.1", public_url="") == {"syncsight"}

    def test_settings_compose_the_default(self) -> None:
        """Settings.allowed_host_names follows host and public_url."""
        settings = Settings(host="192.168.1.20", public_url="http://sync.local:4318")
        assert {"192.168.1.20", "sync.local", "localhost"} <= settings.allowed_host_names


class TestHostHeader:
    @pytest.mark.parametrize(
        ("header", "name"),
        [
            ("Example.com", "example.com"),
            ("example.com:4318", "example.com"),
            ("[::1]:4318", "::1"),
            ("[::1]", "::1"),
            ("", None),
            ("example.com:port", None),
            ("[::1", None),
            ("[::1]x", None),
        ],
    )
    def test_the_name_is_read_without_the_port(self, header: str, name: str | None) -> None:
        """Ports are dropped, IPv6 brackets removed; malformed headers have no name."""
        assert host_name(header) == name

    @pytest.mark.parametrize(
        ("name", "allowed"),
        [
            ("api.corp.test", True),
            ("deep.api.corp.test", True),
            ("corp.test", False),
            ("evilcorp.test", False),
            ("localhost", True),
            ("localhost.attacker.example", False),
        ],
    )
    def test_wildcards_match_subdomains_only(self, name: str, allowed: bool) -> None:
        """*.corp.test matches below corp.test, never corp.test itself or a look-alike."""
        assert host_allowed(name, frozenset({"*.corp.test", "localhost"})) is allowed
