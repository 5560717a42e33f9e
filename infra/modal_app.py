"""reelpipe on Modal: one right-sized function per stage, a CPU-only orchestrator,
the scan on a schedule, the webhook, and the nightly reprocess.

Read top to bottom: images, secrets and volumes, the app, the stage functions
in call order, the orchestrator, then the triggers. Everything heavy (torch,
the pipeline's media code) is imported inside the functions, so this file
imports anywhere, with no GPU packages installed.

Sizes come from the stage table: every function reserves its cores and memory;
only the model stages (detection, upscale) hold a GPU, and they load their model
once per container (``@modal.enter``), never inside a request. Framing and
overlay are CPU functions (x264), fused into one call when a job has both;
they move to a T4 only when deployed with ``REELPIPE_VIDEO_ENCODER=h264_nvenc``.
The interactive detection (the seed's ``detect_players_modal`` and
``detect_ball_modal``, same names and shapes) loads YOLO as its container starts,
keeps the container warm for ``REELPIPE_INTERACTIVE_SCALEDOWN_S`` (default 300 s)
and holds ``REELPIPE_INTERACTIVE_MIN_CONTAINERS`` (default 0) ready for peak hours.

    reelpipe deploy        # modal deploy infra/modal_app.py, then reelpipe verify

Secrets to create once (``modal secret create r2-credentials ...``):
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``REELPIPE_ENDPOINT_URL``
(``https://<account>.r2.cloudflarestorage.com``), ``REELPIPE_BUCKET``,
``REELPIPE_WEBHOOK_SECRET``, ``REELPIPE_CALLBACK_SECRET`` (signed callbacks; optional),
and any other setting (``reelpipe config`` lists them).
"""

from __future__ import annotations

import os
from typing import Any

import modal

from pipeline.core.settings import Settings
from pipeline.manifests.job import StageName
from pipeline.stages.table import COORDINATOR, STAGE_TABLE, Image

# Deploy-time configuration of this file (not of the pipeline, which reads no
# environment at import), from the deploying shell's settings: the app name apps look
# functions up by, the encoder, and how the interactive containers stay warm.
DEPLOY = Settings.from_env(os.environ)
APP_NAME = DEPLOY.modal_app
VIDEO_ENCODER = DEPLOY.video_encoder
INTERACTIVE_SCALEDOWN_S = DEPLOY.interactive_scaledown_s
INTERACTIVE_MIN_CONTAINERS = DEPLOY.interactive_min_containers
WEIGHTS_DIR = "/weights"

# The functions that only coordinate: a fraction of a core and a little memory.
LIGHT_CPU, LIGHT_MEMORY_MB = COORDINATOR.cpu, COORDINATOR.memory_mb

# -- images: one per resource profile ----------------------------------------

# ffmpeg (H.264/AAC, ffprobe) and the pipeline's light dependencies: shared by all.
runtime_image = (
    modal.Image.debian_slim(python_version="3.11")
    .apt_install("ffmpeg")
    .pip_install(
        "boto3>=1.35",
        "av>=14.0",
        "numpy>=1.26",
        "scipy>=1.11",  # the tracker's assignment
        "opencv-python-headless>=4.10",
        "pydantic>=2.7",
        "structlog>=24.1",
        "fastapi>=0.110",
        "moto>=5.1",  # imported by the package; never serves here
    )
)

# The base image: the runtime plus the pipeline's source (local files go last).
base_image = runtime_image.add_local_python_source("pipeline")

# Upscaling adds torch (CUDA build); the weights come from a Volume.
upscale_image = runtime_image.pip_install("torch>=2.3").add_local_python_source("pipeline")

# Detection adds YOLO (the headless ultralytics build: one OpenCV in the image); the
# tracker is the pipeline's own. Weights come from the Volume; ultralytics never downloads.
yolo_image = (
    runtime_image.pip_install("torch>=2.3", "torchvision>=0.18", "ultralytics-opencv-headless>=8.4")
    .env({"YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": "/tmp/ultralytics"})
    .add_local_python_source("pipeline")
)

# -- secrets and volumes ------------------------------------------------------

r2_credentials = modal.Secret.from_name(
    "r2-credentials",
    required_keys=["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "REELPIPE_ENDPOINT_URL"],
)
weights_volume = modal.Volume.from_name("reelpipe-weights", create_if_missing=True)

# Raising is Modal's retry signal: stage bodies return job errors as data and
# raise only transient ones (S3 5xx, a crashed encoder), which Modal retries (the
# stage table's ``retries``); the orchestrator then calls each stage once.

app = modal.App(APP_NAME)

IMAGES = {Image.BASE: base_image, Image.YOLO: yolo_image, Image.UPSCALE: upscale_image}


def stage_options(name: StageName) -> dict[str, Any]:
    """``@app.function`` options of a stage, from the stage table: its image, machine,
    timeout, the weights Volume when it loads weights, secrets and its retries of
    transient failures."""
    spec = STAGE_TABLE[name]
    machine = spec.machine_for(VIDEO_ENCODER)
    options: dict[str, Any] = {
        "image": IMAGES[machine.image],
        "timeout": spec.timeout_s,
        "secrets": [r2_credentials],
        "retries": modal.Retries(
            max_retries=spec.retries, backoff_coefficient=2.0, initial_delay=5.0
        ),
        "cpu": machine.cpu,
        "memory": machine.memory_mb,
        "env": {"REELPIPE_VIDEO_ENCODER": VIDEO_ENCODER},
    }
    if machine.gpu is not None:
        options["gpu"] = machine.gpu
    if spec.weights:
        options["volumes"] = {WEIGHTS_DIR: weights_volume}
    return options


def _bucket_and_settings(**overrides: Any) -> tuple[Any, Any]:
    from pipeline.core.settings import Settings
    from pipeline.storage.bucket import open_bucket

    settings = Settings.from_env(os.environ, **overrides)
    return open_bucket(settings), settings


# -- the stages, in call order -------------------------------------------------


def _yolo_overrides() -> dict[str, Any]:
    """The YOLO weights on the Volume (``REELPIPE_YOLO_WEIGHTS_NAME``), when present."""
    from pathlib import Path

    weights = Path(WEIGHTS_DIR) / os.environ.get("REELPIPE_YOLO_WEIGHTS_NAME", "yolov8x.pt")
    return {"yolo_weights": weights} if weights.is_file() else {}


def _upscale_overrides() -> dict[str, Any]:
    """The upscale weights on the Volume (``REELPIPE_UPSCALE_WEIGHTS_NAME``), when present."""
    from pathlib import Path

    weights = Path(WEIGHTS_DIR) / os.environ.get("REELPIPE_UPSCALE_WEIGHTS_NAME", "model.pth")
    return {"upscale_weights": weights} if weights.is_file() else {}


def _warm(stage: StageName, overrides: dict[str, Any]) -> tuple[Any, Any]:
    """A container's start: its bucket and settings, and the stage's model loaded."""
    from pipeline.stages.warm import warm_models

    bucket, settings = _bucket_and_settings(**overrides)
    warm_models(settings, stage)
    return bucket, settings


@app.cls(**stage_options(StageName.DETECT))
class ObjectDetection:
    """Players and the ball, tracked (the motion backend when no weights are on the Volume)."""

    @modal.enter()
    def load(self) -> None:
        """Load YOLO once per container."""
        self.bucket, self.settings = _warm(StageName.DETECT, _yolo_overrides())

    @modal.method()
    def detect_objects(self, request: dict[str, Any]) -> dict[str, Any]:
        """One detect request (or one segment of it)."""
        from pipeline.runners.stage_call import execute_stage

        machine = _machine(StageName.DETECT)
        return execute_stage(request, self.bucket, self.settings, machine=machine)


def _machine(name: StageName) -> Any:
    """The machine a stage's function reserves (what its calls are billed for)."""
    return STAGE_TABLE[name].machine_for(VIDEO_ENCODER)


@app.function(**stage_options(StageName.FRAMING))
def process_framing(request: dict[str, Any]) -> dict[str, Any]:
    """Trim, crop, speed: one ffmpeg pass (with the overlay, one fused pass), CPU only."""
    from pipeline.runners.stage_call import execute_stage

    return execute_stage(request, *_bucket_and_settings(), machine=_machine(StageName.FRAMING))


@app.function(**stage_options(StageName.OVERLAY))
def render_overlay(request: dict[str, Any]) -> dict[str, Any]:
    """The spotlight that follows a player (one segment of it when fanned out)."""
    from pipeline.runners.stage_call import execute_stage

    return execute_stage(request, *_bucket_and_settings(), machine=_machine(StageName.OVERLAY))


@app.cls(**stage_options(StageName.UPSCALE))
class Upscaling:
    """Super-resolution; the model loads once per container, at its start."""

    @modal.enter()
    def load(self) -> None:
        """Load the upscale model once per container."""
        self.bucket, self.settings = _warm(StageName.UPSCALE, _upscale_overrides())

    @modal.method()
    def apply_upscale(self, request: dict[str, Any]) -> dict[str, Any]:
        """One upscale request (or one segment of it)."""
        from pipeline.runners.stage_call import execute_stage

        machine = _machine(StageName.UPSCALE)
        return execute_stage(request, self.bucket, self.settings, machine=machine)


# -- the seed's interactive calls (an app's user picks a player) ---------------------


# Plain functions, so apps keep calling them as the seed did
# (``modal.Function.from_name(app, "detect_players_modal").remote(...)``). Their
# containers load YOLO while they start, at import (``WARM_AT_START`` is set in their
# environment only): the equivalent of ``@modal.enter``, and no request pays the load.
INTERACTIVE_OPTIONS: dict[str, Any] = {
    "image": yolo_image,
    "gpu": "T4",
    "cpu": 2.0,
    "memory": 8192,
    "secrets": [r2_credentials],
    "volumes": {WEIGHTS_DIR: weights_volume},
    "scaledown_window": INTERACTIVE_SCALEDOWN_S,
    "min_containers": INTERACTIVE_MIN_CONTAINERS,
    "env": {"REELPIPE_WARM_AT_START": "interactive"},
}
_interactive: dict[str, tuple[Any, Any]] = {}


def _interactive_bucket_and_settings() -> tuple[Any, Any]:
    """The interactive container's bucket and settings, with YOLO loaded (once)."""
    if "warm" not in _interactive:
        _interactive["warm"] = _warm(StageName.DETECT, _yolo_overrides())
    return _interactive["warm"]


if os.environ.get("REELPIPE_WARM_AT_START") == "interactive":  # an interactive container
    _interactive_bucket_and_settings()


@app.function(timeout=300, **INTERACTIVE_OPTIONS)
def detect_players_modal(
    user_id: str, input_key: str, frame_number: int = 0, confidence_threshold: float = 0.5
) -> dict[str, Any]:
    """``{"status": "success", "detections": [...], "video_width", "video_height"}``.

    A bad request raises the project's error (InputNotFound, StageParamsInvalid...),
    which ``.remote()`` raises again in the caller.
    """
    from pipeline.stages.interactive import detect_players

    bucket, settings = _interactive_bucket_and_settings()
    return detect_players(bucket, settings, user_id, input_key, frame_number, confidence_threshold)


@app.function(timeout=600, **INTERACTIVE_OPTIONS)
def detect_ball_modal(
    user_id: str,
    input_key: str,
    start_frame: int = 0,
    end_frame: int = 300,
    confidence_threshold: float = 0.3,
) -> dict[str, Any]:
    """``{"status": "success", "ball_positions": [...], "video_width", "video_height"}``
    (errors raise, as for ``detect_players_modal``)."""
    from pipeline.stages.interactive import detect_ball

    bucket, settings = _interactive_bucket_and_settings()
    return detect_ball(
        bucket, settings, user_id, input_key, start_frame, end_frame, confidence_threshold
    )


# -- the orchestrator: CPU only, it waits on the GPU functions ---------------------


@app.function(
    image=base_image,
    timeout=3600,
    secrets=[r2_credentials],
    cpu=LIGHT_CPU,
    memory=LIGHT_MEMORY_MB,
)
def orchestrate_job(user_id: str, job_id: str) -> str:
    """Run one claimed job through the stage functions; returns its final state."""
    from pipeline.jobs.claim import ClaimedJob
    from pipeline.jobs.notifier import Notifier
    from pipeline.jobs.worker import Worker
    from pipeline.runners.modal import ModalFunctions, ModalRunner

    bucket, settings = _bucket_and_settings()
    runner = ModalRunner(ModalFunctions(APP_NAME), max_workers=settings.max_segment_workers)
    notifier = Notifier(bucket, settings, _SpawnedCallbacks())
    worker = Worker(bucket, settings, runner, machine=COORDINATOR, on_status=notifier)
    status = worker.run(ClaimedJob.existing(bucket, user_id, job_id))
    return status.state.value if status else "held-elsewhere"


class _SpawnedCallbacks:
    """Callbacks delivered by their own small function: its retries (minutes) never keep
    the orchestrator, or the job, waiting."""

    def dispatch(self, delivery: Any) -> None:
        deliver_callback.spawn(delivery.as_wire())


@app.function(
    image=base_image,
    timeout=30 * 60,
    secrets=[r2_credentials],
    cpu=0.25,
    memory=256,
)
def deliver_callback(wire: dict[str, str]) -> dict[str, Any]:
    """Deliver one signed callback (REELPIPE_CALLBACK_SECRET), retrying with backoff."""
    from pipeline.jobs.callback_delivery import Delivery, deliver

    bucket, settings = _bucket_and_settings()
    record = deliver(bucket, settings, Delivery.from_wire(wire))
    return record.model_dump(mode="json")


def _spawn(job: Any) -> None:
    orchestrate_job.spawn(job.user_id, job.job_id)


# -- triggers --------------------------------------------------------------------


@app.function(
    image=base_image,
    schedule=modal.Period(minutes=1),
    timeout=600,
    secrets=[r2_credentials],
    cpu=1.0,
    memory=LIGHT_MEMORY_MB,
)
def scan_inbox() -> dict[str, int]:
    """The scheduled scan: claim new manifests (``REELPIPE_CLAIM_CONCURRENCY`` at once),
    one orchestrator spawned per claimed job; resume abandoned jobs."""
    from pipeline.jobs.scan import Scanner

    bucket, settings = _bucket_and_settings()
    scanner = Scanner(bucket, settings, _spawn, claim_concurrency=settings.claim_concurrency)
    report = scanner.scan_once()
    return {"claimed": len(report.claimed), "resumed": len(report.resumed)}


@app.function(image=base_image, secrets=[r2_credentials], cpu=1.0, memory=LIGHT_MEMORY_MB)
@modal.asgi_app()
def webhook() -> Any:
    """R2/S3 event notifications (``POST /events``), signed with REELPIPE_WEBHOOK_SECRET:
    the same app ``reelpipe serve`` runs (body limit, signature first, bounded claims)."""
    from pipeline.jobs.scan import Scanner
    from pipeline.service.request_origin import ServedHosts
    from pipeline.service.webhook_app import create_app

    bucket, settings = _bucket_and_settings()
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    scanner = Scanner(bucket, settings, _spawn, claim_concurrency=settings.claim_concurrency)
    return create_app(
        secret,
        scanner.claim_key,
        max_body_bytes=settings.webhook_max_body_bytes,
        claim_queue=settings.webhook_claim_queue,
        bucket=bucket,
        api_token=settings.api_token.get_secret_value() if settings.api_token else None,
        # Public and token-only, so no Host check unless REELPIPE_ALLOWED_HOSTS names the
        # web URL's host (<workspace>--<app>-webhook.modal.run).
        served_hosts=ServedHosts.listed(settings.allowed_hosts),
    )


@app.function(
    image=base_image,
    schedule=modal.Cron("0 3 * * *"),
    timeout=6 * 3600,
    secrets=[r2_credentials],
    cpu=1.0,
    memory=LIGHT_MEMORY_MB,
)
def nightly_reprocess() -> dict[str, int]:
    """Re-run failed and outdated jobs (03:00 UTC): each in its own orchestrator,
    ``REELPIPE_REPROCESS_CONCURRENCY`` at once."""
    from pipeline.jobs.reprocess import reprocess
    from pipeline.jobs.worker import Worker
    from pipeline.manifests.status import JobState
    from pipeline.runners.modal import ModalFunctions, ModalRunner

    bucket, settings = _bucket_and_settings()
    runner = ModalRunner(ModalFunctions(APP_NAME), max_workers=settings.max_segment_workers)

    def run_remotely(job: Any) -> Any:
        state = orchestrate_job.remote(job.user_id, job.job_id)
        return JobState(state) if state in {s.value for s in JobState} else None

    report = reprocess(
        bucket,
        Worker(bucket, settings, runner),
        max_jobs=500,
        concurrency=settings.reprocess_concurrency,
        run_job=run_remotely,
    )
    return {"succeeded": len(report.succeeded), "failed": len(report.failed)}
