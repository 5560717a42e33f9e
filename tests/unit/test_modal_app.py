"""The Modal app: imports without GPU packages, and each function is sized as planned.

No Modal account is reachable and no token is ever set: only definitions are
inspected (``Function.info()``), nothing is called remotely.
"""

from __future__ import annotations

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


@pytest.mark.parametrize(
    ("function", "gpus"),
    [
        (modal_app.detect_objects, [("T4", 1)]),
        (modal_app.detect_players_modal, [("T4", 1)]),
        (modal_app.detect_ball_modal, [("T4", 1)]),
        (modal_app.process_framing, []),
        (modal_app.render_overlay, [("T4", 1)]),
        (modal_app.apply_upscale, [("L4", 1)]),
        (modal_app.orchestrate_job, []),
        (modal_app.scan_inbox, []),
        (modal_app.nightly_reprocess, []),
    ],
)
def test_functions_get_the_planned_resources(function: object, gpus: list[object]) -> None:
    """Stages on the right GPU; the orchestrator and triggers on CPU only; R2 secret everywhere."""
    info = function.info()  # type: ignore[attr-defined]
    assert list(info.gpus) == gpus
    assert any("r2-credentials" in str(s) for s in info.secrets)
    assert info.timeout >= 300


def test_stage_functions_retry_transient_errors_only() -> None:
    """Stage functions retry (they raise only transient errors); the orchestrator does not."""
    stages = (
        modal_app.detect_objects,
        modal_app.process_framing,
        modal_app.render_overlay,
        modal_app.apply_upscale,
    )
    for function in stages:
        assert function.info().max_retries == 2
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
    assert "/weights" in modal_app.apply_upscale.info().volumes
    assert "/weights" in modal_app.detect_objects.info().volumes
