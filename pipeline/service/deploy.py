"""Deploying the Modal app and checking that its functions answer by name.

Run ``modal deploy`` as a subprocess with UTF-8 forced (its
output has symbols some consoles cannot print) and keep its output in a file;
afterwards look every function up by name, as callers will.

Example::

    command = deploy_command(Path("infra/modal_app.py"))
    subprocess.run(command.argv, env=command.env)
    verify_functions("reel-ballers-video")   # {"render_overlay": "OK", ...}
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import ConfigError

# Every function the app defines (infra/functions.py; a test keeps the two equal), by the
# names callers look up with modal.Function.from_name: the stages the orchestrator calls,
# the interactive calls apps make, and the rest.
APP_FUNCTIONS = (
    "detect_objects",
    "process_framing",
    "render_overlay",
    "apply_upscale",
    "join_segments",
    "cut_previews",
    "assemble_reel",
    "detect_players_modal",
    "detect_ball_modal",
    "orchestrate_job",
    "deliver_callback",
    "scan_inbox",
    "webhook",
    "nightly_reprocess",
)


@dataclass(frozen=True)
class DeployCommand:
    """What to run, and in which environment."""

    argv: list[str]
    env: dict[str, str]


def deploy_command(
    app_file: Path, *, app_name: str | None = None, environ: Mapping[str, str] = os.environ
) -> DeployCommand:
    """``modal deploy <app_file>`` with UTF-8 output forced and the app name passed on."""
    modal_cli = shutil.which("modal") or str(Path(sys.executable).with_name("modal"))
    env = dict(environ)
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONUTF8"] = "1"
    if app_name:
        env["REELPIPE_MODAL_APP"] = app_name
    return DeployCommand([modal_cli, "deploy", str(app_file)], env)


DEPLOY_TIMEOUT_S = 1800.0  # building the images the first time takes minutes


def run_deploy(command: DeployCommand, log_path: Path) -> int:
    """Run the deploy; its whole output goes to ``log_path`` (decoded leniently)."""
    if not Path(command.argv[0]).exists():
        raise ConfigError("the modal CLI is not installed: pip install -e '.[modal]'")
    try:
        proc = subprocess.run(
            command.argv,
            env=command.env,
            capture_output=True,
            check=False,
            timeout=DEPLOY_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise ConfigError(
            f"modal deploy did not finish within {DEPLOY_TIMEOUT_S:.0f} s; try again"
        ) from exc
    out = proc.stdout.decode("utf-8", errors="replace")
    err = proc.stderr.decode("utf-8", errors="replace")
    log_path.write_text(f"STDOUT:\n{out}\n\nSTDERR:\n{err}\n", encoding="utf-8")
    return proc.returncode


Lookup = Callable[[str, str], Any]


def _modal_lookup(app_name: str, name: str) -> Any:
    """What a caller does: ``modal.Function.from_name(app, name)``, hydrated (from_name
    is lazy: this asks the server now)."""
    import modal

    function = modal.Function.from_name(app_name, name)
    function.hydrate()
    return function


def verify_functions(
    app_name: str, names: tuple[str, ...] = APP_FUNCTIONS, lookup: Lookup = _modal_lookup
) -> dict[str, str]:
    """``OK`` or ``FAILED: <why>`` for each function, looked up by name."""
    report = {}
    for name in names:
        try:
            lookup(app_name, name)
        except Exception as exc:  # noqa: BLE001 - each failure is reported, none stops the check
            report[name] = f"FAILED: {type(exc).__name__}: {exc}"
        else:
            report[name] = "OK"
    return report
