"""A clip's moments, found by themselves: when the crowd, the whistle or the play says so.

Three signals, on a grid of ``HOP_S`` steps over the clip:

- **loudness rise**: the sound's short-term level (RMS, dB) above its own
  median over the clip: a crowd roaring, a commentator's voice rising;
- **onsets**: the spectral flux (how much new energy each step brings, summed
  over frequencies): a whistle, a kick, a shout;
- **motion**: the mean change of the picture from one frame to the next (on a
  small grey copy), with the jumps at hard cuts taken out: a break, a shot.

Each signal is scaled by its own spread over the clip (a robust z-score), and
the score is their weighted sum, smoothed over about a second. A moment is
placed round each peak of the score, more of it before the peak than after
(the play comes before the roar), never across a cut (the shots are found in
the same decode, :mod:`pipeline.detect.shots`), and moments never overlap.
Each says which signals made it (``reasons``).

Example::

    found = find_moments(clip, probe(clip), MomentOptions(moment_s=6.0))
    [(m.start_s, m.end_s, m.score, m.reasons) for m in found]   # best first
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from pipeline.core.errors import InvalidMedia
from pipeline.detect.shots import ShotCuts
from pipeline.media.frames import FrameReader
from pipeline.media.probe import VideoInfo
from pipeline.media.untrusted_input import pyav_open_args

HOP_S = 0.1  # the signals' step
AUDIO_RATE = 16_000  # the sound is analysed mono at this rate
WINDOW = 1024  # samples of one spectrum (64 ms at 16 kHz)
MOTION_STEP = 8  # every 8th pixel of the luma plane
WEIGHTS = {"loudness rise": 0.45, "onsets": 0.3, "motion": 0.25}
SMOOTH_S = 0.5  # the score's Gaussian (sigma)
BEFORE = 0.65  # of a moment, the share before its peak
REASON_Z = 1.0  # a signal this many spreads above its median is named as a reason


@dataclass(frozen=True)
class MomentOptions:
    """How long a moment lasts and how many are wanted."""

    moment_s: float = 6.0
    max_moments: int = 10


@dataclass(frozen=True)
class FoundMoment:
    """``[start_s, end_s)`` of the clip, its score (in spreads above the clip's usual) and
    the signals that made it."""

    start_s: float
    end_s: float
    score: float
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "score": round(self.score, 3),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class ClipSignals:
    """The signals of one clip on the ``HOP_S`` grid, and its shots' start times."""

    signals: dict[str, np.ndarray]
    cut_times: tuple[float, ...]
    duration_s: float

    @property
    def steps(self) -> int:
        return max(len(s) for s in self.signals.values())


def find_moments(path: Path, info: VideoInfo, options: MomentOptions) -> list[FoundMoment]:
    """The clip's best moments, best first (see the module docstring)."""
    return rank(clip_signals(path, info), options)


def clip_signals(path: Path, info: VideoInfo) -> ClipSignals:
    """Motion and shots from one decode of the video; loudness and onsets from the sound."""
    motion, cuts = _motion_and_cuts(path, info)
    steps = max(1, int(np.ceil(info.duration_s / HOP_S)))
    signals = {"motion": _on_grid(motion, float(info.fps), steps)}
    if info.has_audio:
        level, flux = _sound(path, steps)
        signals |= {"loudness rise": level, "onsets": flux}
    cut_times = tuple(c / float(info.fps) for c in cuts)
    return ClipSignals(signals, cut_times, info.duration_s)


def rank(clip: ClipSignals, options: MomentOptions) -> list[FoundMoment]:
    """Moments round the peaks of the clip's score, best first, none across a cut and
    none overlapping another."""
    steps = clip.steps
    scaled = {name: _robust_z(_padded(s, steps)) for name, s in clip.signals.items()}
    weight = sum(WEIGHTS[name] for name in scaled)
    score = sum(WEIGHTS[name] * z for name, z in scaled.items()) / weight
    # scipy loads in about 0.45 s: imported where used, so a job that never needs it does not pay
    from scipy.ndimage import gaussian_filter1d, maximum_filter1d

    score = gaussian_filter1d(score, SMOOTH_S / HOP_S, mode="nearest")
    length = min(options.moment_s, clip.duration_s)
    span = max(1, round(length / HOP_S))
    peaks = np.flatnonzero((score == maximum_filter1d(score, span)) & (score > 0))
    edges = [0.0, *clip.cut_times, clip.duration_s]
    taken: list[FoundMoment] = []
    for step in sorted(peaks, key=lambda s: -score[s]):
        at = (step + 0.5) * HOP_S
        moment = _placed(at, length, edges)
        if moment is None or any(_overlap(moment, t) for t in taken):
            continue
        reasons = tuple(name for name, z in scaled.items() if z[step] >= REASON_Z)
        taken.append(FoundMoment(moment[0], moment[1], float(score[step]), reasons))
        if len(taken) == options.max_moments:
            break
    return taken


def fit_within(found: list[FoundMoment], budget_s: float | None) -> list[FoundMoment]:
    """The best of ``found`` that fit in ``budget_s`` together (all when None), in the
    clip's order."""
    kept, total = [], 0.0
    for moment in found:
        length = moment.end_s - moment.start_s
        if budget_s is not None and total + length > budget_s + 1e-9:
            continue
        kept.append(moment)
        total += length
    return sorted(kept, key=lambda m: m.start_s)


def _placed(at: float, length: float, edges: list[float]) -> tuple[float, float] | None:
    """``length`` seconds round ``at`` (more before it), moved to stay inside its shot;
    None when the shot is shorter than half of it."""
    shot_start = max(e for e in edges if e <= at)
    shot_end = min(e for e in edges if e > at) if any(e > at for e in edges) else edges[-1]
    if shot_end - shot_start < length / 2:
        return None
    length = min(length, shot_end - shot_start)
    start = float(min(max(at - BEFORE * length, shot_start), shot_end - length))
    return start, start + float(length)


def _overlap(a: tuple[float, float], b: FoundMoment) -> bool:
    return a[0] < b.end_s and b.start_s < a[1]


def _robust_z(values: np.ndarray) -> np.ndarray:
    """``values`` less their median, over their spread (the median absolute deviation)."""
    median = float(np.median(values))
    spread = float(np.median(np.abs(values - median))) * 1.4826
    if spread <= 1e-9:
        spread = float(np.std(values)) or 1.0
    z: np.ndarray = np.clip((values - median) / spread, -5.0, 10.0)
    return z


def _padded(values: np.ndarray, steps: int) -> np.ndarray:
    out = np.zeros(steps)
    out[: min(steps, len(values))] = values[:steps]
    return out


def _on_grid(per_frame: np.ndarray, fps: float, steps: int) -> np.ndarray:
    """A per-frame signal's mean over each ``HOP_S`` step."""
    if not len(per_frame):
        return np.zeros(steps)
    index = np.minimum((np.arange(len(per_frame)) / fps / HOP_S).astype(int), steps - 1)
    sums = np.bincount(index, weights=per_frame, minlength=steps)
    counts = np.bincount(index, minlength=steps)
    grid: np.ndarray = sums / np.maximum(counts, 1)
    return grid


def _motion_and_cuts(path: Path, info: VideoInfo) -> tuple[np.ndarray, list[int]]:
    """Per frame, the mean change of a small grey copy from the frame before (0 at a cut
    and at the first frame); and the cuts."""
    shots = ShotCuts(float(info.fps))
    changes: list[float] = []
    previous: np.ndarray | None = None
    with FrameReader(path, info) as reader:
        for frame in reader.frames():
            shots.add(frame)
            grey = frame.y[::MOTION_STEP, ::MOTION_STEP].astype(np.int16)
            if previous is not None and previous.shape == grey.shape:
                changes.append(float(np.abs(grey - previous).mean()))
            else:
                changes.append(0.0)
            previous = grey
    motion = np.asarray(changes)
    for cut in shots.cuts:
        if cut < len(motion):
            motion[cut] = motion[cut - 1] if cut > 0 else 0.0  # a cut is not motion
    return motion, shots.cuts


def _sound(path: Path, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The sound's level (dB) and spectral flux on the grid."""
    samples = _mono(path)
    hop = round(HOP_S * AUDIO_RATE)
    level, flux = np.zeros(steps), np.zeros(steps)
    if len(samples) < WINDOW:
        return level, flux
    window = np.hanning(WINDOW)
    previous = None
    for step in range(steps):
        chunk = samples[step * hop : step * hop + hop]
        if not len(chunk):
            break
        level[step] = 10 * np.log10(float(np.mean(chunk**2)) + 1e-10)
        frame = samples[step * hop : step * hop + WINDOW]
        if len(frame) < WINDOW:
            frame = np.pad(frame, (0, WINDOW - len(frame)))
        spectrum = np.log1p(np.abs(np.fft.rfft(frame * window)))
        if previous is not None:
            flux[step] = float(np.maximum(spectrum - previous, 0).sum())
        previous = spectrum
    return level, flux


def _mono(path: Path) -> np.ndarray:
    """The first audio track, mono float at ``AUDIO_RATE``."""
    target, options = pyav_open_args(path)
    try:
        with av.open(target, container_options=options) as container:
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
            parts = []
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.InvalidDataError:
                    continue  # a damaged packet: its few milliseconds are left out
                for frame in frames:
                    for out in resampler.resample(frame):
                        parts.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
    except (av.FFmpegError, IndexError) as exc:
        raise InvalidMedia("the clip's sound could not be read") from exc
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)
