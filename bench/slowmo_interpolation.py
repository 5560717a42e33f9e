"""Slow-motion interpolation modes side by side, on one clip with a 0.5x section.

(a) ``none``: frames repeated (the cheapest, and what judders),
(b) ``blend``: neighbouring frames blended (ffmpeg ``framerate``),
(c) ``motion``: motion-compensated interpolation (ffmpeg ``minterpolate`` mci),
(d) a bare ffmpeg re-encode of the same clip with the same x264 settings (the limit).

Each mode runs the framing stage through the local runner on the embedded S3,
interleaved, best and median of N; ratios are against ``none`` and against (d).
The peak memory of the stage's ffmpeg is sampled too: the pieces are split and
concatenated in one graph, which must not buffer the clip.
Usage (from the repository root): python -m bench.slowmo_interpolation [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
from pathlib import Path

from bench.measure import Timing, best, median, run, time_call
from pipeline.core.settings import EncodeProfile, Settings
from pipeline.manifests.job import FramingParams, StageName
from pipeline.media.sample import write_sample_clip
from pipeline.runners.local import LocalRunner
from pipeline.stages.base import Call, StageRequest
from pipeline.storage.connection import connect

PROFILE = EncodeProfile(preset="fast", crf=23)


class PeakChildMemory:
    """The largest resident size any ffmpeg child of this process reaches."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = str(os.getpid())
        while not self._stop.wait(0.05):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open(f"/proc/{pid}/status") as fh:
                        fields = dict(line.split(":", 1) for line in fh if ":" in line)
                except OSError:
                    continue
                if fields.get("Name", "").strip() == "ffmpeg" and fields["PPid"].strip() == me:
                    rss = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
                    self.peak = max(self.peak, rss)

    def __enter__(self) -> PeakChildMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reelpipe-bench-"))
    src = work / "game.mp4"
    write_sample_clip(src, width=args.width, height=args.height, duration_s=args.seconds)
    third = args.seconds / 3
    settings = Settings.from_env({}, scratch_dir=work / "scratch", final_encode=PROFILE)
    timings: dict[str, list[Timing]] = {k: [] for k in ("none", "blend", "motion", "limit")}
    peaks: dict[str, int] = {}
    with connect(settings) as conn:
        conn.bucket.upload_file(src, "users/bench/clips/game.mp4")
        runner = LocalRunner(conn.bucket, conn.settings)

        def framing(mode: str) -> None:
            speed = {"start_s": third, "end_s": 2 * third, "factor": 0.5, "interpolate": mode}
            request = StageRequest(
                user_id="bench",
                job_id="0" * 20,
                stage=StageName.FRAMING,
                video_key="users/bench/clips/game.mp4",
                params=FramingParams.model_validate({"speed": [speed]}),
                final=True,
            )
            with PeakChildMemory() as memory:
                runner.run(Call.of(request), lambda f: None)
            peaks[mode] = max(peaks.get(mode, 0), memory.peak)

        def limit() -> None:
            run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c:v", "libx264", "-preset",
                 PROFILE.preset, "-crf", str(PROFILE.crf), "-pix_fmt", "yuv420p", "-c:a", "aac",
                 str(work / "limit.mp4")])  # fmt: skip

        for _ in range(args.runs):
            for mode in ("none", "blend", "motion"):
                timings[mode].append(time_call(lambda mode=mode: framing(mode)))  # type: ignore[misc]
            timings["limit"].append(time_call(limit))
    print(
        f"clip: {args.width}x{args.height} 30 fps {args.seconds:g} s, 0.5x over the middle "
        f"third, x264 {PROFILE.preset} crf {PROFILE.crf}, {os.cpu_count()} cores, "
        f"best and median of {args.runs} interleaved runs"
    )
    print(
        "| mode | best wall s | median wall s | x none (best) | x limit (best) | peak ffmpeg MB |\n"
        "| --- | --- | --- | --- | --- | --- |"
    )
    base, floor = best(timings["none"]).wall_s, best(timings["limit"]).wall_s
    for mode, runs in timings.items():
        b, m = best(runs).wall_s, median(runs).wall_s
        peak = f"{peaks[mode] / 1e6:.0f}" if mode in peaks else "-"
        print(f"| {mode} | {b:.2f} | {m:.2f} | {b / base:.2f}x | {b / floor:.2f}x | {peak} |")


if __name__ == "__main__":
    main()
