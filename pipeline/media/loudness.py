"""How loud a stretch of a clip is (EBU R128), and the filter that brings it to a target.

Two-pass loudness normalisation, as broadcast tools do it: the first pass
measures a piece (ffmpeg's ``loudnorm`` in analysis mode: integrated loudness,
true peak, loudness range, the gating threshold); the second applies one gain
to the whole piece from those figures (``linear=true``), so the piece's own
dynamics are kept and a quiet clip and a loud one come out alike. Where one
gain would push the true peak over the limit, ``loudnorm`` limits the peaks
itself. A silent piece is left as it is (there is nothing to measure).

Example::

    level = measure(clip, start_s=2.0, end_s=6.0)      # Loudness(integrated=-31.2, ...)
    graph = normalise_filter(level, LoudnessTarget())  # "loudnorm=I=-14:TP=-1:..."
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import EncoderCrashed
from pipeline.media.ffmpeg_run import ffmpeg_command
from pipeline.media.untrusted_input import ffmpeg_input

MEASURE_TIMEOUT_S = 300.0
SILENT_LUFS = -70.0  # EBU R128's absolute gate: below it nothing counts as programme
RATE = 48_000  # every piece of a reel is mixed at this rate
_REPORT = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}", re.S)


@dataclass(frozen=True)
class LoudnessTarget:
    """Where loudness is brought: integrated LUFS, the true peak's ceiling (dBTP), and the
    loudness range allowed (LU)."""

    integrated: float = -14.0
    true_peak: float = -1.0
    loudness_range: float = 11.0


@dataclass(frozen=True)
class Loudness:
    """A piece's measured loudness (the first pass)."""

    integrated: float  # LUFS; -inf for silence
    true_peak: float  # dBTP
    loudness_range: float  # LU
    threshold: float  # the relative gate, LUFS
    offset: float  # the gain loudnorm proposes after the target, dB

    @property
    def silent(self) -> bool:
        return not math.isfinite(self.integrated) or self.integrated <= SILENT_LUFS


def measure(
    path: Path,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    target: LoudnessTarget = LoudnessTarget(),
    timeout_s: float = MEASURE_TIMEOUT_S,
) -> Loudness:
    """The loudness of ``path``'s first audio track over ``[start_s, end_s)``."""
    span = f"atrim=start={start_s:.6f}" + (f":end={end_s:.6f}" if end_s is not None else "")
    analysis = f"{span},asetpts=PTS-STARTPTS,{_loudnorm(target)}:print_format=json"
    # The report is printed at the info level: the command's own quiet level is lifted.
    args = ["-loglevel", "info", "-nostats", *ffmpeg_input(path), "-map", "0:a:0"]
    args += ["-af", analysis, "-f", "null", "-"]
    try:
        done = subprocess.run(
            ffmpeg_command(args), capture_output=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise EncoderCrashed(f"measuring loudness took over {timeout_s:.0f} s") from exc
    stderr = done.stderr.decode(errors="replace")
    report = _REPORT.search(stderr)
    if done.returncode != 0 or report is None:
        raise EncoderCrashed("loudness could not be measured (ffmpeg gave no report)")
    return parse_report(report.group(0))


def parse_report(text: str) -> Loudness:
    """The figures of ``loudnorm``'s JSON report (``-inf`` where a silence has none)."""
    values = json.loads(text)

    def number(key: str) -> float:
        return float(values[key])  # float() reads "-inf" and "inf"

    return Loudness(
        integrated=number("input_i"),
        true_peak=number("input_tp"),
        loudness_range=number("input_lra"),
        threshold=number("input_thresh"),
        offset=number("target_offset"),
    )


def normalise_filter(level: Loudness, target: LoudnessTarget) -> str:
    """The second pass's filter for a piece measured at ``level`` (``anull`` for silence),
    resampled back to :data:`RATE` (``loudnorm`` works at 192 kHz)."""
    if level.silent:
        return "anull"
    measured = (
        f"measured_I={level.integrated:.2f}:measured_TP={level.true_peak:.2f}"
        f":measured_LRA={level.loudness_range:.2f}:measured_thresh={level.threshold:.2f}"
        f":offset={level.offset:.2f}"
    )
    return f"{_loudnorm(target)}:{measured}:linear=true,aresample={RATE}"


def _loudnorm(target: LoudnessTarget) -> str:
    return f"loudnorm=I={target.integrated:g}:TP={target.true_peak:g}:LRA={target.loudness_range:g}"
