"""The commands an app's operator uses on jobs: list, cancel, link, download, and the
effective configuration."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from pipeline.cli.common import (
    EXIT_JOB_FAILED,
    EXIT_OK,
    app_settings,
    env_file,
    flag_overrides,
)
from pipeline.client.app_client import JobNotFound, NoOutput, ReelpipeClient
from pipeline.core.errors import InvalidKey
from pipeline.core.settings import Settings
from pipeline.core.settings_sources import effective_rows, load_settings, markdown_table
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.storage.connection import connect


def cmd_jobs(args: argparse.Namespace) -> int:
    """List a user's jobs, newest first."""
    since = _date(args.since) if args.since else None
    state = JobState(args.state) if args.state else None
    with connect(app_settings(args)) as conn:
        page = ReelpipeClient(conn.bucket, args.user).list_jobs(
            state=state, since=since, limit=args.limit, cursor=args.cursor
        )
    if args.json:
        doc = {
            "jobs": [_summary(s) for s in page.jobs],
            "next_cursor": page.next_cursor,
            "requests": page.requests,
        }
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    if not page.jobs:
        # On stderr, as gh does: stdout stays one line per job for scripts.
        print("no jobs" + _filters(args), file=sys.stderr)
    for status in page.jobs:
        print(
            f"{status.job_id}  {status.state.value:<17} {status.progress.percent:5.1f}%  "
            f"{status.created_at.isoformat()[:19]}  {status.request_key or ''}"
        )
    if page.next_cursor:
        print(f"more: --cursor '{page.next_cursor}'")
    return EXIT_OK


def _filters(args: argparse.Namespace) -> str:
    """The filters ``jobs`` was given, as words (empty without any)."""
    given = [
        f"{label} {value}"
        for label, value in (("state", args.state), ("since", args.since), ("cursor", args.cursor))
        if value
    ]
    return f" for user {args.user}" + (f" ({', '.join(given)})" if given else "")


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel a job (a no-op, with a message, when it has finished)."""
    with connect(app_settings(args)) as conn:
        try:
            outcome = ReelpipeClient(conn.bucket, args.user).cancel(args.job)
        except JobNotFound as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_JOB_FAILED
    if args.json:
        state = outcome.status.state.value
        print(json.dumps({"job_id": args.job, "state": state, "changed": outcome.changed}))
    else:
        print(outcome.message)
    return EXIT_OK


def cmd_url(args: argparse.Namespace) -> int:
    """Print a presigned GET of a job's output."""
    with connect(app_settings(args)) as conn:
        try:
            url = ReelpipeClient(conn.bucket, args.user).output_url(
                args.job, expires_s=args.expires
            )
        except (JobNotFound, NoOutput) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_JOB_FAILED
    print(
        json.dumps({"job_id": args.job, "url": url, "expires_s": args.expires})
        if args.json
        else url
    )
    return EXIT_OK


def cmd_download(args: argparse.Namespace) -> int:
    """Fetch a job's output, poster, preview and status."""
    with connect(app_settings(args)) as conn:
        try:
            paths = ReelpipeClient(conn.bucket, args.user).download(args.job, args.out)
        except (JobNotFound, NoOutput) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_JOB_FAILED
    if args.json:
        print(json.dumps({label: str(p.resolve()) for label, p in paths.items()}, indent=2))
    else:
        for label, path in paths.items():
            print(f"{label + ':':<9}{path.resolve()}")
    return EXIT_OK


def cmd_config(args: argparse.Namespace) -> int:
    """Print the effective settings (secrets masked) and where each came from."""
    if args.markdown:
        print(markdown_table(Settings), end="")
        return EXIT_OK
    loaded = load_settings(
        Settings, os.environ, env_file=env_file(), overrides=flag_overrides(args)
    )
    rows = list(effective_rows(loaded))
    if args.json:
        doc = [
            {"setting": f, "variable": v, "value": val, "from": o.value} for f, v, val, o in rows
        ]
        print(
            json.dumps(
                {"env_file": str(loaded.env_file) if loaded.env_file else None, "settings": doc},
                indent=2,
            )
        )
        return EXIT_OK
    width = max(len(v) for _, v, _, _ in rows)
    for _, variable, value, origin in rows:
        shown = value if len(value) <= 60 else value[:57] + "..."
        print(f"{variable:<{width}}  {shown or '(unset)':<40} {origin.value}")
    if loaded.env_file is not None:
        print(f"(.env: {loaded.env_file})")
    return EXIT_OK


def _summary(status: StatusManifest) -> dict[str, object]:
    return {
        "job_id": status.job_id,
        "state": status.state.value,
        "percent": status.progress.percent,
        "created_at": status.created_at.isoformat(),
        "request_key": status.request_key,
        "output_key": status.output_key,
        "poster_key": status.outputs.get("poster"),
        "error": status.error.model_dump(mode="json") if status.error else None,
        "cost_usd": status.cost_usd,
    }


def _date(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidKey(f"--since {text!r}: use an ISO date such as 2026-12-01") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
