"""Every setting has a variable (pydantic-settings), a .env file works, ``reelpipe config``
says where each value came from with secrets masked, and the README's table is the model's."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline.cli.main import main
from pipeline.core.errors import ConfigError
from pipeline.core.settings import Settings
from pipeline.core.settings_sources import (
    MASK,
    Origin,
    load_settings,
    markdown_table,
    setting_rows,
)

README = Path(__file__).resolve().parents[2] / "README.md"
# Values for the settings a type alone does not give a valid non-default for.
SAMPLES: dict[str, str] = {
    "storage.endpoint_url": "http://127.0.0.1:1",
    "storage.bucket": "other-bucket",
    "storage.region": "auto",
    "storage.user_root": "{user_id}/",
    "modal.app": "another-app",
    "final_encode.preset": "slow",
    "intermediate_encode.preset": "veryfast",
    "final_encode.audio_bitrate": "128k",
    "intermediate_encode.audio_bitrate": "96k",
    "costs.compute": '{"cpu": {"fps": {"overlay": 3}}}',
    "costs.rates": '{"cpu_core_usd_per_s": 0.5}',
    "costs.stage_compute": '{"upscale": "A10G"}',
    "costs.segment_thresholds": "[[10, 1], [1e9, 2]]",
    "security.allowed_hosts": "reel.example.com, box.lan:9001",
}


def _field(settings: Settings, dotted: str) -> Any:
    value: Any = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _annotation(dotted: str) -> Any:
    top, _, sub = dotted.partition(".")
    info = Settings.model_fields[top]
    if sub:
        nested = info.annotation
        assert isinstance(nested, type)
        info = nested.model_fields[sub]  # type: ignore[attr-defined]
    return info.annotation


def _sample(dotted: str, default: Any, tmp_path: Path) -> str:
    if dotted in SAMPLES:
        return SAMPLES[dotted]
    kind = _annotation(dotted)
    args = typing.get_args(kind)
    if typing.get_origin(kind) is typing.Literal:
        return next(str(a) for a in args if a != default)
    base = next((a for a in (*args, kind) if a in (bool, int, float, Path, SecretStr)), kind)
    if base is bool:
        return "0" if default else "1"
    if base is int:
        return str((default or 1) + 1)
    if base is float:
        return str((default or 1.0) + 1.5)
    if base is Path:
        return str(tmp_path / dotted)
    if base is SecretStr:
        return "s3cr3t-value"
    raise AssertionError(f"no sample value for {dotted} ({kind})")


@pytest.mark.parametrize("row", setting_rows(Settings), ids=lambda row: row.variable)
def test_every_setting_is_set_by_its_variable(row: Any, tmp_path: Path) -> None:
    defaults = Settings()
    default = _field(defaults, row.field)
    value = _sample(row.field, default, tmp_path)
    loaded = load_settings(Settings, {row.variable: value})
    assert _field(loaded.settings, row.field) != default, row.variable
    assert loaded.origins[row.name] is Origin.ENVIRONMENT
    assert row.description, f"{row.field} has no description for the README"


def test_a_dotenv_file_sits_between_defaults_and_the_environment(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# local development\n"
        "REELPIPE_BUCKET=from-file\n"
        "REELPIPE_REGION=auto\n"
        "REELPIPE_MAX_PIXELS=1000000\n"
        "AWS_SECRET_ACCESS_KEY=file-secret\n"
        "MODAL_TOKEN_ID=not-ours\n"
    )
    loaded = load_settings(
        Settings,
        {"REELPIPE_BUCKET": "from-env", "REELPIPE_LIMITS__MAX_DURATION_S": "30"},
        env_file=dotenv,
        overrides={"region": "eu-west-1", "scratch_dir": None},
    )
    s = loaded.settings
    assert (s.storage.bucket, s.storage.region) == ("from-env", "eu-west-1")
    assert (s.limits.max_pixels, s.limits.max_duration_s) == (1_000_000, 30)
    assert s.storage.secret_access_key is not None and "file-secret" in s.secret_values()
    origins = loaded.origins
    assert origins["bucket"] is Origin.ENVIRONMENT and origins["region"] is Origin.ARGUMENT
    assert origins["secret_access_key"] is Origin.ENV_FILE
    assert origins["limits.max_pixels"] is Origin.ENV_FILE
    assert origins["limits.max_duration_s"] is Origin.ENVIRONMENT
    assert origins["limits.max_fps"] is Origin.DEFAULT and origins["scratch_dir"] is Origin.DEFAULT


def test_a_misspelt_variable_in_the_dotenv_file_is_named(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("REELPIPE_BUCKT=typo\n")
    with pytest.raises(ConfigError, match="REELPIPE_BUCKT"):
        load_settings(Settings, {}, env_file=dotenv)


def test_the_short_names_of_nested_settings_still_work() -> None:
    s = Settings.from_env({"REELPIPE_X264_PRESET": "slow", "REELPIPE_MAX_CLIP_BYTES": "5"})
    assert (s.final_encode.preset, s.limits.max_clip_bytes) == ("slow", 5)


def test_an_unsafe_user_root_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="user_root"):
        Settings.from_env({"REELPIPE_USER_ROOT": "../{user_id}/"})


def test_config_prints_values_and_origins_with_secrets_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("REELPIPE_REGION=auto\nREELPIPE_CALLBACK_SECRET=whsec_abc\n")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value")
    monkeypatch.setenv("REELPIPE_BUCKET", "clips")
    assert main(["config", "--json", "--scratch-dir", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "s3cr3t-value" not in out and "whsec_abc" not in out
    doc = json.loads(out)
    rows = {r["variable"]: r for r in doc["settings"]}
    assert rows["AWS_SECRET_ACCESS_KEY"]["value"] == MASK
    assert rows["REELPIPE_CALLBACK_SECRET"] == {
        "setting": "callback_secret",
        "variable": "REELPIPE_CALLBACK_SECRET",
        "value": MASK,
        "from": ".env",
    }
    assert (rows["REELPIPE_BUCKET"]["value"], rows["REELPIPE_BUCKET"]["from"]) == (
        "clips",
        "environment",
    )
    assert rows["REELPIPE_REGION"]["from"] == ".env"
    assert rows["REELPIPE_SCRATCH_DIR"]["from"] == "argument"
    assert rows["REELPIPE_FUSE"] == {
        "setting": "fuse",
        "variable": "REELPIPE_FUSE",
        "value": "1",
        "from": "default",
    }
    assert main(["config"]) == 0
    text = capsys.readouterr().out
    assert "s3cr3t-value" not in text and re.search(r"AWS_SECRET_ACCESS_KEY\s+\*+", text)


def test_the_readme_table_is_the_models() -> None:
    """Regenerate with ``reelpipe config --markdown`` when a setting changes."""
    text = README.read_text()
    start = text.index("<!-- settings-table:begin -->\n") + len("<!-- settings-table:begin -->\n")
    end = text.index("<!-- settings-table:end -->")
    assert text[start:end] == markdown_table(Settings)
