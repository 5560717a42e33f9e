"""The job ``reelpipe process`` runs on its own sample clip (a 9:16 reel of the
sample's star player, a slow-motion moment, and a spotlight that follows him), and
the manifest any command falls back to without one (a plain re-encode)."""

from __future__ import annotations

from typing import Any

from pipeline.media.codec import even
from pipeline.media.sample import SampleTruth

REENCODE_MANIFEST: dict[str, Any] = {"schema_version": 1, "stages": {"framing": {}}}


def sample_manifest(truth: SampleTruth, *, player: int = 0) -> dict[str, Any]:
    """A manifest exercising framing (trim, 9:16 crop, slow motion) and overlay."""
    duration = truth.frames / truth.fps
    crop_w = even(round(truth.height * 9 / 16))
    centre = float(truth.boxes[:, player, 0].mean() + truth.boxes[0, player, 2] / 2)
    crop_x = int(min(max(0.0, centre - crop_w / 2), truth.width - crop_w))
    start, end = 1.0, max(2.0, duration - 1.0)
    slow_from = start + (end - start) * 0.4
    return {
        "schema_version": 1,
        "stages": {
            "framing": {
                "trim": {"start_s": start, "end_s": end},
                "crop": {"x": crop_x, "y": 0, "width": crop_w, "height": truth.height},
                "speed": [{"start_s": slow_from, "end_s": slow_from + 1.5, "factor": 0.5}],
            },
            "overlay": {
                "highlight": {"boxes": truth.keyframes(player, every=10)},
                "style": "spotlight",
            },
        },
    }
