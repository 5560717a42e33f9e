"""One decode -> steps -> encode pass over a clip's frames, shared by the frame stages.

Overlay and upscale are *steps*: each takes yuv420p frames and hands frames
on (the overlay draws on them in place; the upscaler buffers a batch and
returns bigger ones). A stage run on its own is one step between a decoder and
an encoder; stages fused into one call (see :mod:`pipeline.stages.fused`) are
several steps between one decoder and one encoder. Either way the same step
code draws the same pixels.

The encoder runs on a thread of its own, a few frames behind: x264 waits for its
frame threads without the GIL, so decoding and drawing the next frames go on
meanwhile instead of waiting with it. The frames reach it in order, unchanged.

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

import contextvars
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

from pipeline.core.usage import adopting_threads
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
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, stage: StageName, seconds: float) -> None:
        """Count ``seconds`` of ``stage``'s work (from the pass's thread or the encoder's)."""
        with self._lock:
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

    encoder = EncodeThread(writer, clock, tail)

    def push(batch: Sequence[YuvFrame], start: int) -> None:
        for position in range(start, len(steps)):
            step = steps[position]
            began = time.perf_counter()
            batch = [out for frame in batch for out in step.feed(frame)]
            clock.add(step.stage, time.perf_counter() - began)
            if not batch:
                return
        encoder.put(batch)

    try:
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
    except BaseException:
        encoder.close(raising=False)  # the pass's own error is the one to report
        raise
    encoder.close()
    return writer.frames_written


class EncodeThread:
    """``writer.write`` on a thread of its own, fed in order through a short queue; its
    seconds count for ``stage``. An error there is raised here, at the next frame."""

    DEPTH = 3  # frames in flight: enough to keep x264 fed, little memory

    def __init__(self, writer: FrameWriter, clock: PassClock, stage: StageName) -> None:
        self.writer, self.clock, self.stage = writer, clock, stage
        self.error: BaseException | None = None
        self._queue: queue.Queue[Sequence[YuvFrame] | None] = queue.Queue(self.DEPTH)
        context = contextvars.copy_context()  # the job's meter, for its clock reads
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name="encoder", daemon=True
        )
        with adopting_threads():  # its CPU is the job's
            self._thread.start()

    def put(self, batch: Sequence[YuvFrame]) -> None:
        """Hand ``batch`` on (waits while the queue is full)."""
        self._raise()
        self._queue.put(batch)

    def close(self, *, raising: bool = True) -> None:
        """Wait for every frame handed on to be written; raise what failed there."""
        self._queue.put(None)
        self._thread.join()
        if raising:
            self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self.error is not None:
                continue  # drained, not written: the pass is failing
            began = time.perf_counter()
            try:
                for frame in batch:
                    self.writer.write(frame)
            except Exception as exc:  # noqa: BLE001 - handed to the pass's thread, raised there
                self.error = exc
            self.clock.add(self.stage, time.perf_counter() - began)
