"""A clip this process uploaded is read from where it is, not downloaded again, and only
while it is exactly the object's version."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.settings import Settings
from pipeline.stages.base import StageContext
from pipeline.storage.bucket import Bucket
from pipeline.storage.local_files import LOCAL_FILES, LocalFiles
from tests.factories import make_clip


def test_the_stage_reads_the_local_file_of_the_uploaded_version(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    clip, _ = make_clip(tmp_path)
    key = "users/u/clips/local.mp4"
    etag = bucket.upload_file(clip, key)
    LOCAL_FILES.remember((bucket.name, key, etag), clip)
    ctx = StageContext(bucket, settings, tmp_path / "scratch")
    path, info = ctx.fetch_video(key)
    assert path == clip.resolve() and info.frame_count == 60
    assert not (tmp_path / "scratch").exists()  # nothing was downloaded

    other, _ = make_clip(tmp_path, "other.mp4", duration_s=1.0)
    bucket.upload_file(other, key)  # a new version of the key: downloaded, not the old file
    path, info = ctx.fetch_video(key)
    assert path.parent == tmp_path / "scratch" and info.frame_count == 30


def test_an_entry_holds_only_while_the_file_keeps_its_size(tmp_path: Path) -> None:
    files = LocalFiles()
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"x" * 10)
    files.remember(("b", "k", "e"), clip)
    assert files.recall(("b", "k", "e"), 10) == clip.resolve()
    assert files.recall(("b", "k", "other"), 10) is None
    clip.write_bytes(b"x" * 11)
    assert files.recall(("b", "k", "e"), 10) is None
    clip.unlink()
    assert files.recall(("b", "k", "e"), 11) is None
