"""The Host values the webhook's app answers and the writes it takes: a table each."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from pipeline.core.errors import ConfigError
from pipeline.core.settings import Settings
from pipeline.service.request_origin import ServedHosts, cross_origin


@pytest.mark.parametrize(
    ("bound", "extra", "host", "served"),
    [
        ("127.0.0.1", (), "127.0.0.1:9001", True),
        ("127.0.0.1", (), "localhost:9001", True),
        ("127.0.0.1", (), "LOCALHOST:9001", True),
        ("127.0.0.1", (), "[::1]:9001", True),
        ("127.0.0.1", (), "127.0.0.1:9002", False),
        ("127.0.0.1", (), "127.0.0.1", False),  # port 80
        ("127.0.0.1", (), "evil.example:9001", False),
        ("127.0.0.1", (), "localhost.evil.example:9001", False),
        ("127.0.0.1", (), "127.0.0.2:9001", False),
        ("127.0.0.1", (), "", False),
        ("127.0.0.1", (), "user@127.0.0.1:9001", False),
        ("127.0.0.1", (), "::1:9001", False),  # IPv6 needs brackets
        ("192.168.1.5", (), "192.168.1.5:9001", True),
        ("0.0.0.0", (), "192.168.1.5:9001", True),  # an IP literal cannot be a rebound name
        ("0.0.0.0", (), "[fe80::1]:9001", True),
        ("0.0.0.0", (), "192.168.1.5:9002", False),
        ("0.0.0.0", (), "box.lan:9001", False),
        ("0.0.0.0", ("box.lan",), "box.lan:9001", True),
        ("127.0.0.1", ("reel.example.com",), "reel.example.com", True),
        ("127.0.0.1", ("reel.example.com",), "reel.example.com:8443", True),
        ("127.0.0.1", ("reel.example.com:443",), "reel.example.com:8443", False),
    ],
)
def test_the_hosts_a_server_answers(
    bound: str, extra: tuple[str, ...], host: str, served: bool
) -> None:
    assert ServedHosts.bound(bound, 9001, extra).allows(host) is served


@pytest.mark.parametrize("entry", ["https://reel.example.com", "reel.example.com/x", "a b", ""])
def test_an_allowed_host_that_is_not_one_is_a_config_error(entry: str) -> None:
    with pytest.raises(ConfigError, match="REELPIPE_ALLOWED_HOSTS"):
        ServedHosts.bound("127.0.0.1", 9001, [entry])


def test_allowed_hosts_are_comma_separated_and_none_means_no_host_check() -> None:
    settings = Settings.from_env({"REELPIPE_ALLOWED_HOSTS": "Reel.example.com, box.lan:9001"})
    assert settings.security.allowed_hosts == ("reel.example.com", "box.lan:9001")
    assert ServedHosts.listed(Settings().security.allowed_hosts) is None
    listed = ServedHosts.listed(settings.security.allowed_hosts)
    assert listed is not None and listed.allows("reel.example.com")
    assert not listed.allows("127.0.0.1:9001")


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({}, False),
        ({"host": "127.0.0.1:9001", "origin": "http://127.0.0.1:9001"}, False),
        ({"host": "x.modal.run", "origin": "https://x.modal.run"}, False),
        ({"host": "x.modal.run:443", "origin": "https://x.modal.run"}, False),
        ({"sec-fetch-site": "same-origin"}, False),
        ({"sec-fetch-site": "none"}, False),
        ({"sec-fetch-site": "cross-site"}, True),
        ({"sec-fetch-site": "same-site"}, True),
        ({"host": "127.0.0.1:9001", "origin": "http://localhost:9001"}, True),
        ({"host": "127.0.0.1:9001", "origin": "http://127.0.0.1:9002"}, True),
        ({"host": "127.0.0.1:9001", "origin": "null"}, True),
        ({"host": "127.0.0.1:9001", "origin": "file://"}, True),
        ({"origin": "http://127.0.0.1:9001"}, True),  # no Host to be the same as
    ],
)
def test_which_writes_are_cross_origin(headers: dict[str, str], refused: bool) -> None:
    assert (cross_origin(Headers(headers)) is not None) is refused
