"""The ``reelpipe`` command: parse arguments, build Settings once, call the library.

reelpipe process [CLIP] [--manifest FILE] [--out DIR]   run one job end to end
reelpipe schema [NAME]                                  print the JSON Schemas
reelpipe sample OUT.mp4                                 write the sample clip
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from pydantic import SecretStr

from pipeline import __version__
from pipeline.claim import claim
from pipeline.client import ReelpipeClient
from pipeline.connection import connect
from pipeline.deploy import deploy_command, run_deploy, verify_functions
from pipeline.errors import ReelpipeError
from pipeline.logs import configure_logging
from pipeline.manifests.schema import json_schemas
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.media.sample import write_sample_clip
from pipeline.progress_bar import ProgressBar
from pipeline.reprocess import reprocess
from pipeline.runners.local import LocalRunner
from pipeline.runners.modal import DEFAULT_APP_NAME
from pipeline.sample_job import sample_manifest
from pipeline.scan import Scanner
from pipeline.serve import ServeOptions, serve
from pipeline.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, Settings
from pipeline.storage import Bucket
from pipeline.submit import submit_manifest, upload_clip
from pipeline.worker import Worker

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 9000

log = structlog.get_logger(__name__)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        os.environ,
        endpoint_url=getattr(args, "endpoint_url", None),
        bucket=getattr(args, "bucket", None),
        scratch_dir=getattr(args, "scratch_dir", None),
    )


def _add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", help="S3 endpoint (default: an embedded one)")
    parser.add_argument("--bucket", help="bucket name (REELPIPE_BUCKET, default 'reelpipe')")
    parser.add_argument("--user", default="local", help="user id the job runs as")
    parser.add_argument("--scratch-dir", type=Path, help="where stages keep temporary files")
    parser.add_argument("--json-logs", action="store_true", help="JSON logs even on a terminal")


def _load_manifest(path: Path | None) -> dict[str, Any] | bytes | None:
    if path is None:
        return None
    raw = path.read_bytes()
    try:
        doc = json.loads(raw)
    except ValueError:
        return raw  # submitted as is: the job fails with a clear message in its status
    return doc if isinstance(doc, dict) else raw


def _download_results(bucket: Bucket, status: StatusManifest, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"status": out_dir / "status.json"}
    paths["status"].write_text(json.dumps(status.model_dump(mode="json"), indent=2) + "\n")
    if status.state is JobState.SUCCEEDED and status.output_key:
        paths["output"] = bucket.download_file(status.output_key, out_dir / "output.mp4")
    return paths


def cmd_process(args: argparse.Namespace) -> int:
    """Run one clip end to end and download the output and status."""
    settings = _settings(args)
    configure_logging(secrets=settings.secret_values(), json=True if args.json_logs else None)
    if args.clip is not None and not args.clip.is_file():
        print(f"error: no such clip: {args.clip}", file=sys.stderr)
        return EXIT_USAGE
    manifest = _load_manifest(args.manifest)
    clip = args.clip
    if clip is None:
        clip = settings.scratch_dir / "sample" / "sample.mp4"
        clip.parent.mkdir(parents=True, exist_ok=True)
        truth = write_sample_clip(clip)
        manifest = manifest if manifest is not None else sample_manifest(truth)
    if manifest is None:
        manifest = {"schema_version": 1, "stages": {"framing": {}}}
    with connect(settings) as conn:
        bucket = conn.bucket
        relative = upload_clip(bucket, args.user, clip)
        if isinstance(manifest, dict) and "input_key" not in manifest:
            manifest = {**manifest, "input_key": relative}
        bar = ProgressBar()
        worker = Worker(
            bucket, conn.settings, LocalRunner(bucket, conn.settings), on_status=bar.update
        )
        inbox = submit_manifest(bucket, args.user, manifest).inbox_key
        job = claim(bucket, inbox, owner=worker.owner, lease_ttl_s=conn.settings.lease_ttl_s)
        if job is None:  # pragma: no cover - nobody else can claim in a private store
            print("error: the job was claimed by another worker", file=sys.stderr)
            return EXIT_JOB_FAILED
        try:
            status = worker.run(job)
        finally:
            bar.close()
        assert status is not None
        out_dir = args.out or Path("reelpipe-out") / job.job_id
        paths = _download_results(bucket, status, out_dir)
    print(f"job:    {status.job_id} {status.state.value}")
    if "output" in paths:
        print(f"output: {paths['output'].resolve()}")
    print(f"status: {paths['status'].resolve()}")
    print(f"bucket: s3://{settings.bucket}/{job.status.key}")
    return _exit_for(status)


def _exit_for(status: StatusManifest) -> int:
    if status.state is JobState.SUCCEEDED:
        return EXIT_OK
    if status.state is JobState.FAILED:
        error = status.error
        detail = f"{error.kind.value}: {error.message}" if error else "unknown error"
        print(f"error: {detail}", file=sys.stderr)
    return EXIT_JOB_FAILED


def _app_settings(args: argparse.Namespace) -> Settings:
    """Settings for commands that talk to a running system (serve's defaults if none)."""
    settings = _settings(args)
    if settings.endpoint_url is not None:
        return settings
    return settings.model_copy(
        update={
            "endpoint_url": f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
            "access_key_id": settings.access_key_id or SecretStr(EMBEDDED_ACCESS_KEY),
            "secret_access_key": settings.secret_access_key or SecretStr(EMBEDDED_SECRET_KEY),
        }
    )


def _stop_on_signals() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM: long-running commands stop cleanly on it."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve S3 (embedded unless --endpoint-url), the scan, the webhook and workers."""
    settings = _settings(args)
    configure_logging(secrets=settings.secret_values(), json=True if args.json_logs else None)
    stop = _stop_on_signals()
    options = ServeOptions(
        host=args.host,
        webhook_port=args.webhook_port if args.webhook_port else args.port + 1,
        workers=args.workers,
    )
    with connect(settings, host=args.host, port=args.port) as conn:
        serve(conn, options, stop, sys.stdout)
    return EXIT_OK


def cmd_submit(args: argparse.Namespace) -> int:
    """Upload a clip, then its manifest; print the job id."""
    settings = _app_settings(args)
    configure_logging(secrets=settings.secret_values(), json=True if args.json_logs else None)
    if not args.clip.is_file():
        print(f"error: no such clip: {args.clip}", file=sys.stderr)
        return EXIT_USAGE
    manifest = _load_manifest(args.manifest) or {"schema_version": 1, "stages": {"framing": {}}}
    if not isinstance(manifest, dict):
        print("error: the manifest is not a JSON object", file=sys.stderr)
        return EXIT_USAGE
    with connect(settings) as conn:
        submission = ReelpipeClient(conn.bucket, args.user).submit(args.clip, manifest)
    print(submission.job_id)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """Print a job's status (or follow it with --watch)."""
    settings = _app_settings(args)
    configure_logging(secrets=settings.secret_values(), json=True if args.json_logs else None)
    with connect(settings) as conn:
        client = ReelpipeClient(conn.bucket, args.user)
        if args.watch:
            bar = ProgressBar(enabled=None if not args.json else False)
            try:
                status: StatusManifest | None = client.wait(
                    args.job, on_progress=lambda _p: _redraw(bar, client, args.job), poll_s=0.5
                )
            finally:
                bar.close()
        else:
            status = client.status(args.job)
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
    return EXIT_OK if status.state is not JobState.FAILED else EXIT_JOB_FAILED


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
        timing = f" {stage.duration_s:.1f}s" if stage.duration_s is not None else ""
        lines.append(f"  {name.value:<8} {stage.state.value:<9} {stage.progress:5.1f}%{timing}")
    if status.output_key:
        lines.append(f"output:   {status.output_key}")
    if status.error:
        lines.append(f"error:    {status.error.kind.value}: {status.error.message}")
    return "\n".join(lines)


def cmd_scan(args: argparse.Namespace) -> int:
    """Claim pending manifests and resume abandoned jobs, running them here."""
    settings = _app_settings(args)
    configure_logging(secrets=settings.secret_values(), json=True if args.json_logs else None)
    stop = _stop_on_signals()
    with connect(settings) as conn:
        worker = Worker(
            conn.bucket, conn.settings, LocalRunner(conn.bucket, conn.settings), stop=stop
        )
        scanner = Scanner(conn.bucket, conn.settings, worker.run, owner=worker.owner)
        while True:
            report = scanner.scan_once()
            if args.once:
                print(
                    f"claimed {len(report.claimed)}, resumed {len(report.resumed)}, "
                    f"ignored {len(report.ignored)}"
                )
                return EXIT_OK
            if stop.wait(conn.settings.scan_period_s):
                return EXIT_OK


def cmd_reprocess(args: argparse.Namespace) -> int:
    """Re-run failed jobs and jobs made by an older pipeline version."""
    settings = _app_settings(args)
    configure_logging(secrets=settings.secret_values(), json=True if args.json_logs else None)
    since = datetime.fromisoformat(args.since).replace(tzinfo=UTC) if args.since else None
    with connect(settings) as conn:
        worker = Worker(conn.bucket, conn.settings, LocalRunner(conn.bucket, conn.settings))
        report = reprocess(
            conn.bucket, worker, dry_run=args.dry_run, max_jobs=args.max_jobs, since=since
        )
    for candidate in report.candidates:
        print(f"{candidate.user_id}/{candidate.job_id}: {candidate.reason}")
    verb = "would reprocess" if args.dry_run else "reprocessed"
    print(
        f"{verb} {len(report.candidates)} job(s): {len(report.succeeded)} succeeded, "
        f"{len(report.failed)} failed, {len(report.skipped)} skipped"
    )
    return EXIT_OK if not report.failed else EXIT_JOB_FAILED


def cmd_deploy(args: argparse.Namespace) -> int:
    """Deploy the Modal app (or print the command with --dry-run)."""
    command = deploy_command(args.app_file, app_name=args.app)
    if args.dry_run:
        print(" ".join(command.argv))
        return EXIT_OK
    log = Path("deploy_result.txt")
    code = run_deploy(command, log)
    print(f"modal deploy exited {code}; output in {log.resolve()}")
    return EXIT_OK if code == 0 else EXIT_JOB_FAILED


def cmd_verify(args: argparse.Namespace) -> int:
    """Look every function of the deployed app up by name."""
    report = verify_functions(args.app)
    for name, result in report.items():
        print(f"{name}: {result}")
    return EXIT_OK if all(r == "OK" for r in report.values()) else EXIT_JOB_FAILED


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schemas (all, or the one named)."""
    schemas = json_schemas()
    if args.name:
        if args.name not in schemas:
            print(f"error: unknown schema {args.name!r}; one of {sorted(schemas)}", file=sys.stderr)
            return EXIT_USAGE
        print(json.dumps(schemas[args.name], indent=2))
    else:
        print(json.dumps(schemas, indent=2))
    return EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    """Write the deterministic sample clip."""
    truth = write_sample_clip(
        args.out,
        width=args.width,
        height=args.height,
        duration_s=args.duration,
        fps=args.fps,
        audio=not args.no_audio,
    )
    print(f"{args.out} {truth.width}x{truth.height} {truth.frames} frames")
    if args.manifest:
        args.manifest.write_text(json.dumps(sample_manifest(truth), indent=1) + "\n")
        print(f"{args.manifest}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``reelpipe``."""
    parser = argparse.ArgumentParser(prog="reelpipe", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"reelpipe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("process", help="run one clip end to end (embedded S3 by default)")
    p.add_argument("clip", nargs="?", type=Path, help="the clip (default: a generated sample)")
    p.add_argument("--manifest", type=Path, help="job manifest JSON (input_key filled in)")
    p.add_argument("--out", type=Path, help="where to put output.mp4 and status.json")
    _add_connection_args(p)
    p.set_defaults(func=cmd_process)

    p = sub.add_parser("serve", help="S3 endpoint, scan loop, webhook and workers in one")
    p.add_argument("--host", default=DEFAULT_HOST)
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="S3 port (embedded)")
    p.add_argument("--webhook-port", type=int, help="webhook port (default: --port + 1)")
    p.add_argument("--workers", type=int, default=1, help="jobs run at once")
    _add_connection_args(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("submit", help="upload a clip, then its manifest; print the job id")
    p.add_argument("clip", type=Path)
    p.add_argument("--manifest", type=Path)
    _add_connection_args(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("status", help="show a job's status")
    p.add_argument("job")
    p.add_argument("--watch", action="store_true", help="follow until the job finishes")
    p.add_argument("--json", action="store_true", help="print the status manifest")
    _add_connection_args(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("scan", help="claim pending manifests and resume abandoned jobs")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    _add_connection_args(p)
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("reprocess", help="re-run failed and outdated jobs (nightly)")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--max-jobs", type=int)
    p.add_argument("--since", help="only jobs whose status changed since this date (ISO)")
    _add_connection_args(p)
    p.set_defaults(func=cmd_reprocess)

    p = sub.add_parser("deploy", help="deploy the Modal app (modal deploy, UTF-8 safe)")
    p.add_argument("--app-file", type=Path, default=Path("infra/modal_app.py"))
    p.add_argument("--app", default=DEFAULT_APP_NAME, help="Modal app name")
    p.add_argument("--dry-run", action="store_true", help="print the command only")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("verify", help="check the deployed functions answer by name")
    p.add_argument("--app", default=DEFAULT_APP_NAME, help="Modal app name")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("schema", help="print the JSON Schemas of the manifests")
    p.add_argument("name", nargs="?", help="job, status or framing-timeline")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("sample", help="write the deterministic sample clip")
    p.add_argument("out", type=Path)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--no-audio", action="store_true")
    p.add_argument("--manifest", type=Path, help="also write the sample's job manifest here")
    p.set_defaults(func=cmd_sample)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reelpipe`` console script."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ReelpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
