"""``reelpipe detect-players`` and ``reelpipe detect-ball``: the interactive calls
on a local clip (uploaded to the configured or embedded bucket first).

    reelpipe detect-players CLIP --frame 100 [--confidence 0.5] [--backend motion|yolo]
    reelpipe detect-ball CLIP --start 0 --end 300 [--confidence 0.3]

Both print the JSON response of the interactive calls (pipeline.stages.interactive).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    add_connection_args,
    clip_problem,
    settings_from,
)

if TYPE_CHECKING:
    from pipeline.core.settings import Settings
    from pipeline.storage.bucket import Bucket


def _settings(args: argparse.Namespace) -> Settings:
    return settings_from(args, yolo_weights=args.weights)


Call = Callable[["Bucket", "Settings", str, str, argparse.Namespace], dict[str, Any]]


def _on_local_clip(args: argparse.Namespace, call: Call) -> int:
    """Upload ``args.clip``, run ``call`` on it, print the JSON answer."""
    problem = clip_problem(args.clip)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from pipeline.client.submit import upload_clip
    from pipeline.storage.connection import connect

    with connect(_settings(args)) as conn:
        key = upload_clip(conn.bucket, args.user, args.clip)
        result = call(conn.bucket, conn.settings, args.user, key, args)
    print(json.dumps(result, indent=2))
    return EXIT_OK


def cmd_detect_players(args: argparse.Namespace) -> int:
    """Players on one frame of a local clip."""
    from pipeline.manifests.job import DetectBackend
    from pipeline.stages.interactive import detect_players

    return _on_local_clip(
        args,
        lambda b, s, u, k, a: detect_players(
            b, s, u, k, a.frame, a.confidence, backend=DetectBackend(a.backend)
        ),
    )


def cmd_detect_ball(args: argparse.Namespace) -> int:
    """The ball across a range of frames of a local clip."""
    from pipeline.stages.interactive import detect_ball

    return _on_local_clip(
        args, lambda b, s, u, k, a: detect_ball(b, s, u, k, a.start, a.end, a.confidence)
    )


def add_detect_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register both commands on the ``reelpipe`` parser."""
    p = sub.add_parser("detect-players", help="players on one frame, as JSON")
    p.add_argument("clip", type=Path)
    p.add_argument("--frame", type=int, required=True, help="frame number")
    p.add_argument("--confidence", type=float, default=0.5)
    p.add_argument(
        "--backend",
        choices=("auto", "yolo", "motion"),
        default="auto",
        help="yolo (needs --weights or REELPIPE_YOLO_WEIGHTS), motion (no weights: what "
        "moves), auto: yolo when weights are set (default)",
    )
    p.add_argument("--weights", type=Path, help="YOLO .pt (REELPIPE_YOLO_WEIGHTS)")
    add_connection_args(p)
    p.set_defaults(func=cmd_detect_players)

    p = sub.add_parser("detect-ball", help="the ball over a frame range (YOLO), as JSON")
    p.add_argument("clip", type=Path)
    p.add_argument("--start", type=int, default=0, help="first frame")
    p.add_argument("--end", type=int, required=True, help="frame after the last")
    p.add_argument("--confidence", type=float, default=0.3)
    p.add_argument("--weights", type=Path, help="YOLO .pt (REELPIPE_YOLO_WEIGHTS)")
    add_connection_args(p)
    p.set_defaults(func=cmd_detect_ball)
