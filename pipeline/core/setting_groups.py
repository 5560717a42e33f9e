"""The groups of :class:`pipeline.core.settings.Settings`: one model per concern.

Each setting keeps one public name, the one its environment variable spells
(``REELPIPE_`` + the name in capitals; the credentials keep AWS's names): a group's
field is named for the group it sits in (``leases.ttl_s``), and ``names`` maps it to
its public name where the two differ (``lease_ttl_s``). ``Settings(...)``,
``Settings.from_env`` and ``Settings.replace`` take the public names.

Example::

    settings.leases.ttl_s               # REELPIPE_LEASE_TTL_S
    settings.replace(lease_ttl_s=5.0)   # the same setting, by its public name
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from pipeline.core.errors import InvalidKey
from pipeline.core.keys import DEFAULT_USER_ROOT, validate_user_root
from pipeline.core.machines import (
    DEFAULT_COMPUTE,
    DEFAULT_THRESHOLDS,
    ComputeProfile,
    Rates,
    Thresholds,
)

# The Modal app apps look functions up by, unless deployed under another name.
DEFAULT_MODAL_APP = "reel-ballers-video"


class SettingsGroup(BaseModel):
    """A group of settings; ``names``: field -> public name, where they differ;
    ``variables``: field -> environment variable, where it is not ``REELPIPE_`` + the
    public name."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    names: ClassVar[dict[str, str]] = {}
    variables: ClassVar[dict[str, str]] = {}

    @classmethod
    def public_name(cls, field: str) -> str:
        """The setting's name outside its group."""
        return cls.names.get(field, field)


class StorageSettings(SettingsGroup):
    """Where the bucket is and how reelpipe speaks to it."""

    names: ClassVar[dict[str, str]] = {
        "connect_timeout_s": "s3_connect_timeout_s",
        "read_timeout_s": "s3_read_timeout_s",
        "max_attempts": "s3_max_attempts",
    }
    variables: ClassVar[dict[str, str]] = {
        "access_key_id": "AWS_ACCESS_KEY_ID",
        "secret_access_key": "AWS_SECRET_ACCESS_KEY",
    }

    endpoint_url: str | None = Field(
        None,
        description="S3 API endpoint (R2: https://<account>.r2.cloudflarestorage.com); "
        "unset: the embedded S3 server",
    )
    bucket: str = Field("reelpipe", description="the bucket clips, manifests and jobs live in")
    region: str = Field("us-east-1", description="S3 region (R2: auto)")
    access_key_id: SecretStr | None = Field(None, description="S3 access key id")
    secret_access_key: SecretStr | None = Field(None, description="S3 secret access key")
    user_root: str = Field(
        DEFAULT_USER_ROOT,
        description="a user's folder in the bucket, e.g. {user_id}/ for one folder per user "
        "at the top; input keys, requests and jobs live under it",
    )
    connect_timeout_s: float = Field(10.0, gt=0, description="one S3 connect at most")
    read_timeout_s: float = Field(60.0, gt=0, description="one S3 socket read at most")
    max_attempts: int = Field(5, ge=1, description="tries of one S3 request (5xx, throttling)")
    multipart_threshold_bytes: int = Field(
        64 * 1024**2, ge=5 * 1024**2, description="uploads this large go in parts"
    )
    conditional_delete: bool | None = Field(
        None,
        description="delete inbox manifests with If-Match (unset: yes, except on R2, which "
        "ignores it; there the version is re-read and compared before the delete)",
    )

    @field_validator("user_root")
    @classmethod
    def _safe_user_root(cls, value: str) -> str:
        try:
            return validate_user_root(value)
        except InvalidKey as exc:
            raise ValueError(str(exc)) from None

    @property
    def embedded(self) -> bool:
        """True when reelpipe serves its own S3 endpoint (no endpoint configured)."""
        return self.endpoint_url is None

    @property
    def uses_conditional_delete(self) -> bool:
        """Whether ``DeleteObject`` with ``If-Match`` is honoured by the store.

        S3 (since 2025) and moto honour it; Cloudflare R2 does not list it among
        its conditional operations, so there the inbox copy is re-read and
        compared right before an unconditional delete instead.
        """
        if self.conditional_delete is not None:
            return self.conditional_delete
        return not (self.endpoint_url or "").rstrip("/").endswith(".r2.cloudflarestorage.com")


class SecuritySettings(SettingsGroup):
    """Who may ask, and how much a request may carry."""

    webhook_secret: SecretStr | None = Field(
        None, description="shared secret of the bucket-event webhook (HMAC of the body)"
    )
    api_token: SecretStr | None = Field(
        None,
        description="bearer token of the operator's API and dashboard; unset: `reelpipe "
        "serve` generates one (kept in its data directory), elsewhere the API answers nobody",
    )
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Host values the webhook's app answers besides the address `reelpipe "
        "serve` binds (comma-separated host or host:port; on Modal: unset, no Host check)",
        json_schema_extra={"shown_default": "none"},
    )
    max_manifest_bytes: int = Field(256 * 1024, gt=0, description="largest job manifest")
    webhook_max_body_bytes: int = Field(1024 * 1024, gt=0, description="largest webhook body")
    webhook_claim_queue: int = Field(
        64, ge=1, description="claims waiting for the claim threads before 503"
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip().lower() for part in value.split(",") if part.strip())
        return value


class CallbackSettings(SettingsGroup):
    """Completion callbacks: signed, retried, to public addresses unless allowed."""

    names: ClassVar[dict[str, str]] = {
        "secret": "callback_secret",
        "allow_private": "callback_allow_private",
        "attempts": "callback_attempts",
        "first_retry_s": "callback_first_retry_s",
        "timeout_s": "callback_timeout_s",
        "progress_interval_s": "callback_progress_interval_s",
    }

    secret: SecretStr | None = Field(
        None,
        description="signs completion callbacks (Standard Webhooks; whsec_<base64> or any "
        "string); unset: callbacks are not sent",
    )
    allow_private: Literal["no", "loopback", "yes"] = Field(
        "no",
        description="callbacks to non-public addresses, over http too: no; loopback (what "
        "`reelpipe serve` uses unless set); yes (1): any private address",
    )
    attempts: int = Field(6, ge=1, description="deliveries tried per callback event")
    first_retry_s: float = Field(
        30.0, ge=0, description="wait before the 2nd delivery; doubles each time, with jitter"
    )
    timeout_s: float = Field(10.0, gt=0, description="one callback delivery at most")
    progress_interval_s: float = Field(
        5.0, ge=0, description="progress callbacks at most this often"
    )

    @field_validator("allow_private", mode="before")
    @classmethod
    def _yes_or_no(cls, value: object) -> object:
        spelled = {"0": "no", "false": "no", "1": "yes", "true": "yes"}
        return spelled.get(str(value).lower(), value) if isinstance(value, str | bool) else value


class LeaseSettings(SettingsGroup):
    """How jobs are found, claimed, kept alive and given up on."""

    names: ClassVar[dict[str, str]] = {"ttl_s": "lease_ttl_s"}

    ttl_s: float = Field(60.0, gt=0, description="a worker silent this long is dead")
    stall_limit_s: float = Field(
        600.0, gt=0, description="work silent this long stops renewing its lease"
    )
    max_job_attempts: int = Field(
        3, ge=1, description="deaths (or crashes) of a job's workers before it fails"
    )
    input_wait_s: float = Field(900.0, ge=0, description="how long a job waits for its clip")
    scan_period_s: float = Field(5.0, gt=0, description="seconds between inbox scans")
    claim_concurrency: int = Field(16, ge=1, description="manifests one scan claims at once")
    reprocess_concurrency: int = Field(
        8, ge=1, description="jobs the nightly reprocess runs at once"
    )


class ModelSettings(SettingsGroup):
    """The learned models: their weights (unset: the classical backends) and batching."""

    upscale_weights: Path | None = Field(
        None, description="SRVGGNetCompact state dict; unset: the classical upscaler"
    )
    yolo_weights: Path | None = Field(
        None, description="YOLO .pt file for the detect stage; unset: the motion backend"
    )
    yolo_imgsz: int = Field(640, ge=64, description="YOLO input size")
    detect_batch: int = Field(8, ge=1, description="frames per detector call")
    upscale_tile: int = Field(256, ge=32, description="input tile size of model inference")
    upscale_batch: int = Field(4, ge=1, description="frames per model call")


class CostSettings(SettingsGroup):
    """The planner's machines and prices, and how long clips are split across workers."""

    compute: dict[str, ComputeProfile] = Field(
        default_factory=lambda: dict(DEFAULT_COMPUTE),
        description="the planner's machines: start-up and frames a second per stage (JSON)",
    )
    rates: Rates = Field(Rates(), description="prices: GPU-second by kind, core-second, GiB-second")
    stage_compute: dict[str, str] = Field(
        default_factory=dict,
        description="the cost model's machine per stage, where it differs from the stage table's",
    )
    segment_thresholds: Thresholds = Field(
        DEFAULT_THRESHOLDS, description="(clip seconds up to, workers) pairs for long clips"
    )
    segment_workers: int | None = Field(
        None, ge=1, description="force this many segments for frame-local stages"
    )
    max_segment_workers: int = Field(8, ge=1, description="most parallel workers on Modal")


class ModalSettings(SettingsGroup):
    """The deployed Modal app the client and the runner call."""

    names: ClassVar[dict[str, str]] = {"enabled": "modal", "app": "modal_app"}

    enabled: bool = Field(
        False, description="the client's interactive calls go to the deployed Modal functions"
    )
    app: str = Field(DEFAULT_MODAL_APP, description="the deployed Modal app's name")
    interactive_scaledown_s: int = Field(
        300, ge=2, description="Modal: idle seconds before an interactive container stops"
    )
    interactive_min_containers: int = Field(
        0, ge=0, description="Modal: interactive containers kept running"
    )


def group_models(cls: type[BaseSettings]) -> dict[str, type[SettingsGroup]]:
    """The grouped fields of ``cls``, by field name."""
    out: dict[str, type[SettingsGroup]] = {}
    for name, field in cls.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, SettingsGroup):
            out[name] = kind
    return out


@cache
def setting_routes(cls: type[BaseSettings]) -> dict[str, tuple[str, str]]:
    """Each grouped setting's public name -> (group, field)."""
    return {
        model.public_name(field): (group, field)
        for group, model in group_models(cls).items()
        for field in model.model_fields
    }


def route(cls: type[BaseSettings], name: str, value: Any) -> tuple[str, str] | None:
    """``(group, field)`` when ``name`` given ``value`` is one grouped setting, else None (a
    field of ``cls``; a group's own name with a plain value, ``modal=True``, is the
    setting of that name)."""
    found = setting_routes(cls).get(name)
    whole = isinstance(value, Mapping | SettingsGroup)
    return None if found is None or (name in cls.model_fields and whole) else found


def grouped(cls: type[BaseSettings], data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with the public names of grouped settings moved into their groups."""
    out: dict[str, Any] = {}
    loose: dict[str, dict[str, Any]] = {}
    for name, value in data.items():
        found = route(cls, name, value)
        if found is None:
            out[name] = value
        else:
            loose.setdefault(found[0], {})[found[1]] = value
    for group, fields in loose.items():
        given = out.get(group)
        if isinstance(given, BaseModel):
            given = {k: getattr(given, k) for k in given.model_fields_set}
        out[group] = {**(given or {}), **fields}
    return out
