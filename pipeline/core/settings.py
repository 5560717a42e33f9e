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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from pipeline.core.errors import ConfigError

# The Modal app apps look functions up by (the seed's name), unless deployed otherwise.
DEFAULT_MODAL_APP = "reel-ballers-video"
EMBEDDED_HOST = "127.0.0.1"  # the embedded S3 server listens on loopback only
EMBEDDED_ACCESS_KEY = "reelpipe-local"
EMBEDDED_SECRET_KEY = "reelpipe-local-secret"


class EncodeProfile(BaseModel):
    """x264 settings for one class of output."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: str = "fast"
    crf: int = Field(23, ge=0, le=51)
    audio_bitrate: str = "192k"


class Limits(BaseModel):
    """What a job's input clip may be at most."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_clip_bytes: int = Field(4 * 1024**3, gt=0)
    max_duration_s: float = Field(20 * 60.0, gt=0)
    max_pixels: int = Field(3840 * 2160, gt=0)


Thresholds = tuple[tuple[float, int], ...]

# (clip seconds up to, workers): the seed's cost-optimised thresholds.
DEFAULT_THRESHOLDS: Thresholds = ((30.0, 1), (90.0, 2), (180.0, 4), (float("inf"), 8))


class ComputeProfile(BaseModel):
    """One machine type in the planner: start-up and throughput (prices: :class:`Rates`).

    The seed's overheads: one worker pays ``startup_s`` (cold start); N
    parallel workers pay ``parallel_startup_s`` each and start producing
    frames ``parallel_wall_s`` after the call (coordination included).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    startup_s: float = Field(5.0, ge=0)
    parallel_startup_s: float = Field(7.0, ge=0)
    parallel_wall_s: float = Field(12.0, ge=0)
    fps: dict[str, float] = Field(description="frames a second per stage on this machine")

    def fps_for(self, stage: str) -> float:
        """Throughput of ``stage``; the overlay's rate for stages not measured."""
        return self.fps.get(stage) or self.fps.get("overlay") or 30.0


# The seed's measurements: 60 fps overlay on a T4.
SEED_T4 = ComputeProfile(fps={"overlay": 60.0, "detect": 60.0, "upscale": 6.0})

# Throughputs the seed did not measure are estimates (relative to the T4) until
# bench/gpu.py runs on such a machine; replace them through settings.
DEFAULT_COMPUTE: dict[str, ComputeProfile] = {
    "T4": SEED_T4,
    "L4": ComputeProfile(fps={"overlay": 75.0, "detect": 120.0, "upscale": 14.0}),
    "A10G": ComputeProfile(fps={"overlay": 80.0, "detect": 140.0, "upscale": 16.0}),
    "cpu": ComputeProfile(
        startup_s=2.0,
        parallel_startup_s=3.0,
        parallel_wall_s=6.0,
        fps={"overlay": 40.0, "framing": 60.0, "detect": 8.0, "upscale": 2.0},
    ),
}


class Rates(BaseModel):
    """The one price table: a GPU-second by kind, a reserved core-second, a GiB-second.

    Defaults are Modal's published per-second list prices: estimates until a bill
    confirms them (name those in ``measured``). For comparison, the seed's bill came
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


class Settings(BaseModel):
    """Everything a reelpipe process needs to know, passed explicitly."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    endpoint_url: str | None = None
    bucket: str = "reelpipe"
    region: str = "us-east-1"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    scratch_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "reelpipe")
    limits: Limits = Limits()
    final_encode: EncodeProfile = EncodeProfile()
    # Intermediates between stages: near-lossless and cheap to encode, so a chain
    # of stages neither compounds losses nor pays the final preset twice.
    intermediate_encode: EncodeProfile = EncodeProfile(preset="ultrafast", crf=12)
    progress_interval_s: float = Field(1.0, ge=0)
    lease_ttl_s: float = Field(60.0, gt=0, description="a worker silent this long is dead")
    input_wait_s: float = Field(900.0, ge=0, description="how long a job waits for its clip")
    max_job_attempts: int = Field(
        3, ge=1, description="deaths (or crashes) of a job's workers before it fails"
    )
    stall_limit_s: float = Field(
        600.0, gt=0, description="work silent this long stops renewing its lease"
    )
    s3_connect_timeout_s: float = Field(10.0, gt=0)
    s3_read_timeout_s: float = Field(60.0, gt=0, description="one S3 socket read at most")
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
        description="delete inbox manifests with If-Match (None: yes, except on R2, which "
        "ignores it; there the version is re-read and compared before the delete)",
    )
    scan_period_s: float = Field(5.0, gt=0)
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
    compute: dict[str, ComputeProfile] = Field(default_factory=lambda: dict(DEFAULT_COMPUTE))
    rates: Rates = Rates()
    stage_compute: dict[str, str] = Field(
        default_factory=dict,
        description="the cost model's machine per stage, where it differs from the stage table's",
    )
    segment_thresholds: Thresholds = DEFAULT_THRESHOLDS
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
    s3_max_attempts: int = Field(5, ge=1)
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
    multipart_threshold_bytes: int = Field(64 * 1024**2, ge=5 * 1024**2)

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
        values = (self.secret_access_key, self.access_key_id, self.webhook_secret)
        return tuple(v.get_secret_value() for v in values if v and v.get_secret_value())

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> Settings:
        """Build settings from environment variables, then explicit overrides.

        Recognised: the variables in the tables below (``REELPIPE_ENDPOINT_URL``,
        ``REELPIPE_BUCKET``, ``REELPIPE_REGION`` (R2: ``auto``), ``AWS_ACCESS_KEY_ID``,
        ``AWS_SECRET_ACCESS_KEY``, ``REELPIPE_YOLO_WEIGHTS``, ...), the limits
        ``REELPIPE_MAX_*`` and ``REELPIPE_X264_PRESET`` / ``REELPIPE_X264_CRF``.
        Overrides whose value is ``None`` are ignored, so CLI flags can be passed
        through as they are.
        """
        values: dict[str, Any] = {}
        simple = {
            "REELPIPE_ENDPOINT_URL": "endpoint_url",
            "REELPIPE_BUCKET": "bucket",
            "REELPIPE_REGION": "region",
            "AWS_ACCESS_KEY_ID": "access_key_id",
            "AWS_SECRET_ACCESS_KEY": "secret_access_key",
            "REELPIPE_SCRATCH_DIR": "scratch_dir",
            "REELPIPE_LEASE_TTL_S": "lease_ttl_s",
            "REELPIPE_INPUT_WAIT_S": "input_wait_s",
            "REELPIPE_SCAN_PERIOD_S": "scan_period_s",
            "REELPIPE_WEBHOOK_SECRET": "webhook_secret",
            "REELPIPE_UPSCALE_WEIGHTS": "upscale_weights",
            "REELPIPE_UPSCALE_TILE": "upscale_tile",
            "REELPIPE_YOLO_WEIGHTS": "yolo_weights",
            "REELPIPE_DETECT_BATCH": "detect_batch",
            "REELPIPE_MAX_OUTPUT_PIXELS": "max_output_pixels",
            "REELPIPE_SEGMENT_WORKERS": "segment_workers",
            "REELPIPE_LOCAL_WORKERS": "local_workers",
            "REELPIPE_STALL_LIMIT_S": "stall_limit_s",
            "REELPIPE_S3_CONNECT_TIMEOUT_S": "s3_connect_timeout_s",
            "REELPIPE_S3_READ_TIMEOUT_S": "s3_read_timeout_s",
            "REELPIPE_S3_MAX_ATTEMPTS": "s3_max_attempts",
            "REELPIPE_MEDIA_READ_TIMEOUT_S": "media_read_timeout_s",
            "REELPIPE_PROBE_TIMEOUT_S": "probe_timeout_s",
            "REELPIPE_MAX_JOB_ATTEMPTS": "max_job_attempts",
            "REELPIPE_MAX_MANIFEST_BYTES": "max_manifest_bytes",
            "REELPIPE_WEBHOOK_MAX_BODY_BYTES": "webhook_max_body_bytes",
            "REELPIPE_CONDITIONAL_DELETE": "conditional_delete",
            "REELPIPE_VIDEO_ENCODER": "video_encoder",
            "REELPIPE_FUSE": "fuse",
            "REELPIPE_CLAIM_CONCURRENCY": "claim_concurrency",
            "REELPIPE_REPROCESS_CONCURRENCY": "reprocess_concurrency",
        }
        for var, field in simple.items():
            if env.get(var):
                values[field] = env[var]
        limits = {
            "REELPIPE_MAX_CLIP_BYTES": "max_clip_bytes",
            "REELPIPE_MAX_DURATION_S": "max_duration_s",
            "REELPIPE_MAX_PIXELS": "max_pixels",
        }
        limit_values = {f: env[v] for v, f in limits.items() if env.get(v)}
        if limit_values:
            values["limits"] = limit_values
        final = {}
        if env.get("REELPIPE_X264_PRESET"):
            final["preset"] = env["REELPIPE_X264_PRESET"]
        if env.get("REELPIPE_X264_CRF"):
            final["crf"] = env["REELPIPE_X264_CRF"]
        if final:
            values["final_encode"] = final
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"invalid settings: {problems}") from None
