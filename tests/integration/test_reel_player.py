"""A player's reel: his moments kept with why; the tracks of another clip of the game that
look like him offered (his team's shirt over the other's), and a confirmed offer followed.
Generated games (two teams, red and blue) detected by the classical detector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.client.app_client import ReelpipeClient
from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.settings import Settings
from pipeline.detect.appearance import similarity
from pipeline.jobs.compose import local_worker
from pipeline.jobs.reel_cut import detections_of
from pipeline.jobs.reel_player import player_look, track_looks
from pipeline.jobs.scan import Scanner
from pipeline.manifests.job import Highlight
from pipeline.manifests.reel import ReelStatus
from pipeline.manifests.status import JobState
from pipeline.media.otio_edit import read
from pipeline.media.sample import PLAYERS_PER_TEAM, SampleTruth, write_sample_clip
from pipeline.storage.bucket import Bucket

USER = "fan"
STAR = 0  # the sample's star, a red player near the middle


def _game(tmp_path: Path, name: str, seed: int) -> tuple[Path, SampleTruth]:
    path = tmp_path / name
    truth = write_sample_clip(path, width=640, height=360, duration_s=3.0, seed=seed)
    return path, truth


def _player_at(truth: SampleTruth, frame: int, box: tuple[float, ...] | list[float]) -> int:
    """The drawn player nearest the centre of ``box`` ``[x, y, w, h]`` on ``frame``."""
    x, y, w, h = box
    drawn = truth.boxes[frame]
    centres = drawn[:, :2] + drawn[:, 2:] / 2
    return int(np.argmin(np.hypot(*(centres - (x + w / 2, y + h / 2)).T)))


def _run(bucket: Bucket, settings: Settings, manifest: dict[str, Any], request: str) -> Any:
    submit_manifest(bucket, USER, manifest, request_id=request)
    worker = local_worker(bucket, settings)
    client = ReelpipeClient(bucket, USER)
    try:
        scanner = Scanner(bucket, settings, dispatch=worker.run)
        for _ in range(8):
            scanner.scan_once()
            reel = client.status_for_request(request)
            if reel is not None and reel.state.finished:
                break
    finally:
        worker.close()
    assert reel is not None and reel.state is JobState.SUCCEEDED, reel and reel.error
    status = ReelStatus.model_validate(bucket.get_json(reel.outputs["reel.status"]).data)
    children = [client.status_for_request(f"{reel.job_id}-clip{i}") for i in range(2)]
    return reel, status, children


def _manifest(keys: list[str], truth: SampleTruth, **clip1: Any) -> dict[str, Any]:
    frame = 30
    x, y, w, h = truth.boxes[frame, STAR]
    click = {"clip": 0, "frame": frame, "x": float(x + w / 2), "y": float(y + h / 2)}
    clips = [{"input_key": keys[0]}, {"input_key": keys[1], **clip1}]
    return {
        "schema_version": 1,
        "reel": {"clips": clips, "player": click, "moment_s": 1.5, "max_moments": 2},
    }


def test_a_players_reel_offers_his_look_in_another_clip_and_follows_a_confirmed_one(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    (a, truth_a), (b, truth_b) = _game(tmp_path, "a.mp4", 7), _game(tmp_path, "b.mp4", 11)
    keys = [upload_clip(bucket, USER, p) for p in (a, b)]
    reel, status, children = _run(bucket, settings, _manifest(keys, truth_a), "star")

    # Only his moments, each saying why; the clip that does not know him gives none.
    assert status.pieces and all(p.clip == 0 for p in status.pieces)
    assert all(any(r.startswith("the player in it") for r in p.reasons) for p in status.pieces)
    assert all(any("near the" in r or "running" in r for r in p.reasons) for p in status.pieces)
    edit = read(bucket.download_file(reel.outputs["reel.timeline"], tmp_path / "t.otio"))
    names = [m.name for clip in edit.find_clips() for m in clip.markers]
    assert any("the player in it" in n for n in names)

    # Offered, not applied: clip 1 ran no overlay; its best offers wear his shirt.
    assert "overlay" not in children[1].stages
    offers = status.player_offers
    assert offers and all(o.clip == 1 for o in offers)
    assert offers == sorted(offers, key=lambda o: -o.score)
    teams = [_player_at(truth_b, o.frame, o.box) < PLAYERS_PER_TEAM for o in offers]
    assert all(teams), "every offer is a red player"
    doc_a, doc_b = detections_of(bucket, children[0]), detections_of(bucket, children[1])
    assert doc_a is not None and doc_b is not None
    look = player_look(doc_a, _click(truth_a))
    assert look is not None
    blue = [
        similarity(look, mean)
        for mean, (frame, box) in ((t.mean, t.best_view(look)) for t in track_looks(doc_b).values())
        if _player_at(truth_b, frame, box) >= PLAYERS_PER_TEAM
    ]
    assert blue and offers[0].score > max(blue)

    # Confirmed in a new upload: clip 1 lights and follows the offered player.
    best = offers[0]
    confirmed = {"player": {"confirmed_track": best.model_dump(exclude={"clip"})}}
    _, again, children = _run(bucket, settings, _manifest(keys, truth_a, **confirmed), "yes")
    overlay = children[1].stages["overlay"]
    picked = overlay.details["picked"]
    offered = _player_at(truth_b, best.frame, best.box)
    assert _player_at(truth_b, picked["frame"], picked["box"]) == offered
    assert overlay.details["lit"] > 0.5
    assert again.player_offers == []  # every clip knows him now


def _click(truth: SampleTruth) -> Highlight:
    x, y, w, h = truth.boxes[30, STAR]
    return Highlight(frame=30, x=float(x + w / 2), y=float(y + h / 2))
