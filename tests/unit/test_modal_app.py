"""The Modal app: imports without GPU packages, and each function is sized as planned.

No Modal account is reachable and no token is ever set: only definitions are
inspected (``Function.info()``), nothing is called remotely.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

modal = pytest.importorskip("modal")

from infra import modal_app  # noqa: E402


def test_the_app_file_imports_without_torch() -> None:
    """GPU-only imports stay inside the functions."""
    code = "import sys; sys.modules['torch'] = None; import infra.modal_app as m; print(m.APP_NAME)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "reel-ballers-video"


def deployed(name: str) -> object:
    """The app's function ``name``, or for ``Class.method`` the class's service function."""
    if "." in name:
        cls = getattr(modal_app, name.split(".")[0])
        return cls._get_class_service_function()
    return getattr(modal_app, name)


@pytest.mark.parametrize(
    ("name", "gpus", "cpu", "memory"),
    [
        ("ObjectDetection.detect_objects", [("T4", 1)], 4.0, 8192),
        ("detect_players_modal", [("T4", 1)], 2.0, 8192),
        ("detect_ball_modal", [("T4", 1)], 2.0, 8192),
        ("process_framing", [], 4.0, 4096),
        ("render_overlay", [], 4.0, 4096),
        ("Upscaling.apply_upscale", [("L4", 1)], 4.0, 8192),
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


def test_every_deployed_name_is_declared() -> None:
    """``reelpipe verify`` looks up exactly what the app defines."""
    from pipeline.service.deploy import APP_FUNCTIONS

    for name in APP_FUNCTIONS:
        target = deployed(name)
        if "." in name:
            cls_name, method = name.split(".")
            assert method in getattr(modal_app, cls_name)._get_method_names()
        assert target is not None


def test_model_stages_load_their_model_at_container_start() -> None:
    """Detection and upscale are classes whose ``load`` is an ``@modal.enter`` hook (it
    warms pipeline.stages.warm's loaders), so no request pays the model's load."""
    from modal._partial_function import _PartialFunctionFlags
    from modal._utils.async_utils import synchronizer

    for cls_name in ("ObjectDetection", "Upscaling"):
        hooks = getattr(modal_app, cls_name)._get_partial_functions()
        load = synchronizer._translate_in(hooks["load"])
        assert load.flags & _PartialFunctionFlags.ENTER_POST_SNAPSHOT, cls_name
        assert "_warm" in load.raw_f.__code__.co_names  # the hook loads the stage's model


def test_interactive_containers_load_yolo_as_they_start() -> None:
    """The seed's functions keep their names; their containers (and only theirs: the flag
    is in their environment) warm YOLO while importing the app, before any request."""
    assert modal_app.INTERACTIVE_OPTIONS["env"] == {"REELPIPE_WARM_AT_START": "interactive"}
    assert modal_app._interactive == {}  # not here: this is not such a container
    code = "import infra.modal_app as m; print(sorted(m._interactive))"
    env = {**os.environ, "REELPIPE_WARM_AT_START": "interactive"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "['warm']"


def test_overlay_moves_to_a_gpu_only_with_nvenc() -> None:
    """Deployed with REELPIPE_VIDEO_ENCODER=h264_nvenc, framing and overlay get a T4."""
    code = (
        "import infra.modal_app as m; "
        "print(m.render_overlay.info().gpus, m.process_framing.info().gpus, "
        "m.Upscaling._get_class_service_function().info().gpus)"
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
        deployed("ObjectDetection.detect_objects"),
        modal_app.process_framing,
        modal_app.render_overlay,
        deployed("Upscaling.apply_upscale"),
    )
    for function in stages:
        assert function.info().max_retries == 2  # type: ignore[attr-defined]
    assert not modal_app.orchestrate_job.info().max_retries


def test_schedules_and_the_webhook() -> None:
    """Scan every minute, reprocess nightly, webhook on POST; upscale weights on a volume."""
    assert "Period" in str(modal_app.scan_inbox.info().schedule)
    assert "0 3 * * *" in str(modal_app.nightly_reprocess.info().schedule)
    assert modal_app.webhook.info().web_info is not None
    webhook_app = modal_app.webhook.local()  # the very app `reelpipe serve` runs
    assert {(r.path, m) for r in webhook_app.routes for m in getattr(r, "methods", ())} >= {
        ("/events", "POST"),
        ("/healthz", "GET"),
    }
    assert "/weights" in deployed("Upscaling.apply_upscale").info().volumes  # type: ignore[attr-defined]
    assert "/weights" in deployed("ObjectDetection.detect_objects").info().volumes  # type: ignore[attr-defined]
