"""Settings in groups: code reads ``settings.leases.ttl_s``, while every setting keeps its
one public name (its environment variable's), taken by ``Settings(...)``, ``from_env`` and
``replace``; the variables a deployment sets are the ones it always set."""

from __future__ import annotations

import pytest

from pipeline.core.errors import ConfigError
from pipeline.core.setting_groups import LeaseSettings, ModalSettings, StorageSettings
from pipeline.core.settings import Settings
from pipeline.core.settings_sources import Origin, load_settings, setting_rows

# The variables of every setting before the settings were grouped: an interface of
# every deployment (Modal secrets, .env files, the Worker's configuration).
VARIABLES = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "REELPIPE_ALLOWED_HOSTS",
        "REELPIPE_API_TOKEN",
        "REELPIPE_BUCKET",
        "REELPIPE_CALLBACK_ALLOW_PRIVATE",
        "REELPIPE_CALLBACK_ATTEMPTS",
        "REELPIPE_CALLBACK_FIRST_RETRY_S",
        "REELPIPE_CALLBACK_PROGRESS_INTERVAL_S",
        "REELPIPE_CALLBACK_SECRET",
        "REELPIPE_CALLBACK_TIMEOUT_S",
        "REELPIPE_CLAIM_CONCURRENCY",
        "REELPIPE_COMPUTE",
        "REELPIPE_CONDITIONAL_DELETE",
        "REELPIPE_DATA_DIR",
        "REELPIPE_DETECT_BATCH",
        "REELPIPE_DETECT_OVERLAP_S",
        "REELPIPE_ENDPOINT_URL",
        "REELPIPE_FINAL_ENCODE__AUDIO_BITRATE",
        "REELPIPE_FINAL_ENCODE__CRF",
        "REELPIPE_FINAL_ENCODE__PRESET",
        "REELPIPE_FUSE",
        "REELPIPE_INPUT_WAIT_S",
        "REELPIPE_INTERACTIVE_MIN_CONTAINERS",
        "REELPIPE_INTERACTIVE_SCALEDOWN_S",
        "REELPIPE_INTERMEDIATE_ENCODE__AUDIO_BITRATE",
        "REELPIPE_INTERMEDIATE_ENCODE__CRF",
        "REELPIPE_INTERMEDIATE_ENCODE__PRESET",
        "REELPIPE_LEASE_TTL_S",
        "REELPIPE_LIMITS__MAX_CLIP_BYTES",
        "REELPIPE_LIMITS__MAX_DECODED_PIXELS",
        "REELPIPE_LIMITS__MAX_DURATION_S",
        "REELPIPE_LIMITS__MAX_FPS",
        "REELPIPE_LIMITS__MAX_PIXELS",
        "REELPIPE_LOCAL_WORKERS",
        "REELPIPE_MAX_JOB_ATTEMPTS",
        "REELPIPE_MAX_MANIFEST_BYTES",
        "REELPIPE_MAX_OUTPUT_PIXELS",
        "REELPIPE_MAX_SEGMENT_WORKERS",
        "REELPIPE_MEDIA_READ_TIMEOUT_S",
        "REELPIPE_MODAL",
        "REELPIPE_MODAL_APP",
        "REELPIPE_MULTIPART_THRESHOLD_BYTES",
        "REELPIPE_PROBE_TIMEOUT_S",
        "REELPIPE_PROGRESS_INTERVAL_S",
        "REELPIPE_RATES",
        "REELPIPE_REGION",
        "REELPIPE_REPROCESS_CONCURRENCY",
        "REELPIPE_S3_CONNECT_TIMEOUT_S",
        "REELPIPE_S3_MAX_ATTEMPTS",
        "REELPIPE_S3_READ_TIMEOUT_S",
        "REELPIPE_SCAN_PERIOD_S",
        "REELPIPE_SCRATCH_DIR",
        "REELPIPE_SEGMENT_THRESHOLDS",
        "REELPIPE_SEGMENT_WORKERS",
        "REELPIPE_STAGE_COMPUTE",
        "REELPIPE_STALL_LIMIT_S",
        "REELPIPE_UPSCALE_BATCH",
        "REELPIPE_UPSCALE_TILE",
        "REELPIPE_UPSCALE_WEIGHTS",
        "REELPIPE_USER_ROOT",
        "REELPIPE_VIDEO_ENCODER",
        "REELPIPE_WEBHOOK_CLAIM_QUEUE",
        "REELPIPE_WEBHOOK_MAX_BODY_BYTES",
        "REELPIPE_WEBHOOK_SECRET",
        "REELPIPE_YOLO_IMGSZ",
        "REELPIPE_YOLO_WEIGHTS",
    }
)


def test_the_variables_are_the_ones_deployments_already_set() -> None:
    assert {row.variable for row in setting_rows(Settings)} == VARIABLES


@pytest.mark.parametrize("row", setting_rows(Settings), ids=lambda row: row.variable)
def test_each_setting_lives_in_one_place(row: object) -> None:
    """Each row names one field, reachable by its dotted path, and one origin key."""
    top, _, sub = row.field.partition(".")  # type: ignore[attr-defined]
    value = getattr(Settings(), top)
    if sub:
        getattr(value, sub)
    assert row.name in load_settings(Settings, {}).origins  # type: ignore[attr-defined]


def test_public_names_go_to_their_groups() -> None:
    settings = Settings(bucket="clips", lease_ttl_s=5.0, callback_attempts=2, modal_app="a")
    assert settings.storage.bucket == "clips"
    assert settings.leases.ttl_s == 5.0
    assert settings.callbacks.attempts == 2
    assert settings.modal.app == "a" and settings.modal.enabled is False


def test_a_whole_group_and_its_public_names_merge() -> None:
    settings = Settings(storage=StorageSettings(region="auto"), bucket="clips")
    assert (settings.storage.region, settings.storage.bucket) == ("auto", "clips")


def test_the_modal_flag_and_the_modal_group_share_a_name() -> None:
    """``REELPIPE_MODAL=1`` (``modal=True``) is the flag; a mapping or model is the group."""
    assert Settings(modal=True).modal.enabled is True
    assert Settings(modal=ModalSettings(app="b")).modal.app == "b"
    assert Settings.from_env({"REELPIPE_MODAL": "1", "REELPIPE_MODAL_APP": "c"}).modal == (
        ModalSettings(enabled=True, app="c")
    )


def test_replace_takes_public_names_and_refuses_unknown_ones() -> None:
    base = Settings(bucket="clips")
    changed = base.replace(lease_ttl_s=2.0, input_wait_s=0.0, fuse=False, bucket="other")
    assert changed.leases == LeaseSettings(ttl_s=2.0, input_wait_s=0.0)
    assert (changed.fuse, changed.storage.bucket) == (False, "other")
    assert base.leases.ttl_s == 60.0 and base.storage.bucket == "clips"
    with pytest.raises(ConfigError, match="lease_ttl"):
        base.replace(lease_ttl=1.0)


def test_a_group_field_validates_as_before() -> None:
    with pytest.raises(ConfigError, match="lease"):
        Settings.from_env({"REELPIPE_LEASE_TTL_S": "0"})
    hosts = Settings.from_env({"REELPIPE_ALLOWED_HOSTS": "A.example, b.lan:9"})
    assert hosts.security.allowed_hosts == ("a.example", "b.lan:9")


def test_origins_are_kept_by_public_name() -> None:
    loaded = load_settings(
        Settings, {"REELPIPE_LEASE_TTL_S": "9", "AWS_ACCESS_KEY_ID": "k"}, overrides={"modal": True}
    )
    assert loaded.origins["lease_ttl_s"] is Origin.ENVIRONMENT
    assert loaded.origins["access_key_id"] is Origin.ENVIRONMENT
    assert loaded.origins["modal"] is Origin.ARGUMENT
    assert loaded.origins["input_wait_s"] is Origin.DEFAULT


def test_a_copy_with_a_public_name_is_refused_not_ignored() -> None:
    """pydantic's ``model_copy`` sets unknown keys without a word; here it says to replace."""
    with pytest.raises(ConfigError, match="replace"):
        Settings().model_copy(update={"lease_ttl_s": 1.0})
    assert Settings().model_copy(update={"fuse": False}).fuse is False
