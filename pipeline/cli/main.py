"""The ``reelpipe`` command: parse arguments, build Settings once, call the library.

    reelpipe process [CLIP] [--manifest FILE] [--out DIR]   run one job end to end
    reelpipe serve [--port 9000] [--workers N]              S3 + scan + webhook + workers
    reelpipe submit CLIP --user U [--manifest FILE]         upload a clip and its manifest
    reelpipe status JOB --user U [--watch] [--json]         read a job's status
    reelpipe scan [--once]                                  claim and run what is pending
    reelpipe reprocess [--dry-run] [--max-jobs N] [--since DATE]
    reelpipe plan CLIP [--manifest FILE] [--json]           workers, GPU, time and cost
    reelpipe detect-players CLIP --frame N / detect-ball    the interactive detection calls
    reelpipe deploy [--dry-run] / reelpipe verify           the Modal app
    reelpipe schema [NAME]                                  print the JSON Schemas
    reelpipe sample OUT.mp4                                 write the sample clip
    reelpipe warm [--stop]                                  process's warm worker

The commands that talk to a running system live in ``pipeline.cli.system_commands``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pipeline import __version__
from pipeline.cli.app_parsers import add_app_commands
from pipeline.cli.common import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_OK,
    EXIT_OUTPUT_CLOSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    UNREACHABLE_HINT,
    add_connection_args,
    clip_problem,
    env_file,
    exit_for,
    load_manifest,
    print_warnings,
    settings_from,
)
from pipeline.cli.interactive_commands import add_detect_commands
from pipeline.cli.lazy import later
from pipeline.cli.termination import Terminated, raise_on_termination
from pipeline.core.errors import AccessDenied, BucketNotFound, ReelpipeError, StorageUnavailable

if TYPE_CHECKING:
    from pipeline.core.settings import Settings
    from pipeline.storage.embedded_process import EmbeddedS3Process

DESCRIPTION = (
    "Sports highlight clips through detect, framing, overlay and upscale, over an S3 bucket.\n"
    "Try `reelpipe process` (a generated sample, an embedded store: nothing to configure),\n"
    "then `reelpipe process game.mp4 --manifest job.json`."
)
EPILOG = (
    "`reelpipe COMMAND --help` for each command's options. Exit codes: 0 ok, 1 the job\n"
    "failed, 2 usage, 3 store unreachable, 4 --watch timed out, 129 SIGHUP, 130 Ctrl-C,\n"
    "141 output closed, 143 SIGTERM."
)
# The names of `reelpipe schema` (pipeline.manifests.schema.SCHEMAS, whose import --help
# spares itself; a test holds the two together).
SCHEMA_NAMES = ("job", "reel", "status", "framing-timeline", "detections")
MODAL_INSTALL = "pip install -e '.[modal]' (or pip install 'reelpipe[modal]')"

# Each command imports what it uses when it runs: `reelpipe process` starts its
# embedded S3 server's child first, and the child's start overlaps these imports.


cmd_serve = later("pipeline.cli.system_commands", "cmd_serve")
cmd_submit = later("pipeline.cli.system_commands", "cmd_submit")
cmd_status = later("pipeline.cli.system_commands", "cmd_status")
cmd_scan = later("pipeline.cli.system_commands", "cmd_scan")
cmd_reprocess = later("pipeline.cli.system_commands", "cmd_reprocess")
cmd_reindex = later("pipeline.cli.system_commands", "cmd_reindex")


def cmd_process(args: argparse.Namespace) -> int:
    """Run one clip end to end and download the output and status (or, with a reel
    manifest, many clips into one reel).

    The embedded store's child is started before anything else is loaded (the settings,
    the manifests, the pipeline): it boots on the other core meanwhile. It is let go
    again when the settings name an endpoint after all, or nothing is to run."""
    from pipeline.storage.embedded_process import EmbeddedS3Process

    server: EmbeddedS3Process | None = getattr(args, "early_store", None)
    if server is None and args.endpoint_url is None and not _endpoint_in_environment():
        server = EmbeddedS3Process().start()
    try:
        return _process_command(args, server)
    finally:
        if server is not None:
            server.stop()


def early_store(
    argv: Sequence[str], started: EmbeddedS3Process | None = None
) -> EmbeddedS3Process | None:
    """``reelpipe process``'s embedded store's child, started before even the parser is
    built (it loads the manifests and the settings library): None for another command, a
    help request, or an endpoint on the command line or in the environment. The settings
    decide in the end (:func:`cmd_process` lets it go when they name an endpoint).
    ``started``: one a warm worker started ahead, used instead (or stopped when none is
    wanted)."""
    wanted = bool(argv) and argv[0] == "process" and not _endpoint_in_environment()
    if wanted and any(a in ("-h", "--help") or a.startswith("--endpoint") for a in argv):
        wanted = False
    if not wanted:
        if started is not None:
            started.stop()
        return None
    if started is not None:
        return started
    from pipeline.storage.embedded_process import EmbeddedS3Process

    return EmbeddedS3Process().start()


def _endpoint_in_environment() -> bool:
    """Whether the environment names an endpoint (``.env`` files are the settings' to read)."""
    return any(
        key.upper() == "REELPIPE_ENDPOINT_URL" and value for key, value in os.environ.items()
    )


def _process_command(args: argparse.Namespace, server: EmbeddedS3Process | None) -> int:
    """:func:`cmd_process` once its store's child, if any, is starting."""
    settings = settings_from(args)
    if server is not None and not settings.embedded:
        server.stop()  # an endpoint is configured (a .env file): no embedded store
        server = None
    for clip in args.clips:
        problem = clip_problem(clip)
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_USAGE
    manifest = load_manifest(args.manifest, settings.security.max_manifest_bytes)
    if manifest is not None and "reel" in manifest:
        if server is not None:
            server.stop()  # a reel's run starts its own store
        return cmd_process_reel(args, settings, manifest)
    if len(args.clips) > 1:
        print(
            "error: several clips make a reel: give --manifest with a 'reel' block "
            "(reelpipe schema reel)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    clip = args.clips[0] if args.clips else None
    from pipeline.cli.progress_bar import ProgressBar
    from pipeline.cli.stage_timing import timing_lines
    from pipeline.jobs.compose import with_logging
    from pipeline.jobs.process import process_clip

    settings = with_logging(settings, json_logs=True if args.json_logs else None)
    bar = ProgressBar()
    try:
        done = process_clip(
            settings,
            clip,
            manifest,
            user=args.user,
            out_dir=args.out,
            on_status=bar.update,
            server=server,
        )
    finally:
        bar.close()
    print(f"{'job:':<12}{done.status.job_id} {done.status.state.value}")
    for line in timing_lines(done.status):
        print(line)
    labels = ("output", "poster", "preview", "timeline", "detections", "edit", "fcp_xml", "edl")
    for label in (*labels, "status"):
        if label in done.paths:
            print(f"{label + ':':<12}{done.paths[label].resolve()}")
    print(f"{'bucket:':<12}s3://{settings.storage.bucket}/{done.status_key}")
    print_warnings(done.status)
    return exit_for(done.status)


def cmd_process_reel(args: argparse.Namespace, settings: Settings, manifest: dict[str, Any]) -> int:
    """Run every clip of a reel manifest and assemble the reel."""
    from pipeline.jobs.compose import with_logging
    from pipeline.jobs.reel_process import process_reel
    from pipeline.manifests.reel import parse_reel_manifest

    reel = parse_reel_manifest(manifest, max_bytes=settings.security.max_manifest_bytes)
    settings = with_logging(settings, json_logs=True if args.json_logs else None)
    out_dir = args.out or Path("reelpipe-out") / "reel"
    done = process_reel(settings, list(args.clips), reel, user=args.user, out_dir=out_dir)
    print(f"{'reel:':<12}{done.status.state}")
    for label in ("output", "timeline", "fcp_xml", "edl", "poster", "preview", "status"):
        if label in done.paths:
            print(f"{label + ':':<12}{done.paths[label].resolve()}")
    if done.status.error:
        print(f"error: {done.status.error}", file=sys.stderr)
    return 0 if done.status.state == "succeeded" else 1


def cmd_moments(args: argparse.Namespace) -> int:
    """List a clip's candidate moments (what ``"moments": "auto"`` picks from)."""
    from pipeline.detect.moments import MomentOptions, find_moments
    from pipeline.media.probe import probe

    problem = clip_problem(args.clip)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if not 1.0 <= args.moment_s <= 30.0 or args.max_moments < 1:
        print("error: --moment-s must be 1-30 and --max at least 1", file=sys.stderr)
        return EXIT_USAGE
    options = MomentOptions(moment_s=args.moment_s, max_moments=args.max_moments)
    found = find_moments(args.clip, probe(args.clip), options)
    if args.json:
        print(json.dumps([m.as_dict() for m in found]))
        return 0
    if not found:
        print("no moments (the clip has no rise in sound or motion to go by)")
    for m in found:
        print(f"{m.start_s:7.2f}-{m.end_s:<7.2f} score {m.score:5.2f}  {', '.join(m.reasons)}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the cost model's plan for a clip and a manifest (nothing runs)."""
    from pipeline.core.settings import Settings
    from pipeline.jobs.plan import Objective, plan_job
    from pipeline.jobs.sample_reel import REENCODE_MANIFEST
    from pipeline.manifests.job import parse_job_manifest
    from pipeline.media.probe import probe

    problem = clip_problem(args.clip)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    settings = Settings.from_env(os.environ, env_file=env_file(), segment_workers=args.workers)
    info = probe(args.clip)
    raw = load_manifest(args.manifest) or REENCODE_MANIFEST
    manifest = parse_job_manifest(raw)
    plan = plan_job(manifest.stages, info, settings, Objective(args.objective))
    rates = settings.costs.rates.provenance()
    if args.json:
        doc = plan.as_json()
        doc["objective"] = args.objective
        doc["rates"] = [
            {"name": name, "usd": rate, "measured": measured} for name, rate, measured in rates
        ]
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    print(f"{args.clip.name}: {info.frame_count} frames, {info.duration_s:.1f} s")
    print(
        f"{'stage':<10}{'machine':<8}{'workers':>8}{'wall s':>9}{'cost $':>10}{'here s':>9}"
        "  alternatives"
    )
    for stage in plan.stages:
        others = ", ".join(
            f"{e.workers}: {e.wall_s:.1f} s ${e.cost_usd:.4f}" for e in stage.alternatives
        )
        chosen = stage.chosen
        print(
            f"{stage.stage.value:<10}{stage.machine:<8}{chosen.workers:>8}"
            f"{chosen.wall_s:>9.1f}{chosen.cost_usd:>10.4f}{stage.local_s:>9.1f}  {others or '-'}"
        )
    print(
        f"total: {plan.total_wall_s:.1f} s, ${plan.total_cost_usd:.4f} on Modal "
        f"({args.objective} first); {plan.total_local_s:.1f} s here (reelpipe process)"
    )
    print(
        "rates: "
        + ", ".join(
            f"{name} ${rate:g} ({'measured' if measured else 'estimate'})"
            for name, rate, measured in rates
        )
    )
    return EXIT_OK


def cmd_deploy(args: argparse.Namespace) -> int:
    """Deploy the Modal app (or print the command with --dry-run)."""
    from pipeline.service.deploy import deploy_command, run_deploy

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
    from pipeline.service.deploy import verify_functions

    try:
        import modal  # noqa: F401 - only to know it is there before each lookup fails
    except ImportError:
        print(f"error: `reelpipe verify` needs the modal extra: {MODAL_INSTALL}", file=sys.stderr)
        return EXIT_USAGE
    report = verify_functions(args.app)
    for name, result in report.items():
        print(f"{name}: {result}")
    return EXIT_OK if all(r == "OK" for r in report.values()) else EXIT_JOB_FAILED


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schemas (all, or the one named)."""
    from pipeline.manifests.schema import json_schemas

    schemas = json_schemas()
    if args.name:
        print(json.dumps(schemas[args.name], indent=2))
    else:
        print(json.dumps(schemas, indent=2))
    return EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    """Write the deterministic sample clip."""
    from pipeline.jobs.sample_reel import sample_manifest
    from pipeline.media.sample import write_sample_clip

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


def cmd_warm(args: argparse.Namespace) -> int:
    """Say whether a warm worker keeps ``process`` loaded for this code (or stop it)."""
    from pipeline.cli.warm_client import ask_warm_worker

    state = ask_warm_worker(os.environ, stop=args.stop)
    if state is None:
        print("no warm worker runs for this code")
    elif args.stop:
        print(f"the warm worker (pid {state['pid']}) stops once its {state['jobs']} jobs end")
    else:
        print(
            f"a warm worker (pid {state['pid']}) runs {state['jobs']} jobs; it ends after"
            f" {state['idle_s']:g} s without one"
        )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``reelpipe``."""
    # Imported here, not with this module (it brings the settings library): see main().
    from pipeline.core.setting_groups import DEFAULT_MODAL_APP

    parser = argparse.ArgumentParser(
        prog="reelpipe",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"reelpipe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    p = sub.add_parser(
        "process", help="run one clip (or a reel's clips) end to end (embedded S3 by default)"
    )
    p.add_argument(
        "clips",
        nargs="*",
        type=Path,
        metavar="clip",
        help="the clip (default: a generated sample); with a reel manifest, its clips in order",
    )
    p.add_argument(
        "--manifest",
        type=Path,
        help="job manifest JSON (input_key filled in), or a reel manifest ('reel' block)",
    )
    p.add_argument("--out", type=Path, help="where to put output.mp4 and status.json")
    add_connection_args(p)
    p.set_defaults(func=cmd_process)

    p = sub.add_parser("serve", help="S3 endpoint, scan loop, webhook and workers in one")
    p.add_argument("--host", default=DEFAULT_HOST)
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="S3 port (embedded)")
    p.add_argument("--webhook-port", type=int, help="webhook port (default: --port + 1)")
    p.add_argument("--workers", type=int, default=1, help="jobs run at once")
    p.add_argument(
        "--data-dir",
        type=Path,
        help="where the embedded store keeps its objects (REELPIPE_DATA_DIR; "
        "default ~/.local/share/reelpipe)",
    )
    p.add_argument(
        "--in-memory", action="store_true", help="keep the embedded store in memory only"
    )
    add_connection_args(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("submit", help="upload a clip, then its manifest; print the job id")
    p.add_argument("clip", type=Path)
    p.add_argument("--manifest", type=Path)
    p.add_argument("--request-id", help="the request's id (default: a random one)")
    p.add_argument("--json", action="store_true", help="job id, request and status keys")
    add_connection_args(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("status", help="show a job's status (by job id, or --request)")
    p.add_argument("job", nargs="?", help="the job id")
    p.add_argument("--request", help="the request id the manifest was uploaded as, instead")
    p.add_argument("--watch", action="store_true", help="follow until the job finishes")
    p.add_argument("--json", action="store_true", help="print the status manifest")
    p.add_argument(
        "--timeout", type=float, default=3600.0, help="with --watch: give up after this many s"
    )
    add_connection_args(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("scan", help="claim pending manifests and resume abandoned jobs")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    add_connection_args(p)
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("reprocess", help="re-run failed and outdated jobs (nightly)")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--max-jobs", type=int)
    p.add_argument("--since", help="only jobs whose status changed since this date (ISO)")
    add_connection_args(p)
    p.set_defaults(func=cmd_reprocess)

    p = sub.add_parser("reindex", help="index finished jobs the dashboard does not know yet")
    add_connection_args(p)
    p.set_defaults(func=cmd_reindex)

    add_detect_commands(sub)
    add_app_commands(sub)

    p = sub.add_parser("moments", help="a clip's candidate moments for a reel, best first")
    p.add_argument("clip", type=Path)
    p.add_argument("--moment-s", type=float, default=6.0, help="a moment's length (seconds)")
    p.add_argument("--max", type=int, default=10, dest="max_moments", help="at most this many")
    p.add_argument("--json", action="store_true", help="a JSON array of moments")
    p.set_defaults(func=cmd_moments)

    p = sub.add_parser("plan", help="estimate workers, GPU time and cost per stage")
    p.add_argument("clip", type=Path)
    p.add_argument("--manifest", type=Path, help="job manifest JSON (default: re-encode)")
    p.add_argument("--workers", type=int, help="force this many segments")
    p.add_argument(
        "--objective",
        choices=("cost", "time"),
        default="cost",
        help="cost: the cost-optimised thresholds (2 workers for 30-90 s); time: the fastest count",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("deploy", help="deploy the Modal app (modal deploy, UTF-8 safe)")
    p.add_argument("--app-file", type=Path, default=Path("infra/modal_app.py"))
    p.add_argument("--app", default=DEFAULT_MODAL_APP, help="Modal app name")
    p.add_argument("--dry-run", action="store_true", help="print the command only")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("verify", help="check the deployed functions answer by name")
    p.add_argument("--app", default=DEFAULT_MODAL_APP, help="Modal app name")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("schema", help="print the JSON Schemas of the manifests")
    p.add_argument("name", nargs="?", choices=SCHEMA_NAMES, help="one schema (default: all)")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("warm", help="whether `process` has a warm worker (--stop: stop it)")
    p.add_argument("--stop", action="store_true", help="stop it once its running jobs end")
    p.set_defaults(func=cmd_warm)
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


def main(argv: Sequence[str] | None = None, *, store: EmbeddedS3Process | None = None) -> int:
    """Entry point of the ``reelpipe`` console script: one line and an exit code for
    every mistake and failure (see ``pipeline.cli.common`` for the codes), no traceback.

    ``reelpipe process`` starts its embedded store's child first of all
    (:func:`early_store`): it boots on the other core while the parser, the settings and
    the pipeline load here. ``store``: one a warm worker started ahead, used instead."""
    words = list(sys.argv[1:] if argv is None else argv)
    store = early_store(words, store)
    try:
        return _run_command(words, store)
    finally:
        if store is not None:
            store.stop()


def _run_command(argv: list[str], store: EmbeddedS3Process | None) -> int:
    """:func:`main` once ``process``'s store, if any, is starting."""
    args = build_parser().parse_args(argv)
    if store is not None:
        args.early_store = store
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): say nothing more on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OUTPUT_CLOSED
    except Terminated as exc:
        print(f"terminated ({exc})", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (StorageUnavailable, AccessDenied, BucketNotFound) as exc:
        print(f"error: {exc}; {UNREACHABLE_HINT}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except ReelpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


def run() -> NoReturn:
    """The console script: :func:`main` (handed to a warm worker when one runs for this
    code: :mod:`pipeline.cli.warm_client`), then leave at once.

    Every command has finished its work, closed its files and stopped its threads
    when ``main`` returns; what remains is the interpreter tearing down every module
    the pipeline loaded (a third of a second after ``reelpipe process``), which
    nobody waits for. SIGTERM and SIGHUP are made to stop it as Ctrl-C does
    (:mod:`pipeline.cli.termination`) here rather than in ``main``, which tests call in
    their own process. A ``process`` run here starts a warm worker for the next one."""
    from pipeline.cli.warm_client import run_warm, start_warm_worker

    words = sys.argv[1:]
    environ = dict(os.environ)  # as it came: imports add to it (OpenCV its library path)
    code = run_warm(words, environ)
    if code is None:
        code = run_command(words)
        if code in (EXIT_OK, EXIT_JOB_FAILED):
            start_warm_worker(words, environ)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_command(argv: Sequence[str], store: EmbeddedS3Process | None = None) -> int:
    """:func:`main` as the console script runs it: SIGTERM and SIGHUP stop it as Ctrl-C
    does. A warm worker's fork runs its client's command through this, with the store it
    started ahead."""
    raise_on_termination()
    return main(argv, store=store)


if __name__ == "__main__":
    run()
