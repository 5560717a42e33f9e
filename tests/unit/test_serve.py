"""What ``serve`` keeps and announces: a generated API token, its own ports."""

from __future__ import annotations

import io
import stat
from pathlib import Path

from pipeline.core.kept_secrets import API_TOKEN_FILE as TOKEN_FILE
from pipeline.core.kept_secrets import kept_secret as _kept_secret
from pipeline.core.kept_secrets import read_kept_secret
from pipeline.core.settings import Settings
from pipeline.service.serve import ServeOptions, _announce, own_ports
from pipeline.storage.connection import Connection


def _conn(embedded: bool) -> Connection:
    settings = Settings(endpoint_url="http://127.0.0.1:9000")
    return Connection(bucket=None, settings=settings, embedded=embedded)  # type: ignore[arg-type]


def test_a_generated_token_is_kept_private_in_the_data_directory(tmp_path: Path) -> None:
    first = _kept_secret(tmp_path / "data", TOKEN_FILE)
    assert len(first) >= 32 and _kept_secret(tmp_path / "data", TOKEN_FILE) == first
    assert stat.S_IMODE((tmp_path / "data" / TOKEN_FILE).stat().st_mode) == 0o600
    assert _kept_secret(None, TOKEN_FILE) != _kept_secret(None, TOKEN_FILE)
    assert read_kept_secret(tmp_path / "data", TOKEN_FILE) == first
    assert read_kept_secret(tmp_path / "nowhere", TOKEN_FILE) is None


def test_the_dashboard_link_carries_a_generated_token_only() -> None:
    options = ServeOptions(host="0.0.0.0", webhook_port=9001)
    out = io.StringIO()
    _announce(_conn(True), options, None, "tok-123", out)
    assert "dashboard:    http://127.0.0.1:9001/#token=tok-123\n" in out.getvalue()
    out = io.StringIO()
    _announce(_conn(True), options, None, None, out)
    assert "#token=" not in out.getvalue() and "REELPIPE_API_TOKEN" in out.getvalue()


def test_serves_own_ports_are_the_webhooks_and_the_embedded_stores() -> None:
    options = ServeOptions(webhook_port=9001)
    assert own_ports(_conn(True), options) == {9000, 9001}
    assert own_ports(_conn(False), options) == {9001}  # the configured store is not ours
