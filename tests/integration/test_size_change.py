"""A video whose pictures change size mid-stream is refused as ``invalid_media`` on every
decode path (PyAV, ffmpeg's graph, the raw pipe, detect), memory bounded by the probe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.errors import ErrorKind, InvalidMedia
from pipeline.core.settings import Limits, Settings
from pipeline.manifests.status import JobState
from pipeline.media.frames import FrameReader
from pipeline.media.probe import probe
from pipeline.storage.bucket import Bucket
from tests.factories import ffmpeg
from tests.stage_runs import run_claimed

SIZE_CHANGES = "the video's size changes mid-stream"
BOXES = {"highlight": {"boxes": [[0, 10, 10, 20, 40]]}}


def clip_changing_size(
    directory: Path, first: tuple[int, int], then: tuple[int, int], container: str = "mp4"
) -> Path:
    """One H.264 stream: 1 s at ``first``, then 1 s at ``then`` (two Annex-B streams
    joined bytewise, remuxed without re-encoding; no B-frames, so the timestamps made up
    for the raw stream are in display order)."""
    parts = []
    for i, (w, h) in enumerate((first, then)):
        part = directory / f"part{i}.h264"
        ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate=30:duration=1",
            "-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-pix_fmt", "yuv420p",
            "-f", "h264",
            str(part),
        )  # fmt: skip
        parts.append(part.read_bytes())
    joined = directory / "joined.h264"
    joined.write_bytes(b"".join(parts))
    mp4 = directory / "changing.mp4"
    ffmpeg("-fflags", "+genpts", "-r", "30", "-i", str(joined), "-c", "copy", str(mp4))
    if container == "mp4":
        return mp4
    out = directory / f"changing.{container}"
    ffmpeg("-i", str(mp4), "-c", "copy", str(out))
    return out


@pytest.mark.parametrize("container", ["mp4", "ts"])
@pytest.mark.parametrize(
    ("first", "then"), [((160, 120), (640, 480)), ((640, 480), (160, 120))], ids=["up", "down"]
)
def test_the_reader_refuses_a_size_change(
    tmp_path: Path, container: str, first: tuple[int, int], then: tuple[int, int]
) -> None:
    """PyAV: larger pictures are refused by the decoder's cap, any other size by the
    reader; the probe sees the first size only."""
    clip = clip_changing_size(tmp_path, first, then, container)
    info = probe(clip)
    assert (info.width, info.height) == first
    with FrameReader(clip, info) as reader, pytest.raises(InvalidMedia, match=SIZE_CHANGES):
        for _ in reader.frames():
            pass
    with FrameReader(clip, info) as reader, pytest.raises(InvalidMedia, match=SIZE_CHANGES):
        for _ in reader.keyframes():
            pass


def _fails(bucket: Bucket, settings: Settings, clip: Path, stages: dict[str, Any]) -> str:
    relative = upload_clip(bucket, "u", clip)
    inbox = submit_manifest(bucket, "u", {"input_key": relative, "stages": stages})
    status = run_claimed(bucket, settings, inbox.inbox_key)
    assert status.state is JobState.FAILED and status.error is not None
    assert status.error.kind is ErrorKind.INVALID_MEDIA, status.error
    assert "Traceback" not in status.error.message
    return status.error.message


@pytest.mark.parametrize(
    ("stages", "fuse"),
    [
        ({"framing": {}}, False),  # ffmpeg decodes, filters and encodes
        ({"framing": {}, "overlay": BOXES}, True),  # ffmpeg's graph, raw frames to a pipe
        ({"overlay": BOXES}, True),  # PyAV decodes
        ({"detect": {"backend": "motion"}}, True),
    ],
    ids=["framing", "framing+overlay", "overlay", "detect"],
)
@pytest.mark.parametrize(
    ("first", "then"), [((160, 120), (640, 480)), ((640, 480), (160, 120))], ids=["up", "down"]
)
def test_every_stage_path_fails_invalid_media(
    bucket: Bucket,
    settings: Settings,
    tmp_path: Path,
    stages: dict[str, Any],
    fuse: bool,
    first: tuple[int, int],
    then: tuple[int, int],
) -> None:
    """With the second size over ``max_pixels`` (or under the first), the job fails as
    the clip's fault, saying why."""
    limits = Limits(max_pixels=max(first[0] * first[1], 320 * 240))
    run = settings.replace(limits=limits, fuse=fuse)
    message = _fails(bucket, run, clip_changing_size(tmp_path, first, then), stages)
    assert SIZE_CHANGES in message
