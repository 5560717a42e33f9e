"""The whole ``reelpipe process`` on a 1080p30 clip against a bare ffmpeg re-encode.

Everything a user waits for is inside the timed command: Python start, the
embedded S3 server, upload, claim, the stages, status writes, download.

Rows: (limit) bare ffmpeg re-encode of the clip, x264 fast crf 23, audio copied;
(overlay) `reelpipe process` with an overlay-only manifest (one re-encoding stage);
(chain) `reelpipe process` with framing (full length, full frame) then overlay: two
re-encodes, the first at the near-lossless intermediate profile.

Usage (from the repository root): python -m bench.process_e2e [--runs 3] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from bench.measure import HEADER, Timing, row, run, time_call
from pipeline.media.sample import write_sample_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reelpipe-bench-"))
    src = work / "game-1080p.mp4"
    truth = write_sample_clip(src, width=1920, height=1080, duration_s=args.seconds)
    overlay = {"highlight": {"boxes": truth.keyframes(0, every=10)}}
    manifests = {
        "overlay": {"schema_version": 1, "stages": {"overlay": overlay}},
        "chain": {"schema_version": 1, "stages": {"framing": {}, "overlay": overlay}},
    }
    for name, doc in manifests.items():
        (work / f"{name}.json").write_text(json.dumps(doc))
    reelpipe = [sys.executable, "-m", "pipeline.cli.main", "process", str(src)]
    env = {"REELPIPE_SCRATCH_DIR": str(work / "scratch")}

    def bare() -> None:
        run(
            [
                "ffmpeg", "-v", "error", "-y", "-i", str(src), "-c:v", "libx264",
                "-preset", "fast", "-crf", "23", "-pix_fmt", "yuv420p",
                "-movflags", "+faststart", "-c:a", "copy", str(work / "bare.mp4"),
            ]
        )  # fmt: skip

    def process(name: str) -> None:
        out = work / f"out-{name}"
        run([*reelpipe, "--manifest", str(work / f"{name}.json"), "--out", str(out)], env)

    results: dict[str, list[Timing]] = {"limit": [], "overlay": [], "chain": []}
    for _ in range(args.runs):
        results["limit"].append(time_call(bare))
        results["overlay"].append(time_call(lambda: process("overlay")))
        results["chain"].append(time_call(lambda: process("chain")))
        labels = {
            "limit": "bare ffmpeg re-encode (the limit)",
            "overlay": "reelpipe process, overlay only",
            "chain": "reelpipe process, framing + overlay",
        }
    print(
        f"clip: 1920x1080 {truth.fps} fps {args.seconds:g} s, {truth.frames} frames, "
        f"{os.cpu_count()} cores, best and median of {args.runs} interleaved runs"
    )
    print(HEADER)
    for key, label in labels.items():
        print(row(label, results[key], truth.frames, results["limit"]))


if __name__ == "__main__":
    main()
