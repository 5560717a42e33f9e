"""The arguments of the app-facing job commands (their code is imported when run)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.common import add_connection_args
from pipeline.cli.lazy import later

COMMANDS = "pipeline.cli.app_commands"


def add_app_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``jobs``, ``cancel``, ``url``, ``download`` and ``config``."""
    # Imported when the parser is built, not with this module: ``reelpipe process``
    # starts its store's child before the manifests (pydantic, numpy) load.
    from pipeline.manifests.status import JobState

    p = sub.add_parser("jobs", help="list a user's jobs, newest first")
    p.add_argument("--state", choices=[s.value for s in JobState])
    p.add_argument("--since", help="only jobs created since this date (ISO)")
    p.add_argument("--limit", type=int, default=20, help="jobs per page (1-1000)")
    p.add_argument("--cursor", help="the next page: the cursor the last page printed")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_connection_args(p)
    p.set_defaults(func=later(COMMANDS, "cmd_jobs"))

    p = sub.add_parser("cancel", help="cancel a job (stops at its next frame)")
    p.add_argument("job")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_connection_args(p)
    p.set_defaults(func=later(COMMANDS, "cmd_cancel"))

    p = sub.add_parser("url", help="print a presigned link to a job's output")
    p.add_argument("job")
    p.add_argument("--expires", type=int, default=3600, help="seconds the link is valid")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_connection_args(p)
    p.set_defaults(func=later(COMMANDS, "cmd_url"))

    p = sub.add_parser("download", help="fetch a job's output, poster, preview and status")
    p.add_argument("job")
    p.add_argument("--out", type=Path, default=Path("."), help="folder to write them to")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_connection_args(p)
    p.set_defaults(func=later(COMMANDS, "cmd_download"))

    p = sub.add_parser("config", help="print the effective settings and where each came from")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--markdown", action="store_true", help="the README's table of variables")
    add_connection_args(p)
    p.set_defaults(func=later(COMMANDS, "cmd_config"))
