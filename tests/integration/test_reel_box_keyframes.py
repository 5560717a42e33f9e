"""A reel clip lit by box keyframes names no track, so its detections cannot follow the
player: its auto moments are those the overlay found him in (its per-second coverage),
each saying so, and the detections (run for the clip's own detect stage) are not asked
for a track they do not have."""

from __future__ import annotations

from pathlib import Path

from pipeline.detect.assemble import assemble
from pipeline.detect.clip_detection import detect_frames, tracking
from pipeline.jobs.reel_cut import PLAYER_IN, RenderedClip, assemble_rendered
from pipeline.manifests.detections import Detections, VideoFacts
from pipeline.manifests.job import Highlight
from pipeline.manifests.reel import Reel, ReelClipStatus, ReelPieceStatus, parse_reel_manifest
from pipeline.media.probe import VideoInfo, probe
from pipeline.media.sample import SampleTruth, write_sample_clip
from tests.fake_detector import TruthDetector

STAR = 0
SECONDS = 6
COVERAGE = ("found", "found", "coasted", "lost", "lost", "lost")  # he is lost after 3 s


def _detected(clip: Path, info: VideoInfo, truth: SampleTruth) -> Detections:
    detector = TruthDetector(truth)
    found = detect_frames(clip, info, detector, stride=1, tracker=tracking())
    video = VideoFacts(
        width=info.width, height=info.height, fps=float(info.fps), frame_count=info.frame_count
    )
    return assemble(
        found, video, backend="truth", classes=detector.classes, stride=1,
        ball_confidence=0.1, max_ball_gap=15,
    )  # fmt: skip


def _rendered(reel: Reel, index: int, clip: Path, doc: Detections) -> RenderedClip:
    highlight = reel.highlight_of(index)
    return RenderedClip(
        clip=reel.clips[index],
        path=clip,
        info=probe(clip),
        source_key=f"clips/game{index}.mp4",
        timeline=None,
        status=ReelClipStatus(input_key=f"clips/game{index}.mp4", state="succeeded"),
        coverage=COVERAGE if highlight is not None and highlight.boxes else (),
        detections=doc,
        highlight=highlight,
    )


def _kept_where_he_was_found(pieces: list[ReelPieceStatus], clip: int) -> None:
    """Each piece of ``clip`` lies where the overlay found him on half its seconds."""
    mine = [p for p in pieces if p.clip == clip]
    assert mine
    for piece in mine:
        seconds = COVERAGE[int(piece.start_s) : max(int(piece.start_s) + 1, round(piece.end_s))]
        share = sum(s != "lost" for s in seconds) / len(seconds)
        assert share >= PLAYER_IN, (piece, seconds)
        assert any(r.startswith("the player in it") for r in piece.reasons), piece.reasons


def test_a_clip_lit_by_box_keyframes_keeps_the_auto_moments_its_overlay_found_him_in(
    tmp_path: Path,
) -> None:
    clip = tmp_path / "game.mp4"
    truth = write_sample_clip(clip, width=640, height=360, duration_s=SECONDS, seed=7)
    info = probe(clip)
    doc = _detected(clip, info, truth)
    assert doc.track_ids()  # a click could be followed here; boxes name none of them
    x, y, w, h = (float(v) for v in truth.boxes[0, STAR])
    boxes = {"boxes": [[0, x, y, w, h], [info.frame_count - 1, x, y, w, h]]}
    reel = parse_reel_manifest(
        {
            "reel": {
                "clips": [
                    {
                        "input_key": "clips/game.mp4",
                        "moments": "auto",
                        "stages": {"detect": {}, "overlay": {"highlight": boxes}},
                    }
                ],
                "moment_s": 1.0,
                "max_moments": 6,
            }
        }
    ).reel
    done = _rendered(reel, 0, clip, doc)
    assert done.highlight is not None and not done.highlight.needs_detections
    made = assemble_rendered([done], reel, tmp_path / "reel", clips_s=0.0)
    status = made.status
    assert status.state == "succeeded", status.error
    _kept_where_he_was_found(status.pieces, 0)
    assert status.player_offers == []
    assert probe(made.paths["output"]).frame_count == status.frames


def test_a_players_reel_keeps_his_moments_in_a_clip_lit_by_box_keyframes(tmp_path: Path) -> None:
    """The reel's player is clicked in clip 0 (followed through its detections) and lit
    by box keyframes in clip 1: clip 1's moments come from its overlay's coverage."""
    clip = tmp_path / "game.mp4"
    truth = write_sample_clip(clip, width=640, height=360, duration_s=SECONDS, seed=7)
    info = probe(clip)
    doc = _detected(clip, info, truth)
    x, y, w, h = (float(v) for v in truth.boxes[30, STAR])
    click = Highlight(frame=30, x=x + w / 2, y=y + h / 2)
    boxes = {"boxes": [[0, x, y, w, h], [info.frame_count - 1, x, y, w, h]]}
    auto = {"input_key": "clips/game.mp4", "moments": "auto"}
    reel = parse_reel_manifest(
        {
            "reel": {
                "clips": [
                    {**auto, "stages": {"detect": {}}},
                    {**auto, "stages": {"detect": {}, "overlay": {"highlight": boxes}}},
                ],
                "player": {"clip": 0, "frame": click.frame, "x": click.x, "y": click.y},
                "moment_s": 1.0,
                "max_moments": 6,
            }
        }
    ).reel
    rendered = [_rendered(reel, i, clip, doc) for i in range(2)]
    assert rendered[0].highlight == click
    made = assemble_rendered(rendered, reel, tmp_path / "reel", clips_s=0.0)
    assert made.status.state == "succeeded", made.status.error
    _kept_where_he_was_found(made.status.pieces, 1)
