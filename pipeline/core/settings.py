"""Settings, built once at the entrypoint from arguments and the environment.

Nothing in reelpipe reads the environment at import time: the CLI (or the Modal
app) calls :meth:`Settings.from_env` once and passes the object down.

Example::

    settings = Settings.from_env(os.environ, bucket="clips")
    settings.embedded          # True when no endpoint is configured
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from pipeline.core.errors import ConfigError
from pipeline.core.setting_groups import (
    CallbackSettings,
    CostSettings,
    LeaseSettings,
    ModalSettings,
    ModelSettings,
    SecuritySettings,
    StorageSettings,
    grouped,
    route,
)

EMBEDDED_ACCESS_KEY = "reelpipe-local"


class EncodeProfile(BaseModel):
    """x264 settings for one class of output."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: str = Field("fast", description="x264 preset (ultrafast ... veryslow)")
    crf: int = Field(23, ge=0, le=51, description="x264 constant rate factor")
    audio_bitrate: str = Field("192k", description="AAC bitrate")


class Limits(BaseModel):
    """What a job's input clip may be at most."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_clip_bytes: int = Field(4 * 1024**3, gt=0, description="largest input clip")
    max_duration_s: float = Field(20 * 60.0, gt=0, description="longest input clip")
    max_pixels: int = Field(3840 * 2160, gt=0, description="largest input frame (w x h)")
    max_fps: float = Field(1000.0, gt=0, description="highest input frame rate (frames a second)")
    # A clip's cost is its decoded pixels: bytes, length and frame size can each be in
    # bounds while their product (4K at 1000 fps for 20 minutes) runs for half a day.
    max_decoded_pixels: int = Field(
        1200 * 60 * 3840 * 2160,
        gt=0,
        description="most pixels one input clip decodes to (frames x w x h): 20 min of 4K "
        "at 60 fps",
    )


class Settings(BaseSettings):
    """Everything a reelpipe process needs to know, passed explicitly, in groups.

    Every setting has an environment variable: ``REELPIPE_`` + its public name in
    capitals (the credentials keep AWS's names; a group's fields and their public names:
    :mod:`pipeline.core.setting_groups`), the fields of a plain block
    ``REELPIPE_LIMITS__MAX_PIXELS`` or the whole block as JSON. ``Settings(...)`` and
    :meth:`replace` take the public names (``bucket=``, ``lease_ttl_s=``) or whole groups.
    Building ``Settings(...)`` reads nothing; :meth:`from_env` reads a given environment
    and ``.env`` file (:mod:`pipeline.core.settings_sources`).
    """

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        ser_json_inf_nan="constants",
        env_prefix="REELPIPE_",
        env_nested_delimiter="__",
        env_ignore_empty=True,
    )

    storage: StorageSettings = Field(StorageSettings(), description="the bucket and its API")
    security: SecuritySettings = Field(SecuritySettings(), description="who may ask, how much")
    callbacks: CallbackSettings = Field(CallbackSettings(), description="completion callbacks")
    leases: LeaseSettings = Field(LeaseSettings(), description="claims, leases and retries")
    models: ModelSettings = Field(ModelSettings(), description="learned models' weights")
    costs: CostSettings = Field(CostSettings(), description="machines, prices, segments")
    modal: ModalSettings = Field(ModalSettings(), description="the deployed Modal app")
    scratch_dir: Path = Field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "reelpipe",
        description="local working files of running stages",
        json_schema_extra={"shown_default": "$TMPDIR/reelpipe"},
    )
    data_dir: Path | None = Field(
        None,
        description="where the local commands keep the embedded bucket between runs "
        "(unset: $XDG_DATA_HOME/reelpipe)",
    )
    limits: Limits = Field(Limits(), description="what an input clip may be at most")
    final_encode: EncodeProfile = Field(EncodeProfile(), description="x264 of the outputs")
    # Intermediates between stages: near-lossless and cheap to encode, so a chain
    # of stages neither compounds losses nor pays the final preset twice.
    intermediate_encode: EncodeProfile = Field(
        EncodeProfile(preset="ultrafast", crf=12), description="x264 between stages"
    )
    progress_interval_s: float = Field(
        1.0, ge=0, description="status progress writes at most this often"
    )
    media_read_timeout_s: float = Field(
        30.0, gt=0, description="ffprobe/ffmpeg: one network read (-rw_timeout) at most"
    )
    probe_timeout_s: float = Field(120.0, gt=0, description="one ffprobe run at most")
    max_output_pixels: int = Field(3840 * 2160, gt=0, description="largest frame upscale writes")
    detect_overlap_s: float = Field(
        1.0, ge=0, description="detection segments start this early, to stitch track ids"
    )
    local_workers: int = Field(
        1, ge=1, description="local worker processes for segments; 1: no split locally"
    )
    video_encoder: Literal["auto", "libx264", "h264_nvenc"] = Field(
        "auto", description="H.264 encoder: auto picks NVENC where a CUDA device opens it"
    )
    fuse: bool = Field(
        True,
        description="run adjacent frame stages on the same machine as one decode/encode pass",
    )

    @model_validator(mode="before")
    @classmethod
    def _grouped(cls, data: Any) -> Any:
        """Public names (``bucket=``) into their groups (``storage``)."""
        return grouped(cls, data) if isinstance(data, Mapping) else data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the arguments: the environment is read by :meth:`from_env`, explicitly."""
        return (init_settings,)

    @property
    def embedded(self) -> bool:
        """True when reelpipe serves its own S3 endpoint (no endpoint configured)."""
        return self.storage.embedded

    def secret_values(self) -> tuple[str, ...]:
        """The secret strings that must never reach a log, a manifest or an error."""
        values = (
            self.storage.secret_access_key,
            self.storage.access_key_id,
            self.security.webhook_secret,
            self.callbacks.secret,
            self.security.api_token,
        )
        return tuple(v.get_secret_value() for v in values if v and v.get_secret_value())

    def replace(self, **changes: Any) -> Settings:
        """These settings with ``changes`` (public names, or whole fields), unvalidated
        like ``model_copy``."""
        top: dict[str, Any] = {}
        for name, value in changes.items():
            found = route(type(self), name, value)
            if found is not None:
                group, field = found
                current = top.get(group, getattr(self, group))
                top[group] = current.model_copy(update={field: value})
            elif name in type(self).model_fields:
                top[name] = value
            else:
                raise ConfigError(f"no such setting: {name}")
        return self.model_copy(update=top)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """pydantic's copy, refusing what is not a field here: a grouped setting's public
        name would otherwise land beside its group, silently unused (use :meth:`replace`)."""
        stray = sorted(set(update or {}) - set(type(self).model_fields))
        if stray:
            raise ConfigError(f"not fields of Settings: {', '.join(stray)} (use replace)")
        return super().model_copy(update=update, deep=deep)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, env_file: Path | None = None, **overrides: Any
    ) -> Settings:
        """Settings from ``env`` (and the ``env_file``, a ``.env``), then explicit overrides.

        The precedence is default < ``.env`` < environment < overrides. Overrides whose value
        is ``None`` are ignored, so CLI flags can be passed through as they are.
        """
        from pipeline.core.settings_sources import load_settings

        return load_settings(cls, env, env_file=env_file, overrides=overrides).settings
