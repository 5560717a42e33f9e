"""reelpipe on Modal: one right-sized function per stage, a CPU-only orchestrator,
the scan on a schedule, the webhook, and the nightly reprocess.

Read top to bottom: images, secrets and volumes, the app, the stage functions
in call order, the orchestrator, then the triggers. Everything heavy (torch,
the pipeline's media code) is imported only in a container (or inside the functions),
so this file imports anywhere, with no GPU packages installed.

Sizes come from the stage table: every function reserves its cores and memory;
only the model stages (detection, upscale) hold a GPU. Every function is a plain
function, found by ``modal.Function.from_name(app, name)`` as callers look it up
(``render_overlay``, ``process_framing``, ``apply_upscale``, ``detect_players_modal``,
``detect_ball_modal``, ...). What each container does as it starts comes from
``infra/functions.py``: it imports its function's modules and, for a model function,
loads the model, all before its first request. The CPU functions (framing, overlay, the
orchestrator, the scan, the webhook) are restored from a memory snapshot taken after
those imports; their clients are made after the restore. Framing and
overlay are CPU functions (x264), fused into one call when a job has both;
they move to a T4 only when deployed with ``REELPIPE_VIDEO_ENCODER=h264_nvenc``.
The interactive detection (``detect_players_modal``, ``detect_ball_modal``) keeps its
container warm for ``REELPIPE_INTERACTIVE_SCALEDOWN_S`` (default 300 s)
and holds ``REELPIPE_INTERACTIVE_MIN_CONTAINERS`` (default 0) ready for peak hours.
The images install exactly the versions of ``infra/images.lock.json`` (``infra/lock.py``).

    reelpipe deploy        # modal deploy infra/modal_app.py, then reelpipe verify

Secrets to create once (``modal secret create r2-credentials ...``):
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``REELPIPE_ENDPOINT_URL``
(``https://<account>.r2.cloudflarestorage.com``), ``REELPIPE_BUCKET``,
``REELPIPE_WEBHOOK_SECRET``, ``REELPIPE_CALLBACK_SECRET`` (signed callbacks; optional),
and any other setting (``reelpipe config`` lists them).
"""

from __future__ import annotations

import functools
import importlib
import os
from pathlib import Path
from typing import Any

import modal

from infra.functions import FUNCTION_ENV, FUNCTIONS
from infra.lock import locked_python, pins
from pipeline.core.settings import Settings
from pipeline.manifests.job import StageName
from pipeline.stages.table import (
    COORDINATOR,
    JOIN,
    PREVIEWS,
    REEL_ASSEMBLY,
    STAGE_TABLE,
    Image,
    StepSpec,
)

# Deploy-time configuration of this file (not of the pipeline, which reads no
# environment at import), from the deploying shell's settings: the app name apps look
# functions up by, the encoder, and how the interactive containers stay warm.
DEPLOY = Settings.from_env(os.environ)
APP_NAME = DEPLOY.modal.app
VIDEO_ENCODER = DEPLOY.video_encoder
INTERACTIVE_SCALEDOWN_S = DEPLOY.modal.interactive_scaledown_s
INTERACTIVE_MIN_CONTAINERS = DEPLOY.modal.interactive_min_containers
WEIGHTS_DIR = "/weights"

# The functions that only coordinate: a fraction of a core and a little memory.
LIGHT_CPU, LIGHT_MEMORY_MB = COORDINATOR.cpu, COORDINATOR.memory_mb

# -- images: one per resource profile ----------------------------------------

# Each installs exactly the pins of infra/images.lock.json (`python -m infra.lock` writes it
# from the environment the suite runs in): only what its functions import, nothing
# resolved at build time (--no-deps). No moto, no Flask, no uvicorn, no test tools.
PYTHON_VERSION = locked_python()


def _locked_image(image: Image) -> modal.Image:
    """ffmpeg (H.264/AAC, ffprobe) and ``image``'s pinned packages, then the pipeline's
    source (local files go last: a code change rebuilds no layer)."""
    built = (
        modal.Image.debian_slim(python_version=PYTHON_VERSION)
        .apt_install("ffmpeg")
        .pip_install(*pins(image.value), extra_options="--no-deps")
    )
    if image is Image.YOLO:
        # Weights come from the Volume; ultralytics never downloads.
        built = built.env({"YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": "/tmp/ultralytics"})
    return built.add_local_python_source("pipeline", "infra", ignore=_not_shipped)


# The local sources a container gets: Python files, the lock, the dashboard's assets;
# never caches or the queue consumer's npm tree.
_SHIPPED = modal.FilePatternMatcher("**/*.py", "**/*.json", "**/*.html", "**/*.js", "**/*.css")


def _not_shipped(path: Path) -> bool:
    return "__pycache__" in path.parts or "cloudflare" in path.parts or not _SHIPPED(path)


# The base image (the pipeline's light dependencies), the upscale image (+ torch, CUDA
# build) and the detection image (+ torch, torchvision and the headless ultralytics build:
# one OpenCV in the image; the tracker is the pipeline's own).
IMAGES = {image: _locked_image(image) for image in Image}
base_image = IMAGES[Image.BASE]

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


def container_options(name: str) -> dict[str, Any]:
    """What every function declares from its row of ``infra.functions``: its image, the
    variable that tells its container which function it serves, and a memory snapshot
    (taken after the container's imports) where it takes one."""
    spec = FUNCTIONS[name]
    return {
        "image": IMAGES[spec.image],
        "env": {FUNCTION_ENV: name, "REELPIPE_VIDEO_ENCODER": VIDEO_ENCODER},
        "enable_memory_snapshot": spec.snapshot,
    }


def stage_options(name: StageName) -> dict[str, Any]:
    """``@app.function`` options of a stage, from the stage table: its machine, timeout,
    the weights Volume when it loads weights, secrets and its retries of transient
    failures."""
    spec = STAGE_TABLE[name]
    machine = spec.machine_for(VIDEO_ENCODER)
    options: dict[str, Any] = {
        **container_options(spec.modal_function),
        "image": IMAGES[machine.image],
        "timeout": spec.timeout_s,
        "secrets": [r2_credentials],
        "retries": modal.Retries(
            max_retries=spec.retries, backoff_coefficient=2.0, initial_delay=5.0
        ),
        "cpu": machine.cpu,
        "memory": machine.memory_mb,
    }
    if machine.gpu is not None:
        options["gpu"] = machine.gpu
        options["enable_memory_snapshot"] = False  # see FunctionSpec.snapshot
    if spec.weights:
        options["volumes"] = {WEIGHTS_DIR: weights_volume}
    return options


def step_options(step: StepSpec) -> dict[str, Any]:
    """``@app.function`` options of a call that is no stage (the join, the previews, a
    reel's assembly), from its row of the stage table: its machine, timeout and retries of transient
    failures."""
    machine = step.machine
    return {
        **container_options(step.modal_function),
        "timeout": step.timeout_s,
        "secrets": [r2_credentials],
        "retries": modal.Retries(
            max_retries=step.retries, backoff_coefficient=2.0, initial_delay=5.0
        ),
        "cpu": machine.cpu,
        "memory": machine.memory_mb,
    }


def _bucket_and_settings(**overrides: Any) -> tuple[Any, Any]:
    from pipeline.core.settings import Settings
    from pipeline.storage.bucket import open_bucket

    settings = Settings.from_env(os.environ, **overrides)
    return open_bucket(settings), settings


def _weights_overrides(stage: StageName) -> dict[str, Any]:
    """The stage's weights on the Volume (``REELPIPE_YOLO_WEIGHTS_NAME``,
    ``REELPIPE_UPSCALE_WEIGHTS_NAME``), when present."""
    from pathlib import Path

    if stage is StageName.DETECT:
        field, variable, default = "yolo_weights", "REELPIPE_YOLO_WEIGHTS_NAME", "yolov8x.pt"
    else:
        field, variable, default = "upscale_weights", "REELPIPE_UPSCALE_WEIGHTS_NAME", "model.pth"
    weights = Path(WEIGHTS_DIR) / os.environ.get(variable, default)
    return {field: weights} if weights.is_file() else {}


@functools.cache
def _container() -> tuple[Any, Any]:
    """This container's bucket and settings, made once, with its function's model loaded
    (``infra.functions``). Made on first use, so where the function takes a memory
    snapshot they are made after it is restored: no client, connection or temp dir is
    shared by two containers restored from one snapshot."""
    spec = FUNCTIONS.get(os.environ.get(FUNCTION_ENV, ""))
    if spec is None or spec.warm is None:
        return _bucket_and_settings()
    from pipeline.stages.warm import warm_models

    bucket, settings = _bucket_and_settings(**_weights_overrides(spec.warm))
    warm_models(settings, spec.warm)
    return bucket, settings


def container_start(name: str) -> None:
    """What function ``name``'s container does while it starts, before any request: import
    the modules its body uses (before the memory snapshot, where it takes one) and, for a
    model function, load the model (``_container``)."""
    spec = FUNCTIONS[name]
    for module in spec.modules:
        importlib.import_module(module)
    if spec.warm is not None:
        _container()


# Modal imports this file as each container starts, with FUNCTION_ENV naming its function;
# anywhere else (a deploy, a test, an app looking functions up) nothing more is imported.
if os.environ.get(FUNCTION_ENV) in FUNCTIONS:
    container_start(os.environ[FUNCTION_ENV])


def _machine(name: StageName) -> Any:
    """The machine a stage's function reserves (what its calls are billed for)."""
    return STAGE_TABLE[name].machine_for(VIDEO_ENCODER)


# -- the stages, in call order -------------------------------------------------
# Plain functions, each found by modal.Function.from_name(app, name), as callers do.


@app.function(**stage_options(StageName.DETECT))
def detect_objects(request: dict[str, Any]) -> dict[str, Any]:
    """Players and the ball, tracked (the motion backend when no weights are on the
    Volume); YOLO is loaded as the container starts."""
    from pipeline.runners.stage_call import execute_call

    return execute_call(request, *_container(), machine=_machine(StageName.DETECT))


@app.function(**stage_options(StageName.FRAMING))
def process_framing(request: dict[str, Any]) -> dict[str, Any]:
    """Trim, crop, speed: one ffmpeg pass (with the overlay, one fused pass), CPU only."""
    from pipeline.runners.stage_call import execute_call

    return execute_call(request, *_container(), machine=_machine(StageName.FRAMING))


@app.function(**stage_options(StageName.OVERLAY))
def render_overlay(request: dict[str, Any]) -> dict[str, Any]:
    """The spotlight that follows a player (one segment of it when fanned out)."""
    from pipeline.runners.stage_call import execute_call

    return execute_call(request, *_container(), machine=_machine(StageName.OVERLAY))


@app.function(**stage_options(StageName.UPSCALE))
def apply_upscale(request: dict[str, Any]) -> dict[str, Any]:
    """Super-resolution (one segment of it when fanned out); the model is loaded as the
    container starts."""
    from pipeline.runners.stage_call import execute_call

    return execute_call(request, *_container(), machine=_machine(StageName.UPSCALE))


@app.function(**step_options(JOIN))
def join_segments(request: dict[str, Any]) -> dict[str, Any]:
    """The join of a fanned-out stage's video parts (stream copy, the audio muxed once,
    the job's poster and preview when it is the job's last video), on its own machine."""
    from pipeline.runners.stage_call import execute_call

    return execute_call(request, *_container(), machine=JOIN.machine)


@app.function(**step_options(PREVIEWS))
def cut_previews(request: dict[str, Any]) -> dict[str, Any]:
    """The job's poster and preview cut from its stored output, when the call that wrote
    it could not cut them (no video stage, the overlay in an earlier call)."""
    from pipeline.runners.stage_call import execute_call

    return execute_call(request, *_container(), machine=PREVIEWS.machine)


@app.function(**step_options(REEL_ASSEMBLY))
def assemble_reel(request: dict[str, Any]) -> dict[str, Any]:
    """A reel cut from its clips' outputs (the moments chosen, loudness matched, one encode
    or a stream copy, its edit, poster and preview), on its own machine."""
    from pipeline.runners.stage_call import execute_call

    return execute_call(request, *_container(), machine=REEL_ASSEMBLY.machine)


# -- the interactive calls (an app's user picks a player) ---------------------------


# Same names, arguments and answers as the source document's
# (``modal.Function.from_name(app, "detect_players_modal").remote(...)``). YOLO is loaded
# as the container starts; the container stays warm between clicks.
def interactive_options(name: str) -> dict[str, Any]:
    """``@app.function`` options of an interactive call."""
    return {
        **container_options(name),
        "enable_memory_snapshot": False,  # a GPU function (see FunctionSpec.snapshot)
        "gpu": "T4",
        "cpu": 2.0,
        "memory": 8192,
        "secrets": [r2_credentials],
        "volumes": {WEIGHTS_DIR: weights_volume},
        "scaledown_window": INTERACTIVE_SCALEDOWN_S,
        "min_containers": INTERACTIVE_MIN_CONTAINERS,
    }


@app.function(timeout=300, **interactive_options("detect_players_modal"))
def detect_players_modal(
    user_id: str, input_key: str, frame_number: int = 0, confidence_threshold: float = 0.5
) -> dict[str, Any]:
    """``{"status": "success", "detections": [...], "video_width", "video_height"}``.

    A bad request raises the project's error (InputNotFound, StageParamsInvalid...),
    which ``.remote()`` raises again in the caller.
    """
    from pipeline.stages.interactive import detect_players

    bucket, settings = _container()
    return detect_players(bucket, settings, user_id, input_key, frame_number, confidence_threshold)


@app.function(timeout=600, **interactive_options("detect_ball_modal"))
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

    bucket, settings = _container()
    return detect_ball(
        bucket, settings, user_id, input_key, start_frame, end_frame, confidence_threshold
    )


# -- the orchestrator: CPU only, it waits on the GPU functions ---------------------


@app.function(
    **container_options("orchestrate_job"),
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

    bucket, settings = _container()
    runner = ModalRunner(ModalFunctions(APP_NAME), max_workers=settings.costs.max_segment_workers)
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
    **container_options("deliver_callback"),
    timeout=30 * 60,
    secrets=[r2_credentials],
    cpu=0.25,
    memory=256,
)
def deliver_callback(wire: dict[str, str]) -> dict[str, Any]:
    """Deliver one signed callback (REELPIPE_CALLBACK_SECRET), retrying with backoff."""
    from pipeline.jobs.callback_delivery import Delivery, deliver

    bucket, settings = _container()
    record = deliver(bucket, settings, Delivery.from_wire(wire))
    return record.model_dump(mode="json")


def _spawn(job: Any) -> None:
    orchestrate_job.spawn(job.user_id, job.job_id)


# -- triggers --------------------------------------------------------------------


@app.function(
    **container_options("scan_inbox"),
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

    bucket, settings = _container()
    scanner = Scanner(bucket, settings, _spawn, claim_concurrency=settings.leases.claim_concurrency)
    report = scanner.scan_once()
    return {"claimed": len(report.claimed), "resumed": len(report.resumed)}


@app.function(
    **container_options("webhook"), secrets=[r2_credentials], cpu=1.0, memory=LIGHT_MEMORY_MB
)
@modal.asgi_app()
def webhook() -> Any:
    """R2/S3 event notifications (``POST /events``), signed with REELPIPE_WEBHOOK_SECRET:
    the same app ``reelpipe serve`` runs (body limit, signature first, bounded claims)."""
    from pipeline.jobs.scan import Scanner
    from pipeline.service.request_origin import ServedHosts
    from pipeline.service.webhook_app import create_app

    bucket, settings = _container()
    secret = (
        settings.security.webhook_secret.get_secret_value()
        if settings.security.webhook_secret
        else ""
    )
    scanner = Scanner(bucket, settings, _spawn, claim_concurrency=settings.leases.claim_concurrency)
    return create_app(
        secret,
        scanner.claim_key,
        max_body_bytes=settings.security.webhook_max_body_bytes,
        claim_queue=settings.security.webhook_claim_queue,
        bucket=bucket,
        api_token=settings.security.api_token.get_secret_value()
        if settings.security.api_token
        else None,
        # Public and token-only, so no Host check unless REELPIPE_ALLOWED_HOSTS names the
        # web URL's host (<workspace>--<app>-webhook.modal.run).
        served_hosts=ServedHosts.listed(settings.security.allowed_hosts),
    )


@app.function(
    **container_options("nightly_reprocess"),
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

    bucket, settings = _container()
    runner = ModalRunner(ModalFunctions(APP_NAME), max_workers=settings.costs.max_segment_workers)

    def run_remotely(job: Any) -> Any:
        state = orchestrate_job.remote(job.user_id, job.job_id)
        return JobState(state) if state in {s.value for s in JobState} else None

    report = reprocess(
        bucket,
        Worker(bucket, settings, runner),
        max_jobs=500,
        concurrency=settings.leases.reprocess_concurrency,
        run_job=run_remotely,
    )
    return {"succeeded": len(report.succeeded), "failed": len(report.failed)}
