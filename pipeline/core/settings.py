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
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from pipeline.core.errors import ConfigError, InvalidKey
from pipeline.core.keys import DEFAULT_USER_ROOT, validate_user_root

# The Modal app apps look functions up by, unless deployed under another name.
DEFAULT_MODAL_APP = "reel-ballers-video"
EMBEDDED_HOST = "127.0.0.1"  # the embedded S3 server listens on loopback only
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


Thresholds = tuple[tuple[float, int], ...]

# (clip seconds up to, workers): the cost-optimised thresholds (measured in production
# on Modal: a second worker pays for itself from about 30 s of clip).
DEFAULT_THRESHOLDS: Thresholds = ((30.0, 1), (90.0, 2), (180.0, 4), (float("inf"), 8))


class PassCost(BaseModel):
    """One stage's seconds inside a pass on one machine, as measured there.

    A pass decodes its input once, runs each stage's step and encodes once: the stage
    heading it pays ``start_s`` (processes, probe, upload) and the decode of the frames it
    reads; each stage pays its step per frame and per megapixel it hands on; the stage
    ending it pays the encode of what it writes. A stage run on its own is a pass of one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_s: float = Field(0.0, ge=0, description="once per pass, paid by its head")
    decode_s_per_mpx: float = Field(0.0, ge=0, description="per megapixel decoded (head)")
    step_s_per_frame: float = Field(0.0, ge=0, description="per frame the stage handles")
    step_s_per_mpx: float = Field(0.0, ge=0, description="per megapixel the stage hands on")
    encode_s_per_frame: float = Field(0.0, ge=0, description="per frame encoded (end)")
    encode_s_per_mpx: float = Field(0.0, ge=0, description="per megapixel encoded (end)")


class ComputeProfile(BaseModel):
    """One machine type in the planner: start-up and throughput (prices: :class:`Rates`).

    The overheads measured in production: one worker pays ``startup_s`` (cold start); N
    parallel workers pay ``parallel_startup_s`` each and start producing
    frames ``parallel_wall_s`` after the call (coordination included).

    Throughput is either ``fps`` (frames a second per stage, measured on frames of
    ``reference_pixels``; other sizes are scaled by their pixels), or, where measured,
    ``passes``: each stage's :class:`PassCost` by stage and mode (``"upscale"``,
    ``"upscale:model"``, ``"detect:yolo"``; a mode not listed uses its stage's), with
    ``interpolation_s_per_mpx`` for each megapixel a slowed piece writes, by mode.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    startup_s: float = Field(5.0, ge=0)
    parallel_startup_s: float = Field(7.0, ge=0)
    parallel_wall_s: float = Field(12.0, ge=0)
    fps: dict[str, float] = Field(description="frames a second per stage on this machine")
    reference_pixels: int = Field(
        1920 * 1080, gt=0, description="the frame size (pixels) ``fps`` was measured at"
    )
    passes: dict[str, PassCost] = Field(
        default_factory=dict, description="per-pixel costs by stage[:mode], where measured"
    )
    interpolation_s_per_mpx: dict[str, float] = Field(
        default_factory=dict, description="seconds per megapixel of slowed output, by mode"
    )

    def fps_for(self, stage: str) -> float:
        """Throughput of ``stage``; the overlay's rate for stages not measured."""
        return self.fps.get(stage) or self.fps.get("overlay") or 30.0

    def pass_cost(self, stage: str, mode: str = "") -> PassCost | None:
        """The per-pixel costs of ``stage`` in ``mode`` (else its stage's); None when this
        machine is planned by ``fps``."""
        return self.passes.get(f"{stage}:{mode}") or self.passes.get(stage)


# Measured in production on Modal: 60 fps overlay on a T4.
MEASURED_T4 = ComputeProfile(fps={"overlay": 60.0, "detect": 60.0, "upscale": 6.0})

# The local machine's per-pixel costs, fitted to ``python -m bench.plan_accuracy``
# (bench/README.md, "Honest estimates"): x264 at the final profile, ffmpeg for framing
# and PyAV for the frame stages; motion-compensated slow motion is the costly mode.
# PyAV decodes on its own threads beside the encode (its decode mostly hidden); inside a
# pass the encoder's thread counts for the stage ending it: the overlay's step per
# megapixel holds the encode of what it draws. Detect is not in the bench.
MEASURED_CPU_PASSES: dict[str, PassCost] = {
    "framing": PassCost(
        start_s=0.17, decode_s_per_mpx=0.0006, encode_s_per_frame=0.0018, encode_s_per_mpx=0.0058
    ),
    "overlay": PassCost(
        start_s=0.6,
        decode_s_per_mpx=0.0004,
        step_s_per_frame=0.0012,
        step_s_per_mpx=0.007,
        encode_s_per_mpx=0.0002,
    ),
    "upscale": PassCost(
        start_s=1.0, decode_s_per_mpx=0.0004, step_s_per_mpx=0.0037, encode_s_per_mpx=0.0002
    ),
    "upscale:model": PassCost(
        start_s=2.0, decode_s_per_mpx=0.0004, step_s_per_mpx=2.5, encode_s_per_mpx=0.0002
    ),
    "detect": PassCost(start_s=0.3, decode_s_per_mpx=0.0047, step_s_per_frame=0.006),
    "detect:yolo": PassCost(start_s=2.0, decode_s_per_mpx=0.0047, step_s_per_frame=0.036),
}
MEASURED_CPU_INTERPOLATION = {"blend": 0.0004, "motion": 0.14}

# Throughputs not measured there are estimates (relative to the T4) until
# bench/gpu.py runs on such a machine; replace them through settings.
DEFAULT_COMPUTE: dict[str, ComputeProfile] = {
    "T4": MEASURED_T4,
    "L4": ComputeProfile(fps={"overlay": 75.0, "detect": 120.0, "upscale": 14.0}),
    "A10G": ComputeProfile(fps={"overlay": 80.0, "detect": 140.0, "upscale": 16.0}),
    "cpu": ComputeProfile(
        startup_s=2.0,
        parallel_startup_s=3.0,
        parallel_wall_s=6.0,
        fps={"overlay": 40.0, "framing": 60.0, "detect": 8.0, "upscale": 2.0},
        passes=MEASURED_CPU_PASSES,
        interpolation_s_per_mpx=MEASURED_CPU_INTERPOLATION,
    ),
}


class Rates(BaseModel):
    """The one price table: a GPU-second by kind, a reserved core-second, a GiB-second.

    Defaults are Modal's published per-second list prices: estimates until a bill
    confirms them (name those in ``measured``). For comparison, a production bill came
    to $0.000463 a T4 GPU-second all in, about 2.8x the T4's list price.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    gpu_usd_per_s: dict[str, float] = Field(
        default_factory=lambda: {
            "T4": 0.000164,
            "L4": 0.000222,
            "A10G": 0.000306,
            "A100": 0.000583,
            "H100": 0.001097,
        }
    )
    cpu_core_usd_per_s: float = Field(0.0000131, ge=0, description="one reserved core")
    memory_gib_usd_per_s: float = Field(0.00000222, ge=0, description="one reserved GiB")
    measured: tuple[str, ...] = Field(
        (), description="rates a bill confirmed: GPU kinds, 'cpu', 'memory'"
    )

    def gpu(self, kind: str | None) -> float:
        """A GPU-second of ``kind`` (None: no GPU); ConfigError for a kind not priced."""
        if kind is None:
            return 0.0
        try:
            return self.gpu_usd_per_s[kind]
        except KeyError:
            raise ConfigError(f"no price for GPU {kind!r}: add it to the rates") from None

    def per_second(self, gpu: str | None, cpu: float, memory_mb: float) -> float:
        """A second of a machine with that GPU, reserved cores and memory."""
        return (
            self.gpu(gpu)
            + cpu * self.cpu_core_usd_per_s
            + memory_mb / 1024 * self.memory_gib_usd_per_s
        )

    def price(self, gpu: str | None, gpu_s: float, cpu_core_s: float, memory_gib_s: float) -> float:
        """What that use costs."""
        return (
            gpu_s * self.gpu(gpu)
            + cpu_core_s * self.cpu_core_usd_per_s
            + memory_gib_s * self.memory_gib_usd_per_s
        )

    def provenance(self) -> list[tuple[str, float, bool]]:
        """``(name, rate, measured)`` of every rate, for ``reelpipe plan``."""
        rows = [(f"GPU {k} /s", v, k in self.measured) for k, v in self.gpu_usd_per_s.items()]
        rows.append(("CPU core /s", self.cpu_core_usd_per_s, "cpu" in self.measured))
        rows.append(("memory GiB /s", self.memory_gib_usd_per_s, "memory" in self.measured))
        return rows


class Settings(BaseSettings):
    """Everything a reelpipe process needs to know, passed explicitly.

    Every field has an environment variable: ``REELPIPE_`` + its name in capitals (the
    credentials keep AWS's names), nested fields ``REELPIPE_LIMITS__MAX_PIXELS`` or the
    whole block as JSON. Building ``Settings(...)`` reads nothing; :meth:`from_env` reads a
    given environment and ``.env`` file (:mod:`pipeline.core.settings_sources`).
    """

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        ser_json_inf_nan="constants",
        env_prefix="REELPIPE_",
        env_nested_delimiter="__",
        env_ignore_empty=True,
        populate_by_name=True,
    )

    endpoint_url: str | None = Field(
        None,
        description="S3 API endpoint (R2: https://<account>.r2.cloudflarestorage.com); "
        "unset: the embedded S3 server",
    )
    bucket: str = Field("reelpipe", description="the bucket clips, manifests and jobs live in")
    region: str = Field("us-east-1", description="S3 region (R2: auto)")
    access_key_id: SecretStr | None = Field(
        None, validation_alias="AWS_ACCESS_KEY_ID", description="S3 access key id"
    )
    secret_access_key: SecretStr | None = Field(
        None, validation_alias="AWS_SECRET_ACCESS_KEY", description="S3 secret access key"
    )
    user_root: str = Field(
        DEFAULT_USER_ROOT,
        description="a user's folder in the bucket, e.g. {user_id}/ for one folder per user "
        "at the top; input keys, requests and jobs live under it",
    )
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
    callback_secret: SecretStr | None = Field(
        None,
        description="signs completion callbacks (Standard Webhooks; whsec_<base64> or any "
        "string); unset: callbacks are not sent",
    )
    callback_allow_private: Literal["no", "loopback", "yes"] = Field(
        "no",
        description="callbacks to non-public addresses, over http too: no; loopback (what "
        "`reelpipe serve` uses unless set); yes (1): any private address",
    )
    callback_attempts: int = Field(6, ge=1, description="deliveries tried per callback event")
    callback_first_retry_s: float = Field(
        30.0, ge=0, description="wait before the 2nd delivery; doubles each time, with jitter"
    )
    callback_timeout_s: float = Field(10.0, gt=0, description="one callback delivery at most")
    callback_progress_interval_s: float = Field(
        5.0, ge=0, description="progress callbacks at most this often"
    )
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
    lease_ttl_s: float = Field(60.0, gt=0, description="a worker silent this long is dead")
    input_wait_s: float = Field(900.0, ge=0, description="how long a job waits for its clip")
    max_job_attempts: int = Field(
        3, ge=1, description="deaths (or crashes) of a job's workers before it fails"
    )
    stall_limit_s: float = Field(
        600.0, gt=0, description="work silent this long stops renewing its lease"
    )
    s3_connect_timeout_s: float = Field(10.0, gt=0, description="one S3 connect at most")
    s3_read_timeout_s: float = Field(60.0, gt=0, description="one S3 socket read at most")
    s3_max_attempts: int = Field(5, ge=1, description="tries of one S3 request (5xx, throttling)")
    media_read_timeout_s: float = Field(
        30.0, gt=0, description="ffprobe/ffmpeg: one network read (-rw_timeout) at most"
    )
    probe_timeout_s: float = Field(120.0, gt=0, description="one ffprobe run at most")
    max_manifest_bytes: int = Field(256 * 1024, gt=0, description="largest job manifest")
    webhook_max_body_bytes: int = Field(1024 * 1024, gt=0, description="largest webhook body")
    webhook_claim_queue: int = Field(
        64, ge=1, description="claims waiting for the claim threads before 503"
    )
    conditional_delete: bool | None = Field(
        None,
        description="delete inbox manifests with If-Match (unset: yes, except on R2, which "
        "ignores it; there the version is re-read and compared before the delete)",
    )
    scan_period_s: float = Field(5.0, gt=0, description="seconds between inbox scans")
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
    max_output_pixels: int = Field(3840 * 2160, gt=0, description="largest frame upscale writes")
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
    claim_concurrency: int = Field(16, ge=1, description="manifests one scan claims at once")
    reprocess_concurrency: int = Field(
        8, ge=1, description="jobs the nightly reprocess runs at once"
    )
    multipart_threshold_bytes: int = Field(
        64 * 1024**2, ge=5 * 1024**2, description="uploads this large go in parts"
    )
    modal: bool = Field(
        False, description="the client's interactive calls go to the deployed Modal functions"
    )
    modal_app: str = Field(DEFAULT_MODAL_APP, description="the deployed Modal app's name")
    interactive_scaledown_s: int = Field(
        300, ge=2, description="Modal: idle seconds before an interactive container stops"
    )
    interactive_min_containers: int = Field(
        0, ge=0, description="Modal: interactive containers kept running"
    )

    @field_validator("callback_allow_private", mode="before")
    @classmethod
    def _yes_or_no(cls, value: object) -> object:
        spelled = {"0": "no", "false": "no", "1": "yes", "true": "yes"}
        return spelled.get(str(value).lower(), value) if isinstance(value, str | bool) else value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @field_validator("user_root")
    @classmethod
    def _safe_user_root(cls, value: str) -> str:
        try:
            return validate_user_root(value)
        except InvalidKey as exc:
            raise ValueError(str(exc)) from None

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
    def uses_conditional_delete(self) -> bool:
        """Whether ``DeleteObject`` with ``If-Match`` is honoured by the store.

        S3 (since 2025) and moto honour it; Cloudflare R2 does not list it among
        its conditional operations, so there the inbox copy is re-read and
        compared right before an unconditional delete instead.
        """
        if self.conditional_delete is not None:
            return self.conditional_delete
        return not (self.endpoint_url or "").rstrip("/").endswith(".r2.cloudflarestorage.com")

    @property
    def embedded(self) -> bool:
        """True when reelpipe serves its own S3 endpoint (no endpoint configured)."""
        return self.endpoint_url is None

    def secret_values(self) -> tuple[str, ...]:
        """The secret strings that must never reach a log, a manifest or an error."""
        values = (
            self.secret_access_key,
            self.access_key_id,
            self.webhook_secret,
            self.callback_secret,
            self.api_token,
        )
        return tuple(v.get_secret_value() for v in values if v and v.get_secret_value())

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
