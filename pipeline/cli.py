"""The ``reelpipe`` command: parse arguments, build Settings once, call the library.

reelpipe process [CLIP] [--manifest FILE] [--out DIR]   run one job end to end
reelpipe schema [NAME]                                  print the JSON Schemas
reelpipe sample OUT.mp4                                 write the sample clip
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from pipeline import __version__
from pipeline.claim import claim
from pipeline.connection import connect
from pipeline.errors import ReelpipeError
from pipeline.logs import configure_logging
from pipeline.manifests.schema import json_schemas
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.media.sample import write_sample_clip
from pipeline.orchestrator import Orchestrator
from pipeline.progress_bar import ProgressBar
from pipeline.runners.local import LocalRunner
from pipeline.sample_job import sample_manifest
from pipeline.settings import Settings
from pipeline.storage import Bucket
from pipeline.submit import submit_manifest, upload_clip

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE = 0, 1, 2

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
        inbox = submit_manifest(bucket, args.user, manifest)
        job = claim(bucket, inbox)
        if job is None:  # pragma: no cover - nobody else can claim in a private store
            print("error: the job was claimed by another worker", file=sys.stderr)
            return EXIT_JOB_FAILED
        bar = ProgressBar()
        orchestrator = Orchestrator(
            bucket, LocalRunner(bucket, conn.settings), conn.settings, on_status=bar.update
        )
        try:
            status = orchestrator.run(job)
        finally:
            bar.close()
        out_dir = args.out or Path("reelpipe-out") / job.job_id
        paths = _download_results(bucket, status, out_dir)
    print(f"job:    {status.job_id} {status.state.value}")
    if "output" in paths:
        print(f"output: {paths['output'].resolve()}")
    print(f"status: {paths['status'].resolve()}")
    print(f"bucket: s3://{settings.bucket}/{job.status.key}")
    if status.state is not JobState.SUCCEEDED:
        error = status.error
        detail = f"{error.kind.value}: {error.message}" if error else "unknown error"
        print(f"error: {detail}", file=sys.stderr)
        return EXIT_JOB_FAILED
    return EXIT_OK


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
