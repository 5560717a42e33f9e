"""Stage cache keys: a stage is a deterministic function of (stage version,
input ETag, params, encode profile, the ETags of the side inputs it reads such
as detections), so equal keys mean its outputs can be reused.

A resumed or reprocessed job skips every stage whose recorded key is unchanged
and whose outputs are still in the bucket; a reel's assembly likewise
(:func:`assembly_cache_key`: the reel block, its clips' outputs, the encode).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.core.settings import EncodeProfile
from pipeline.stages.base import AnyStageRequest


def stage_cache_key(
    request: AnyStageRequest,
    version: str,
    input_etag: str,
    profile: EncodeProfile,
    side_etags: dict[str, str] | None = None,
    video_encoder: str = "auto",
) -> str:
    """The cache key of running ``request`` on the input with ``input_etag``, encoding
    with the ``video_encoder`` setting."""
    material = {
        "stage": request.stage.value,
        "version": version,
        "input_etag": input_etag.strip('"'),
        "params": request.params.model_dump(mode="json"),
        "final": request.final,
        "profile": profile.model_dump(mode="json"),
        "encoder": video_encoder,
    }
    if side_etags:
        material["side_inputs"] = {k: v.strip('"') for k, v in sorted(side_etags.items())}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]


def assembly_cache_key(
    reel: Mapping[str, Any], clip_etags: Sequence[str], profile: EncodeProfile, version: str
) -> str:
    """The cache key of assembling the reel block ``reel`` from clips' outputs with
    ``clip_etags`` (in the reel's order), encoding with ``profile``, by pipeline
    ``version``."""
    material = {
        "step": "assembly",
        "version": version,
        "reel": dict(reel),
        "clips": [etag.strip('"') for etag in clip_etags],
        "profile": profile.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]
