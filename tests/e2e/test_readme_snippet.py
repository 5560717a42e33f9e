"""The README's FastAPI endpoint, run as written: its answers are the seed's shapes and
its errors the project's exceptions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipeline.core.errors import InputNotFound
from pipeline.core.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet() -> str:
    text = README.read_text()
    block = text[text.index("<!-- fastapi-snippet -->") :]
    found = re.search(r"```python\n(.*?)```", block, re.S)
    assert found is not None
    return found.group(1)


def test_the_snippet_is_short_and_runs(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    code = snippet()
    assert len([line for line in code.splitlines() if line.strip()]) <= 16
    monkeypatch.setenv("REELPIPE_ENDPOINT_URL", str(settings.storage.endpoint_url))
    monkeypatch.setenv("REELPIPE_BUCKET", settings.storage.bucket)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key-do-not-log")
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    app = namespace["app"]
    with TestClient(app) as http:  # type: ignore[arg-type]
        with pytest.raises(InputNotFound, match=r"no-such-clip\.mp4"):
            http.post(
                "/detect-players", json={"user_id": "u", "video_key": "clips/no-such-clip.mp4"}
            )
        answer = http.post("/detect-players", json={"user_id": "u"})
        assert answer.status_code == 422  # FastAPI's own validation of the request body
