"""Deploy builds the right command and environment; verify reports missing functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.service.deploy import APP_FUNCTIONS, deploy_command, verify_functions


def test_deploy_command_forces_utf8_and_passes_the_app_name() -> None:
    """``modal deploy infra/modal_app.py`` with UTF-8 output and the chosen app name."""
    command = deploy_command(
        Path("infra/modal_app.py"), app_name="my-reels", environ={"PATH": "/usr/bin", "KEEP": "1"}
    )
    assert command.argv[0].endswith("modal")
    assert command.argv[1:] == ["deploy", "infra/modal_app.py"]
    assert command.env["PYTHONIOENCODING"] == "utf-8" and command.env["PYTHONUTF8"] == "1"
    assert command.env["REELPIPE_MODAL_APP"] == "my-reels"
    assert command.env["KEEP"] == "1"


def test_verify_reports_each_function_and_a_missing_one_as_failed() -> None:
    """A lookup that fails for one name marks only that name FAILED."""
    looked_up: list[tuple[str, str]] = []

    def lookup(app: str, name: str) -> Any:
        looked_up.append((app, name))
        if name == "apply_upscale":
            raise LookupError("function not found")
        return object()

    report = verify_functions("reel-ballers-video", lookup=lookup)
    assert report["apply_upscale"].startswith("FAILED: LookupError")
    assert all(report[name] == "OK" for name in APP_FUNCTIONS if name != "apply_upscale")
    assert {name for _, name in looked_up} == set(APP_FUNCTIONS)


def test_the_app_defines_every_function_verify_checks() -> None:
    """The names verify looks up are the names the app file defines."""
    import pytest

    pytest.importorskip("modal")
    from infra import modal_app

    for name in APP_FUNCTIONS:
        assert hasattr(modal_app, name), name
