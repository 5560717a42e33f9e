"""The Modal app: imports without GPU packages, and each function is sized as planned.

No Modal account is reachable and no token is ever set: only definitions are
inspected (``Function.info()``), nothing is called remotely.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

modal = pytest.importorskip("modal")

from infra import modal_app  # noqa: E402


def test_the_app_file_imports_without_torch() -> None:
    """GPU-only imports stay inside the functions."""
    code = "import sys; sys.modules['torch'] = None; import infra.modal_app as m; print(m.APP_NAME)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "reel-ballers-video"


def deployed(name: str) -> object:
    """The app's function ``name``."""
    return getattr(modal_app, name)


def declared_option(name: str, option: str) -> Any:
    """An ``@app.function`` option as Modal received it (what its definition will send at
    deploy; ``info()`` does not show every option offline)."""
    from modal._utils.async_utils import synchronizer

    load = synchronizer._translate_in(deployed(name))._load
    cells = dict(zip(load.__code__.co_freevars, load.__closure__ or (), strict=True))
    return cells[option].cell_contents


@pytest.mark.parametrize(
    ("name", "gpus", "cpu", "memory"),
    [
        ("detect_objects", [("T4", 1)], 4.0, 8192),
        ("detect_players_modal", [("T4", 1)], 2.0, 8192),
        ("detect_ball_modal", [("T4", 1)], 2.0, 8192),
        ("process_framing", [], 4.0, 4096),
        ("render_overlay", [], 4.0, 4096),
        ("apply_upscale", [("L4", 1)], 4.0, 8192),
        ("orchestrate_job", [], 0.5, 1024),
        ("deliver_callback", [], 0.25, 256),
        ("scan_inbox", [], 1.0, 1024),
        ("webhook", [], 1.0, 1024),
        ("nightly_reprocess", [], 1.0, 1024),
    ],
)
def test_functions_get_the_planned_resources(
    name: str, gpus: list[object], cpu: float, memory: int
) -> None:
    """A GPU only where a model runs (overlay and framing encode on the CPU: no idle T4);
    every function reserves its cores and memory; the R2 secret everywhere."""
    info = deployed(name).info()  # type: ignore[attr-defined]
    assert list(info.gpus) == gpus
    assert (info.cpu, info.memory_mib) == (cpu, memory)
    assert any("r2-credentials" in str(s) for s in info.secrets)
    assert info.timeout >= 300


SOURCE_DOCUMENT_NAMES = (
    "render_overlay",
    "process_framing",
    "apply_upscale",
    "detect_players_modal",
    "detect_ball_modal",
)


def test_every_name_verify_checks_is_a_plain_function_of_the_app() -> None:
    """``reelpipe verify`` looks up exactly the app's functions, each a plain function (what
    ``modal.Function.from_name`` finds; it refuses ``Class.method``), the source document's
    names among them; the runner calls the stages by those names."""
    from infra.functions import FUNCTIONS
    from pipeline.runners.modal import STAGE_FUNCTIONS
    from pipeline.service.deploy import APP_FUNCTIONS

    assert set(APP_FUNCTIONS) == set(FUNCTIONS)
    assert set(SOURCE_DOCUMENT_NAMES) <= set(APP_FUNCTIONS)
    assert set(STAGE_FUNCTIONS.values()) <= set(APP_FUNCTIONS)
    for name in APP_FUNCTIONS:
        assert isinstance(deployed(name), modal.Function), name
        assert "." not in name
    with pytest.raises(modal.exception.InvalidError):
        modal.Function.from_name("reel-ballers-video", "Upscaling.apply_upscale")


@pytest.mark.parametrize(
    ("name", "modules", "loaded"),
    [
        ("render_overlay", ["pipeline.runners.stage_call", "pipeline.stages.registry"], []),
        ("webhook", ["pipeline.service.webhook_app", "pipeline.jobs.scan"], []),
        ("orchestrate_job", ["pipeline.jobs.worker", "pipeline.runners.modal"], []),
        ("apply_upscale", ["pipeline.runners.stage_call", "pipeline.stages.warm"], ["upscale"]),
        ("detect_players_modal", ["pipeline.stages.interactive"], ["detect"]),
    ],
)
def test_a_container_imports_its_modules_and_loads_its_model_before_any_request(
    name: str, modules: list[str], loaded: list[str]
) -> None:
    """A container started for ``name`` (its FUNCTION_ENV, as the app sets it) has imported
    its function's modules while importing the app file, and a model function has made its
    bucket and loaded its model (``_container``, warmed); a snapshot function has made no
    client yet (that comes after the restore). Anywhere else the app file imports neither."""
    code = (
        "import sys, infra.modal_app as m; "
        f"print(all(x in sys.modules for x in {modules!r}), m._container.cache_info().currsize)"
    )
    env = {**os.environ, "REELPIPE_FUNCTION": name}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["True", "1" if loaded else "0"]
    bare = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert bare.stdout.split() == ["False", "0"]


def test_cpu_functions_are_restored_from_a_memory_snapshot_and_gpu_ones_are_not() -> None:
    """Framing, overlay, the join, the previews, a reel's assembly, the orchestrator, the
    callback, the scan, the webhook and the nightly run take a memory snapshot after their
    imports; the GPU functions load their model onto the GPU at start instead (a CPU
    snapshot is taken with no GPU attached)."""
    from infra.functions import FUNCTIONS

    snapshotted = {name for name, spec in FUNCTIONS.items() if spec.snapshot}
    assert snapshotted == {
        "process_framing",
        "render_overlay",
        "join_segments",
        "cut_previews",
        "assemble_reel",
        "orchestrate_job",
        "deliver_callback",
        "scan_inbox",
        "webhook",
        "nightly_reprocess",
    }
    for name, spec in FUNCTIONS.items():
        assert declared_option(name, "enable_memory_snapshot") is spec.snapshot, name
        assert not (spec.snapshot and deployed(name).info().gpus), name  # type: ignore[attr-defined]


def test_containers_get_the_lock_and_the_dashboard_never_the_worker_npm_tree() -> None:
    """The local sources a container gets: the pipeline's and infra's Python files, the
    lock the app file reads, the dashboard's assets; never the queue consumer's files."""
    from pathlib import PurePosixPath

    from modal.mount import _MountedPythonModule

    shipped = [
        str(remote)
        for package in ("pipeline", "infra")
        for _, remote in _MountedPythonModule(
            package, PurePosixPath("/root"), modal_app._not_shipped
        ).get_files_to_upload()
    ]
    assert "/root/infra/images.lock.json" in shipped
    assert "/root/infra/functions.py" in shipped
    assert "/root/pipeline/service/dashboard/index.html" in shipped
    assert not [path for path in shipped if "cloudflare" in path or "__pycache__" in path]


def test_overlay_moves_to_a_gpu_only_with_nvenc() -> None:
    """Deployed with REELPIPE_VIDEO_ENCODER=h264_nvenc, framing and overlay get a T4."""
    code = (
        "import infra.modal_app as m; "
        "print(m.render_overlay.info().gpus, m.process_framing.info().gpus, "
        "m.apply_upscale.info().gpus)"
    )
    env = {**os.environ, "REELPIPE_VIDEO_ENCODER": "h264_nvenc"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[('T4', 1)] [('T4', 1)] [('L4', 1)]"


def test_the_interactive_warm_window_is_configurable() -> None:
    """Five minutes warm and no standing container by default; both from the environment."""
    assert (modal_app.INTERACTIVE_SCALEDOWN_S, modal_app.INTERACTIVE_MIN_CONTAINERS) == (300, 0)
    code = (
        "import infra.modal_app as m; "
        "print(m.INTERACTIVE_SCALEDOWN_S, m.INTERACTIVE_MIN_CONTAINERS)"
    )
    env = {
        **os.environ,
        "REELPIPE_INTERACTIVE_SCALEDOWN_S": "900",
        "REELPIPE_INTERACTIVE_MIN_CONTAINERS": "2",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["900", "2"]


def test_stage_functions_retry_transient_errors_only() -> None:
    """Stage functions retry (they raise only transient errors); the orchestrator does not."""
    stages = (
        modal_app.detect_objects,
        modal_app.process_framing,
        modal_app.render_overlay,
        modal_app.apply_upscale,
    )
    for function in stages:
        assert function.info().max_retries == 2  # type: ignore[attr-defined]
    assert not modal_app.orchestrate_job.info().max_retries


def test_schedules_and_the_webhook() -> None:
    """Scan every minute, reprocess nightly, webhook on POST; upscale weights on a volume."""
    assert "Period" in str(modal_app.scan_inbox.info().schedule)
    assert "0 3 * * *" in str(modal_app.nightly_reprocess.info().schedule)
    assert modal_app.webhook.info().web_info is not None
    modal_app._container.cache_clear()
    webhook_app = modal_app.webhook.local()  # the very app `reelpipe serve` runs
    modal_app._container.cache_clear()
    assert {(r.path, m) for r in webhook_app.routes for m in getattr(r, "methods", ())} >= {
        ("/events", "POST"),
        ("/healthz", "GET"),
    }
    assert "/weights" in modal_app.apply_upscale.info().volumes
    assert "/weights" in modal_app.detect_objects.info().volumes


def pip_commands(image: object) -> list[str]:
    """The ``pip install`` lines an image's layers will run at build (offline: the layers'
    own Dockerfile steps)."""
    from modal._utils.async_utils import synchronizer

    def cells(load: Any) -> dict[str, Any]:
        names, closure = load.__code__.co_freevars, load.__closure__ or ()
        return {n: c.cell_contents for n, c in zip(names, closure, strict=True)}

    found, pending = [], [synchronizer._translate_in(image)]
    while pending:
        layer = cells(pending.pop()._load)
        if layer.get("dockerfile_function"):
            commands = layer["dockerfile_function"]("2025.06").commands
            found += [c for c in commands if "pip install" in c and "--upgrade pip" not in c]
        pending += list((layer.get("base_images") or {}).values())
        pending += [layer["base_image"]] if "base_image" in layer else []
    return found


@pytest.mark.parametrize("image", ["base", "yolo", "upscale"])
def test_each_image_installs_exactly_its_locked_pins(image: str) -> None:
    """One pip layer: every pin of the lock for that image and nothing else, --no-deps (no
    resolving at build time: two deploys of one commit install the same versions)."""
    from infra import lock
    from pipeline.stages.table import Image

    (command,) = pip_commands(modal_app.IMAGES[Image(image)])
    words = command.split()
    assert "--no-deps" in words
    assert sorted(w for w in words if "==" in w) == sorted(lock.pins(image))
    assert not [w for w in words if w.split("==")[0] in lock.NEVER_IN_IMAGES]
