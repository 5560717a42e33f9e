"""One pass over a clip: decode, scale, detect in batches every ``stride`` frames, track.

The clip is decoded once: a detector with a background model to prime (the motion
backend) is primed from the pass's own first frames
(:mod:`pipeline.detect.background_window`), which are detected after it. The
decode, and the detector's small copy of each frame it detects, run on a thread
of their own a few frames ahead (:class:`DecodeAhead`): PyAV and libswscale let go
of the interpreter while they work, so they share the cores with the detector.

Example::

    found = detect_frames(path, info, MotionDetector(), stride=2)
    doc = assemble(found, ...)
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from av.video.reformatter import VideoReformatter

from pipeline.core.usage import adopting_threads, sample_threads
from pipeline.detect.appearance import describe
from pipeline.detect.background_window import BackgroundWindow, WindowConfig
from pipeline.detect.camera_motion import CameraSteps
from pipeline.detect.contract import PLAYER, Detector, FrameDetections
from pipeline.detect.shots import ShotCuts
from pipeline.detect.tracking import Tracker, TrackerConfig
from pipeline.media.codec import even
from pipeline.media.frames import FrameReader, YuvFrame
from pipeline.media.probe import VideoInfo

ProgressFn = Callable[[float], None]
TrackerFactory = Callable[[float], Tracker | None]


@runtime_checkable
class Primed(Protocol):
    """A detector whose background model starts from several frames of the clip (the
    motion backend): the pass primes it from its first ones."""

    prime_window: WindowConfig

    def prime(self, samples: list[np.ndarray]) -> None:
        """Start the background from ``samples`` (RGB at the detector's width)."""


class FrameWatcher(Protocol):
    """Something more that a detect pass's decode feeds (the looks of clicked players:
    :class:`pipeline.follow.look_in_pass.LooksInPass`)."""

    def see(
        self,
        frame: YuvFrame,
        rgb: np.ndarray | None,
        found: dict[int, FrameDetections],
        cuts: list[int],
    ) -> None:
        """The pass's next frame (``rgb``: the detector's copy, when it detects on it),
        with what was found and the cuts so far."""

    def finish(self, found: dict[int, FrameDetections], cuts: list[int]) -> None:
        """The pass is over."""


def tracking(config: TrackerConfig | None = None) -> TrackerFactory:
    """Our tracker (:mod:`pipeline.detect.tracking`: numpy and scipy, any backend) at the
    detection rate."""

    def build(detection_rate: float) -> Tracker | None:
        return Tracker(detection_rate, config)

    return build


def no_tracking(detection_rate: float) -> Tracker | None:
    """Boxes stay untracked (single-frame requests)."""
    return None


def scaled_rgb(
    frame: YuvFrame, width: int, reformatter: VideoReformatter | None = None
) -> np.ndarray:
    """The frame as RGB, ``width`` pixels wide (aspect kept, never enlarged).

    A pass over many frames hands in one ``reformatter`` of its own: it keeps the
    scaler it built for the first frame, where ``VideoFrame.reformat`` builds one per
    call (its filter tables cost twice the scaling itself on a small frame). The
    pixels are the same either way."""
    src_w, src_h = frame.av_frame.width, frame.av_frame.height
    width = min(width, src_w)
    height = even(round(src_h * width / src_w))
    scaler = reformatter if reformatter is not None else VideoReformatter()
    converted = scaler.reformat(frame.av_frame, width=width, height=height, format="rgb24")
    rgb: np.ndarray = converted.to_ndarray()
    return rgb


def detect_frames(
    path: Path,
    info: VideoInfo,
    detector: Detector,
    *,
    stride: int = 1,
    batch_size: int = 8,
    start: int = 0,
    end: int | None = None,
    tracker: TrackerFactory = no_tracking,
    progress: ProgressFn = lambda fraction: None,
    shots: ShotCuts | None = None,
    looks: FrameWatcher | None = None,
) -> dict[int, FrameDetections]:
    """Detections on frames ``start, start + stride, ...`` (and the last) of ``[start, end)``,
    in source pixels, with track ids on the players when a tracker is given and each
    box's colours (:mod:`pipeline.detect.appearance`); every
    frame of the range is shown to ``shots`` (the cuts, found in the same decode), then
    to ``looks`` (the clicked players followed by their look in the same decode). A
    detector with a background to prime (:class:`Primed`) is primed from the pass's
    first frames, as many as its ``prime_window`` says."""
    end = info.frame_count if end is None else end
    found: dict[int, FrameDetections] = {}
    track = tracker(float(info.fps) / stride)
    camera = CameraSteps()  # for detectors that do not measure the camera's motion
    pending: list[tuple[int, np.ndarray]] = []
    total = max(1, end - start)
    shape = (even(info.display_height), even(info.display_width))

    def detect(batch: list[tuple[int, np.ndarray]]) -> None:
        results = detector.detect([image for _, image in batch])
        for (index, image), det in zip(batch, results, strict=True):
            det.appearance = describe(image, det.xyxy)
            if track is not None and det.camera is None:
                det.camera = camera(image)
            det = det.scaled(shape[1] / image.shape[1])
            if track is not None:
                players = det.classes == PLAYER
                ids = np.full(len(det.scores), -1, dtype=np.int64)
                ids[players] = track.update(det.of_class(PLAYER), shape)
                det.track_ids = ids
            found[index] = det

    def flush() -> None:
        for first in range(0, len(pending), batch_size):
            detect(pending[first : first + batch_size])
        pending.clear()

    window, last = None, end
    if isinstance(detector, Primed):
        last = detector.prime_window.last((start, end), float(info.fps), info.frame_count)
        window = BackgroundWindow(detector.prime, (start, last), detector.prime_window)
    scaler = VideoReformatter()  # used on the decode's thread alone

    def small_copy(frame: YuvFrame) -> np.ndarray | None:
        """The detector's copy of a frame it detects, or may hold for its window."""
        on_stride = (frame.index - start) % stride == 0
        if frame.index < start or not (on_stride or frame.index == end - 1):
            return None
        return scaled_rgb(frame, detector.input_width, scaler)

    with FrameReader(path, info, writable=False) as reader:  # frames only read here
        # A constant-rate clip seeks to ``start``; any other is decoded from the top.
        seek = start > 0 and info.constant_rate
        frames = reader.frames(start=start, end=last) if seek else reader.frames()
        with DecodeAhead(frames, (last, info.frame_count), small_copy) as ahead:
            for frame, copied in ahead:
                if frame.index < start:
                    continue
                in_range = frame.index < end
                if shots is not None and in_range:
                    shots.add(frame)
                cuts = [] if shots is None else shots.cuts
                on_stride = (frame.index - start) % stride == 0
                detected = in_range and (on_stride or frame.index == end - 1)
                held = window is not None and window.open and (on_stride or detected)
                small = copied if detected or held else None
                if window is not None and window.open:
                    if held:
                        assert small is not None
                        window.hold(frame.index, small, detect=detected)
                    if window.full(frame.index):
                        pending.extend(window.close())
                elif detected:
                    assert small is not None
                    pending.append((frame.index, small))
                if len(pending) >= batch_size:
                    flush()
                if looks is not None and in_range:
                    looks.see(frame, small if detected else None, found, cuts)
                if in_range:
                    progress(min(1.0, (frame.index - start + 1) / total))
        if window is not None and window.open:  # the clip ended before the window did
            pending.extend(window.close())
        flush()
    if looks is not None:
        looks.finish(found, [] if shots is None else shots.cuts)
    return found


def _read_to_the_end(frames: Iterator[YuvFrame]) -> None:
    """The clip holds more frames than it declares: read on, so that one holding far more
    (a forged duration hiding a long stream) is stopped by the reader's frame budget as
    InvalidMedia, and one a few frames long (an honest variable rate) just ends."""
    for _ in frames:
        pass


Copied = Callable[[YuvFrame], np.ndarray | None]
Decoded = tuple[YuvFrame, np.ndarray | None]


class DecodeAhead:
    """A pass's frames, with the detector's copy of each it needs, decoded on a thread of
    its own up to ``DEPTH`` frames ahead of the pass.

    ``frames`` is read on that thread alone, up to the frame before ``last``; a clip
    that holds more frames than its ``frame_count`` is read to its end there (see
    :func:`_read_to_the_end`). An error of the decode is raised to the pass at the frame
    it stopped at; a pass that stops early (its own error) stops the decode on leaving
    the ``with`` block, before the reader is closed. The thread's CPU is the job's.

    Example::

        with DecodeAhead(reader.frames(), (last, info.frame_count), copy) as ahead:
            for frame, small in ahead:
                ...
    """

    # Decoded frames waiting at most: a detector's batch (8), so the decode goes on while
    # a batch is detected; 8 pictures held (25 MB at 1080p, 100 MB at 4K).
    DEPTH = 8

    def __init__(self, frames: Iterator[YuvFrame], bounds: tuple[int, int], copied: Copied):
        self._frames, (self._last, self._frame_count), self._copied = frames, bounds, copied
        # A frame, the decode's error, or None: the decode is over (after its error).
        self._queue: queue.Queue[Decoded | BaseException | None] = queue.Queue(self.DEPTH)
        self._stop = threading.Event()
        self._ended = False
        context = contextvars.copy_context()  # the job's meter, for its clock reads
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name="decode-ahead", daemon=True
        )
        with adopting_threads():  # its CPU is the job's
            self._thread.start()

    def __iter__(self) -> Iterator[Decoded]:
        while not self._ended:
            item = self._queue.get()
            if item is None:
                self._ended = True
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item

    def _run(self) -> None:
        try:
            for frame in self._frames:
                if self._stop.is_set():
                    return
                if frame.index >= self._last:
                    if frame.index >= self._frame_count:
                        _read_to_the_end(self._frames)
                    return
                self._queue.put((frame, self._copied(frame)))
        except BaseException as exc:  # noqa: BLE001 - handed to the pass, raised there
            self._queue.put(exc)
        finally:
            sample_threads()  # the thread ends here: its CPU is read before it goes
            self._queue.put(None)

    def close(self) -> None:
        """Stop the decode (the frames it has made are dropped) and wait for its thread."""
        self._stop.set()
        while not self._ended:
            if self._queue.get() is None:
                self._ended = True
        self._thread.join()

    def __enter__(self) -> DecodeAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
