"""Where a click's follow by look starts: the template box on the clicked player.

The box under (or near) the click gives the player's height; the template is
that tall, centred on the click, and at most ``SEED_ASPECT`` of its height wide
(the box under the click may hold others too: two players merged into one blob).
The detect stage seeds it from its detections, after its pass or during it
(:mod:`pipeline.follow.look_in_pass`); both take it from here.

Example::

    seed = look_seed(doc, Click(frame=118, x=433, y=120))   # None: no player there
"""

from __future__ import annotations

from pipeline.core.boxes import Box
from pipeline.core.errors import StageParamsInvalid
from pipeline.follow.look import LookSeed
from pipeline.follow.pick import player_at
from pipeline.manifests.detections import Detections
from pipeline.manifests.job import Click

SEED_ASPECT = 0.45  # the template: the picked box's height, at most this much as wide


def look_seed(doc: Detections, click: Click) -> LookSeed | None:
    """The seed of ``click``'s follow by look in ``doc``'s detections, through the shot
    of the frame picked (None: no player there; the stage that uses the click says so)."""
    try:
        hit = player_at(doc, click.frame, click.x, click.y)
    except StageParamsInvalid:
        return None
    frame, height = hit.frame, hit.box.h
    width = min(hit.box.w, SEED_ASPECT * height)
    box = Box(click.x - width / 2, click.y - height / 2, width, height)
    return LookSeed(frame, box, doc.shot_of(frame))
