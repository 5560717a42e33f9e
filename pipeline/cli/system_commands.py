"""The commands that run or talk to a live system: serve, submit, status, scan, reprocess.

They talk to ``REELPIPE_ENDPOINT_URL``, or, when none is set, to a local
``reelpipe serve`` on its default address with its default credentials.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from pipeline.cli.common import (
    EXIT_JOB_FAILED,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    app_settings,
    clip_problem,
    default_data_dir,
    load_manifest,
    print_warnings,
    settings_from,
    stop_code,
    stop_on_signals,
)
from pipeline.cli.progress_bar import ProgressBar
from pipeline.cli.stage_timing import stage_timing
from pipeline.client.app_client import JobNotFound, JobTimeout, ReelpipeClient
from pipeline.core.keys import validate_job_id
from pipeline.core.listening import Wanted, listen_on_all
from pipeline.core.waiting import wait_for_event
from pipeline.jobs.compose import local_worker, with_logging
from pipeline.jobs.reprocess import reprocess
from pipeline.jobs.request_reuse import newest_job
from pipeline.jobs.sample_reel import REENCODE_MANIFEST
from pipeline.jobs.scan import Scanner
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.service.serve import ServeOptions, serve
from pipeline.storage.connection import connect


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve S3 (embedded unless --endpoint-url), the scan, the webhook and workers."""
    if args.workers < 1:
        print(f"error: --workers must be at least 1 (got {args.workers})", file=sys.stderr)
        return EXIT_USAGE
    settings = with_logging(settings_from(args), json_logs=True if args.json_logs else None)
    if "allow_private" not in settings.callbacks.model_fields_set:
        # On a laptop the app under development listens on loopback: call it there.
        settings = settings.replace(callback_allow_private="loopback")
    stop = stop_on_signals()
    data_dir = None if args.in_memory else (args.data_dir or default_data_dir(settings))
    options = ServeOptions(
        host=args.host,
        webhook_port=args.webhook_port if args.webhook_port else args.port + 1,
        workers=args.workers,
        data_dir=data_dir if settings.embedded else None,
    )
    # Both ports before anything starts: one error names every taken one. The store's is
    # only tried here (the embedded server binds it itself, a moment later).
    wanted = [Wanted(options.webhook_port, "the webhook", "--webhook-port")]
    if settings.embedded:
        wanted.append(Wanted(args.port, "S3", "--port"))
    listener, *tried = listen_on_all(options.host, wanted)
    for sock in tried:
        sock.close()
    try:
        with connect(settings, host=args.host, port=args.port, data_dir=options.data_dir) as conn:
            serve(conn, options, listener, stop, sys.stdout)
    finally:
        listener.close()
    return stop_code(stop)


def cmd_submit(args: argparse.Namespace) -> int:
    """Upload a clip, then its manifest; print the job id."""
    settings = with_logging(app_settings(args), json_logs=True if args.json_logs else None)
    problem = clip_problem(args.clip)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    manifest = load_manifest(args.manifest, settings.security.max_manifest_bytes)
    if manifest is None:
        manifest = REENCODE_MANIFEST
    with connect(settings) as conn:
        client = ReelpipeClient(conn.bucket, args.user)
        submission = client.submit(args.clip, manifest, request_id=args.request_id)
        status_key = conn.bucket.layout.status_key(args.user, submission.job_id)
    if args.json:
        doc = {
            "job_id": submission.job_id,
            "request_key": submission.inbox_key,
            "status_key": status_key,
        }
        print(json.dumps(doc))
    else:
        print(submission.job_id)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """Print a job's status (or follow it with --watch)."""
    settings = with_logging(app_settings(args), json_logs=True if args.json_logs else None)
    if (args.job is None) == (args.request is None):
        print("error: name a job id or --request, not both", file=sys.stderr)
        return EXIT_USAGE
    with connect(settings) as conn:
        client = ReelpipeClient(conn.bucket, args.user)
        if args.request is not None:
            try:
                status: StatusManifest | None = client.status_for_request(args.request)
            except JobNotFound as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_JOB_FAILED
            if status is not None and status.superseded_by is not None:
                first, status = status, newest_job(client.status, status)
                print(
                    f"note: request {args.request} was uploaded again: showing its newest "
                    f"job {status.job_id} (its first was {first.job_id})",
                    file=sys.stderr,
                )
            args.job = status.job_id if status is not None else None
            pending = status is None
        else:
            validate_job_id(args.job)
            status = client.status(args.job)
            pending = status is None and client.pending_request(args.job) is not None
        if status is None and not pending:
            print(f"error: no such job {args.job} for user {args.user}", file=sys.stderr)
            return EXIT_JOB_FAILED
        if args.job is None:  # a request still in the inbox: no job to follow yet
            if args.json:
                print(json.dumps({"request_id": args.request, "state": "submitted"}))
            else:
                print(f"request {args.request}: not claimed yet (still in the inbox)")
            return EXIT_OK
        if args.watch:
            bar = ProgressBar(enabled=None if not args.json else False)
            try:
                status = client.wait(
                    args.job,
                    on_progress=lambda _p: _redraw(bar, client, args.job),
                    poll_s=0.5,
                    timeout_s=args.timeout,
                )
            except JobTimeout as exc:
                print(f"error: {exc} (--timeout)", file=sys.stderr)
                return EXIT_TIMEOUT
            finally:
                bar.close()
    if status is None:
        if args.json:
            print(json.dumps({"job_id": args.job, "state": "submitted"}))
        else:
            print(f"job {args.job}: not claimed yet (its manifest is still in the inbox)")
        return EXIT_OK
    if args.json:
        print(status.model_dump_json(indent=2))
    else:
        print(_describe(status))
    print_warnings(status)
    return (
        EXIT_OK
        if status.state is JobState.SUCCEEDED or not status.state.finished
        else (EXIT_JOB_FAILED)
    )


def _redraw(bar: ProgressBar, client: ReelpipeClient, job_id: str) -> None:
    status = client.status(job_id)
    if status is not None:
        bar.update(status)


def _describe(status: StatusManifest) -> str:
    progress = status.progress
    lines = [
        f"job:      {status.job_id} ({status.user_id})",
        f"state:    {status.state.value}  {progress.percent:.0f}%  {progress.message}",
    ]
    for name, stage in status.stages.items():
        timing = stage_timing(stage)
        line = f"  {name.value:<8} {stage.state.value:<9} {stage.progress:5.1f}%"
        lines.append(f"{line}  {timing}" if timing else line)
    if status.output_key:
        lines.append(f"output:   {status.output_key}")
    for label in ("poster", "preview"):
        if label in status.outputs:
            lines.append(f"{label + ':':<10}{status.outputs[label]}")
    if status.error:
        lines.append(f"error:    {status.error.kind.value}: {status.error.message}")
    if status.replaces:
        lines.append(f"replaces: {status.replaces} (an earlier upload of the same request id)")
    if status.superseded_by:
        lines.append(f"superseded by: {status.superseded_by} (uploaded again, same request id)")
    return "\n".join(lines)


def cmd_scan(args: argparse.Namespace) -> int:
    """Claim pending manifests and resume abandoned jobs, running them here."""
    settings = with_logging(app_settings(args), json_logs=True if args.json_logs else None)
    stop = stop_on_signals()
    with connect(settings) as conn:
        worker = local_worker(conn.bucket, conn.settings, stop=stop)
        scanner = Scanner(conn.bucket, conn.settings, worker.run, owner=worker.owner)
        try:
            while True:
                report = scanner.scan_once()
                if args.once:
                    print(
                        f"claimed {len(report.claimed)}, resumed {len(report.resumed)}, "
                        f"ignored {len(report.ignored)}"
                    )
                    return EXIT_OK
                if wait_for_event(stop, conn.settings.leases.scan_period_s):
                    return EXIT_OK
        finally:
            worker.close()


def cmd_reprocess(args: argparse.Namespace) -> int:
    """Re-run failed jobs and jobs made by an older pipeline version."""
    settings = with_logging(app_settings(args), json_logs=True if args.json_logs else None)
    since = datetime.fromisoformat(args.since).replace(tzinfo=UTC) if args.since else None
    with connect(settings) as conn:
        worker = local_worker(conn.bucket, conn.settings)
        try:
            report = reprocess(
                conn.bucket,
                worker,
                dry_run=args.dry_run,
                max_jobs=args.max_jobs,
                since=since,
                # Local jobs share this machine's cores: more at once than cores only queue.
                concurrency=min(conn.settings.leases.reprocess_concurrency, os.cpu_count() or 1),
            )
        finally:
            worker.close()
    for candidate in report.candidates:
        print(f"{candidate.user_id}/{candidate.job_id}: {candidate.reason}")
    verb = "would reprocess" if args.dry_run else "reprocessed"
    print(
        f"{verb} {len(report.candidates)} job(s): {len(report.succeeded)} succeeded, "
        f"{len(report.failed)} failed, {len(report.skipped)} skipped"
    )
    return EXIT_OK if not report.failed else EXIT_JOB_FAILED


def cmd_reindex(args: argparse.Namespace) -> int:
    """Add finished jobs that are not in the operations index yet (one pass over history)."""
    from pipeline.jobs.job_index import reindex

    settings = with_logging(app_settings(args), json_logs=True if args.json_logs else None)
    with connect(settings) as conn:
        seen, added = reindex(conn.bucket)
    print(f"{seen} finished job(s), {added} newly indexed")
    return EXIT_OK
