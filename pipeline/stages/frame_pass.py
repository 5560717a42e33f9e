"""One decode -> steps -> encode pass over a clip's frames, shared by the frame stages.

Overlay and upscale are *steps*: each takes yuv420p frames and hands frames
on (the overlay draws on them in place; the upscaler buffers a batch and
returns bigger ones). A stage run on its own is one step between a decoder and
an encoder; stages fused into one call (see :mod:`pipeline.stages.fused`) are
several steps between one decoder and one encoder. Either way the same step
code draws the same pixels.

The pass keeps each stage's own busy time (its step, plus the decode for the
stage that heads the pass and the encode for the one that ends it), so a fused
pass still reports per-stage timings.

Example::

    clock = PassClock()
    frames = run_pass(reader.frames(on_audio=writer.mux_audio), [step], writer,
                      total=info.frame_count, progress=ctx.progress, clock=clock,
                      head=StageName.OVERLAY)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

from pipeline.manifests.job import StageName
from pipeline.media.encoders import X264
from pipeline.media.frames import FrameWriter, YuvFrame, check_within_budget
from pipeline.stages.base import ProgressFn


def pass_backend(encoder: str) -> str:
    """The status's ``backend`` of a pass that encodes with ``encoder``."""
    return "pyav-x264" if encoder == X264 else f"pyav-{encoder.removeprefix('h264_')}"


@dataclass(frozen=True)
class Geometry:
    """The frames flowing between two steps: size and rate."""

    width: int
    height: int
    fps: Fraction
    time_base: Fraction


class FrameStep(Protocol):
    """One stage's work on frames inside a pass."""

    stage: StageName

    @property
    def backend(self) -> str:
        """What does the work, for the status's ``backend``."""
        ...

    def details(self, first: int, frames: int, fps: float) -> dict[str, object]:
        """What it decided over frames ``[first, first + frames)``, for the status."""
        ...

    def output_geometry(self, incoming: Geometry) -> Geometry:
        """The frames it hands on, given what it receives."""
        ...

    def feed(self, frame: YuvFrame) -> Sequence[YuvFrame]:
        """Take one frame; return the frames ready to go on (none while batching)."""
        ...

    def flush(self) -> Sequence[YuvFrame]:
        """The frames still held, at the end of the clip."""
        ...


@dataclass
class PassClock:
    """Seconds of work per stage inside a pass."""

    busy: dict[StageName, float] = field(default_factory=dict)

    def add(self, stage: StageName, seconds: float) -> None:
        """Count ``seconds`` of ``stage``'s work."""
        self.busy[stage] = self.busy.get(stage, 0.0) + seconds

    def of(self, stage: StageName) -> float:
        """``stage``'s seconds so far."""
        return self.busy.get(stage, 0.0)


def _timed(frames: Iterable[YuvFrame], clock: PassClock, stage: StageName) -> Iterator[YuvFrame]:
    """``frames``, the time spent producing each counted to ``stage`` (the decoder's)."""
    iterator = iter(frames)
    while True:
        began = time.perf_counter()
        try:
            frame = next(iterator)
        except StopIteration:
            clock.add(stage, time.perf_counter() - began)
            return
        clock.add(stage, time.perf_counter() - began)
        yield frame


def run_pass(
    frames: Iterable[YuvFrame],
    steps: Sequence[FrameStep],
    writer: FrameWriter,
    *,
    total: int,
    progress: ProgressFn,
    clock: PassClock,
    head: StageName,
    first_index: int = 0,
) -> int:
    """Feed ``frames`` through ``steps`` into ``writer``; returns the frames written.

    ``head`` is the stage the decode counts for; the encode counts for the last
    step's stage (or ``head`` without steps). ``progress`` hears the fraction of
    the ``total`` input frames consumed, counted from ``first_index``.
    """
    tail = steps[-1].stage if steps else head
    total = max(1, total)

    def push(batch: Sequence[YuvFrame], start: int) -> None:
        for position in range(start, len(steps)):
            step = steps[position]
            began = time.perf_counter()
            batch = [out for frame in batch for out in step.feed(frame)]
            clock.add(step.stage, time.perf_counter() - began)
            if not batch:
                return
        began = time.perf_counter()
        for frame in batch:
            writer.write(frame)
        clock.add(tail, time.perf_counter() - began)

    for frame in _timed(frames, clock, head):
        push([frame], 0)
        check_within_budget(frame.index - first_index + 1, total)
        progress(min(1.0, (frame.index - first_index + 1) / total))
    for position, step in enumerate(steps):
        began = time.perf_counter()
        held = list(step.flush())
        clock.add(step.stage, time.perf_counter() - began)
        if held:
            push(held, position + 1)
    return writer.frames_written
