"""Settings: built from the environment once; secrets never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.errors import ConfigError
from pipeline.core.settings import Settings


def test_no_endpoint_means_embedded() -> None:
    """With nothing configured, reelpipe serves its own S3."""
    settings = Settings.from_env({})
    assert settings.embedded
    assert settings.storage.bucket == "reelpipe"


def test_environment_is_read() -> None:
    """R2-style configuration comes from the documented variables."""
    env = {
        "REELPIPE_ENDPOINT_URL": "https://acct.r2.cloudflarestorage.com",
        "REELPIPE_BUCKET": "clips",
        "REELPIPE_REGION": "auto",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
        "REELPIPE_SCRATCH_DIR": "/var/tmp/rp",
        "REELPIPE_MAX_DURATION_S": "90",
        "REELPIPE_X264_CRF": "20",
    }
    settings = Settings.from_env(env)
    assert not settings.embedded
    assert (settings.storage.bucket, settings.storage.region) == ("clips", "auto")
    assert settings.scratch_dir == Path("/var/tmp/rp")
    assert settings.limits.max_duration_s == 90
    assert settings.final_encode.crf == 20
    assert "s3cr3t-value" in settings.secret_values()


def test_overrides_win_and_none_is_ignored() -> None:
    """CLI flags override the environment; unset flags (None) do not."""
    settings = Settings.from_env({"REELPIPE_BUCKET": "a"}, bucket="b", endpoint_url=None)
    assert settings.storage.bucket == "b"
    assert settings.embedded


def test_secrets_do_not_appear_in_repr_or_dump() -> None:
    """The secret key is masked wherever settings are printed."""
    settings = Settings.from_env({"AWS_SECRET_ACCESS_KEY": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(settings)
    assert "s3cr3t-value" not in settings.model_dump_json()


def test_bad_values_raise_config_error_without_echoing_secrets() -> None:
    """An invalid limit names the setting; the message carries no secret."""
    env = {"REELPIPE_MAX_PIXELS": "-1", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value"}
    with pytest.raises(ConfigError, match="max_pixels") as info:
        Settings.from_env(env)
    assert "s3cr3t-value" not in str(info.value)
