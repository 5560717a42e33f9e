"""The ``motion`` backend: moving regions and the action centre, no weights needed.

Background subtraction (OpenCV's MOG2) on a small, blurred colour copy of
each frame (colour: a red shirt on green grass is as bright as the grass);
the foreground mask is grown and closed (a person's head, shirt and legs join
into one blob) and split into blobs.
The background model starts from the median of the pass's first few seconds
(:meth:`MotionDetector.prime`, fed by :mod:`pipeline.detect.background_window`
from the pass's own decode), so players are found from the first frame, whole,
and leave no ghosts where they stood; it then adapts slowly (light).
The action centre is the centroid of all moving pixels, so a camera that
follows it follows the play.

A moving camera (a pan, a zoom) would make the whole frame "move". The camera's
own motion is estimated between frames (:mod:`pipeline.detect.camera_motion`)
and each frame is warped back onto the background's view before subtraction;
when the view has drifted far, the background is carried over to the current
view. Each frame's detections carry that motion (``camera``), so the tracker
moves its predictions with the picture. A frame that is mostly foreground and
whose colours changed at once (a hard cut) starts the background again from
that frame; one that is mostly foreground with the same colours (a bus passing
close to the camera) does not.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from pipeline.core.usage import adopting_threads, sample_threads
from pipeline.detect.background_window import WindowConfig
from pipeline.detect.camera_motion import IDENTITY, camera_step, compose, invert, moved
from pipeline.detect.contract import PLAYER, FrameDetections
from pipeline.detect.person_shape import PersonShape, upright_groups
from pipeline.detect.still_hold import HoldConfig, StillHold

MAX_PAN_CHANGE = 3.0  # px a detected frame: a camera speeds up no faster (a passing car can)
REANCHOR = 0.08  # of the width: how far the view may drift before the background follows
RESET = 0.35  # of the frame: more foreground than this, at a cut, starts the background again
CUT_CHANGE = 0.2  # colour change (Bhattacharyya) between frames that marks a cut, not a car


class MotionDetector:
    """Moving blobs as class 0 ("moving"), with the action centre per frame."""

    name = "motion"
    classes: tuple[str, ...] = ("moving",)

    def __init__(
        self,
        input_width: int = 320,
        min_area_fraction: float = 0.0004,
        learning_rate: float = 0.01,
        shape: PersonShape | None = None,
        hold: HoldConfig | None = None,
        prime_window: WindowConfig | None = None,
    ) -> None:
        self.input_width = input_width
        self.prime_window = prime_window or WindowConfig()  # the frames prime() is given
        self.min_area_fraction = min_area_fraction
        self.shape = shape or PersonShape()  # how a person's fragments join into one box
        self._hold = StillHold(hold)  # who stopped moving, found again by his look
        # Unprimed, the first frame initialises the background outright; after it a
        # fixed rate per detected frame (MOG2's automatic rate would report nothing
        # for the first few frames).
        self.learning_rate = learning_rate
        self._frames_seen = 0
        self._subtractor = cv2.createBackgroundSubtractorMOG2(
            history=120, varThreshold=24, detectShadows=True
        )
        self._previous: np.ndarray | None = None  # the last frame, grey, for the camera motion
        self._colours: np.ndarray | None = None  # the last frame's colour histogram
        self._to_background = IDENTITY.copy()  # current frame pixels -> background pixels
        self._last_step = IDENTITY.copy()  # the camera's last motion, frame to frame
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        # Joins a person's parts (head, shirt, legs) into one blob: taller than wide.
        self._join = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 13))

    def prime(self, samples: list[np.ndarray]) -> None:
        """Start the background model from the median of ``samples`` (RGB frames), unless
        the camera moves between them (then each shot starts from its first frame)."""
        if not samples:
            return
        greys = [cv2.cvtColor(s, cv2.COLOR_RGB2GRAY) for s in samples]
        size = (samples[0].shape[1], samples[0].shape[0])
        for a, b in itertools.pairwise(greys):
            step = camera_step(a, b)
            if step is not None and moved(step, size):
                return
        median = np.median(np.stack([self._grey(s) for s in samples]), axis=0).astype(np.uint8)
        for _ in range(3):
            self._subtractor.apply(median, learningRate=1.0)
        self._frames_seen = max(self._frames_seen, 1)

    def detect(self, images: list[np.ndarray]) -> list[FrameDetections]:
        """One result per image, in order (the background model learns as it goes).

        The camera's step from each frame to the next depends on the two frames
        alone, not on the model: it is measured on a thread of its own, a frame or more
        ahead, while this one subtracts the background (OpenCV lets go of the
        interpreter while it works), so the two share the machine's cores."""
        greys = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in images]
        pairs = zip([self._previous, *greys][: len(greys)], greys, strict=True)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="camera-steps") as pool:
            with adopting_threads():  # the pool's thread starts at the first submit
                steps = [pool.submit(_step_between, previous, grey) for previous, grey in pairs]
            try:
                return [
                    self._one(image, grey, step.result())
                    for image, grey, step in zip(images, greys, steps, strict=True)
                ]
            finally:
                for step in steps:
                    step.cancel()
                sample_threads()  # the pool's thread ends with the pool: read its CPU now

    @staticmethod
    def _grey(image: np.ndarray) -> np.ndarray:  # the frame the background model sees
        blurred: np.ndarray = cv2.GaussianBlur(image, (5, 5), 0)
        return blurred

    def _follow_camera(
        self, grey: np.ndarray, frame: np.ndarray, step: np.ndarray | None
    ) -> np.ndarray:
        """``frame`` as the background model sees it: warped onto its view when the
        camera has moved (the background fills what the frame does not cover);
        ``step``: the camera's motion from the last frame to this one, ``grey``."""
        self._previous = grey
        size = (frame.shape[1], frame.shape[0])
        if step is not None and np.abs(step - self._last_step)[:, 2].max() > MAX_PAN_CHANGE:
            step = None  # something large moving through, not the camera
        self._last_step = step if step is not None else IDENTITY.copy()
        if step is not None and moved(step, size):
            self._to_background = compose(invert(step), self._to_background)
        if not moved(self._to_background, size):
            return frame
        background = self._subtractor.getBackgroundImage()
        if background is not None:  # registered on the background itself: no drift adds up
            direct = camera_step(
                grey, cv2.cvtColor(background, cv2.COLOR_RGB2GRAY), guess=self._to_background
            )
            near = direct is not None and (
                np.abs(direct - self._to_background)[:, 2].max() <= MAX_PAN_CHANGE
            )
            if direct is not None and near:
                self._to_background = direct
        drift = np.abs(self._to_background[:, 2]).max()
        if drift > REANCHOR * size[0] and background is not None:
            carried = frame.copy()  # the background, carried over to the current view
            cv2.warpAffine(
                background,
                invert(self._to_background),
                size,
                dst=carried,
                borderMode=cv2.BORDER_TRANSPARENT,
            )
            for _ in range(3):
                self._subtractor.apply(carried, learningRate=1.0)
            self._to_background = IDENTITY.copy()
            return frame
        view = background.copy() if background is not None else frame.copy()
        cv2.warpAffine(
            frame, self._to_background, size, dst=view, borderMode=cv2.BORDER_TRANSPARENT
        )
        return view

    def _restart(self, frame: np.ndarray) -> None:
        """Start the background again from ``frame`` (a new shot)."""
        self._subtractor.apply(frame, learningRate=1.0)
        self._to_background = IDENTITY.copy()

    def _one(self, image: np.ndarray, grey: np.ndarray, step: np.ndarray | None) -> FrameDetections:
        frame = self._grey(image)
        view = self._follow_camera(grey, frame, step)
        rate = 1.0 if self._frames_seen == 0 else self.learning_rate
        self._frames_seen += 1
        mask = self._subtractor.apply(view, learningRate=rate)
        mask = np.where(mask == 255, 255, 0).astype(np.uint8)  # 127 marks shadows
        colours = cv2.calcHist([image], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3)
        colours = cv2.normalize(colours, colours).flatten()
        previous, self._colours = self._colours, colours
        if np.count_nonzero(mask) > RESET * mask.size:
            change = (
                1.0
                if previous is None
                else cv2.compareHist(previous, colours, cv2.HISTCMP_BHATTACHARYYA)
            )
            if change > CUT_CHANGE:
                self._restart(frame)
                self._hold.clear()
                cut = FrameDetections.empty()
                cut.camera = IDENTITY.copy()  # another view: no camera motion to carry over
                return cut
        mask = cv2.dilate(mask, self._kernel, iterations=2)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._join)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        min_area = self.min_area_fraction * mask.size
        blobs = stats[1:count][stats[1:count, 4] >= min_area]
        fragments = np.column_stack([blobs[:, :2], blobs[:, :2] + blobs[:, 2:4]])
        grouped, pixels, parts = upright_groups(
            fragments, blobs[:, 4], (mask.shape[1], mask.shape[0]), self.shape
        )
        boxes = grouped.tolist()
        scores = _scores(grouped, pixels, parts).tolist()
        ys, xs = np.nonzero(mask)
        action = (float(xs.mean()), float(ys.mean())) if len(xs) >= min_area else None
        xyxy = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if moved(self._to_background, (mask.shape[1], mask.shape[0])):
            xyxy, action = _to_frame(xyxy, action, invert(self._to_background))
        assert self._previous is not None  # this frame, grey (set by _follow_camera)
        xyxy, held_scores = self._hold.update(
            self._previous, xyxy, np.asarray(scores, np.float64), self._last_step
        )
        return FrameDetections(
            xyxy,
            np.full(len(xyxy), PLAYER, np.int64),
            held_scores,
            action,
            camera=self._last_step.copy(),  # measured anyway: the tracker compensates it
        )


def _step_between(previous: np.ndarray | None, grey: np.ndarray) -> np.ndarray | None:
    """The camera's step from ``previous`` to ``grey`` (None: none found, or no frame
    before: the first frame has no motion to measure)."""
    return None if previous is None else camera_step(previous, grey)


def _scores(boxes: np.ndarray, pixels: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """How much of each box moved; a box whose fragments stack into a person's shape counts
    more than its fill alone (the shape is evidence too), up to 0.9."""
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1.0)
    fill = np.minimum(1.0, pixels / area)
    grouped = np.minimum(0.9, fill + 0.2 * (parts - 1))
    result: np.ndarray = np.where(parts > 1, np.maximum(fill, grouped), fill)
    return result


def _to_frame(
    xyxy: np.ndarray, action: tuple[float, float] | None, transform: np.ndarray
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Boxes (the bounds of their moved corners) and the action centre under ``transform``."""
    corners = np.stack(
        [xyxy[:, [0, 1]], xyxy[:, [2, 1]], xyxy[:, [0, 3]], xyxy[:, [2, 3]]], axis=1
    )  # (N, 4, 2)
    moved_corners = corners @ transform[:, :2].T + transform[:, 2]
    boxes = np.concatenate([moved_corners.min(axis=1), moved_corners.max(axis=1)], axis=1)
    if action is not None:
        ax, ay = np.array(action) @ transform[:, :2].T + transform[:, 2]
        action = (float(ax), float(ay))
    return boxes.reshape(-1, 4), action
