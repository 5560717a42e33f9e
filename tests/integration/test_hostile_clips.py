"""An upload is data, never a pointer: playlists, lists and protocol tricks open nothing.

Each hostile "clip" names a real video on this machine (another user's, as a worker's
scratch input would be) and a loopback logger; a job on it fails ``invalid_media``
naming what it is, no output is made, and the logger is never asked for anything.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import pytest

from pipeline.client.submit import submit_manifest
from pipeline.core.errors import ErrorKind, InvalidMedia
from pipeline.core.public_text import public_message
from pipeline.core.settings import Settings
from pipeline.jobs.process import process_clip
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.media.frames import FrameReader
from pipeline.media.probe import probe
from pipeline.storage.bucket import Bucket
from tests.factories import ffmpeg, job_manifest, make_clip
from tests.stage_runs import run_claimed


class RequestLogger:
    """A loopback HTTP server that counts every request it gets (and answers 404)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        logger = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                logger.requests.append(self.path)
                self.send_error(404)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def logger() -> Iterator[RequestLogger]:
    server = RequestLogger()
    yield server
    server.close()


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """Another user's video on this machine, as MPEG-TS (what a playlist segment is)."""
    clip, _ = make_clip(tmp_path, "secret.mp4", duration_s=1.0)
    ts = tmp_path / "secret.ts"
    ffmpeg("-i", str(clip), "-c", "copy", str(ts))
    return ts


def hls(*segments: str) -> str:
    body = "".join(f"#EXTINF:1.0,\n{segment}\n" for segment in segments)
    return f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n{body}#EXT-X-ENDLIST\n"


def hostile_clips(secret: Path, logger: RequestLogger) -> dict[str, tuple[str, str, str]]:
    """name -> (file name, content, what the error must call it)."""
    return {
        "hls-file": ("game.mp4", hls(f"file://{secret}", str(secret)), "hls"),
        "hls-http": ("game.mp4", hls(f"{logger.url}/segment.ts"), "hls"),
        "m3u8": ("game.m3u8", hls(f"{logger.url}/a.ts", f"file://{secret}"), "hls"),
        "ffconcat": (
            "game.mov",
            f"ffconcat version 1.0\nfile '{secret}'\nfile '{logger.url}/b.ts'\n",
            "concat",
        ),
        "subfile-concat": (
            "game.mp4",
            hls(f"subfile,,start,0,end,0,,:{secret}", f"concat:{secret}|{secret}"),
            "hls",
        ),
    }


CASES = ["hls-file", "hls-http", "m3u8", "ffconcat", "subfile-concat"]


def write_hostile(directory: Path, secret: Path, logger: RequestLogger, case: str) -> Path:
    name, content, _ = hostile_clips(secret, logger)[case]
    path = directory / "upload" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(content)
    return path


def assert_refused(status: StatusManifest, calls: str, logger: RequestLogger) -> None:
    assert status.state is JobState.FAILED, status
    assert status.error is not None and status.error.kind is ErrorKind.INVALID_MEDIA
    assert f"not a video container: {calls}" in status.error.message
    assert "/" not in status.error.message.split(";")[0]  # no path of the worker's
    assert status.output_key is None and "video" not in status.outputs
    assert logger.requests == []


@pytest.mark.parametrize("case", CASES)
def test_probe_refuses_a_playlist_or_list_and_opens_nothing(
    tmp_path: Path, secret: Path, logger: RequestLogger, case: str
) -> None:
    clip = write_hostile(tmp_path, secret, logger, case)
    calls = hostile_clips(secret, logger)[case][2]
    with pytest.raises(InvalidMedia, match=f"not a video container: {calls}"):
        probe(clip)
    assert logger.requests == []


def test_the_frame_reader_refuses_what_the_probe_would(tmp_path: Path, secret: Path) -> None:
    """PyAV gets the same allow-lists, even when handed a probe made elsewhere: an
    ffconcat list naming a file beside it (a name its safe mode allows) was decoded."""
    listing = secret.parent / "game.mp4"
    listing.write_text(f"ffconcat version 1.0\nfile {secret.name}\n")
    real, _ = make_clip(tmp_path, duration_s=1.0)
    with pytest.raises(InvalidMedia), FrameReader(listing, probe(real)) as reader:
        next(iter(reader.frames()))


@pytest.mark.parametrize("case", CASES)
def test_a_job_on_a_hostile_clip_fails_and_outputs_nothing(
    bucket: Bucket,
    settings: Settings,
    tmp_path: Path,
    secret: Path,
    logger: RequestLogger,
    case: str,
) -> None:
    """As a worker runs it (serve, scan, Modal): uploaded to the bucket, claimed, run."""
    clip = write_hostile(tmp_path, secret, logger, case)
    key = f"users/u/clips/{clip.name}"
    bucket.upload_file(clip, key)
    inbox = submit_manifest(
        bucket, "u", {"input_key": f"clips/{clip.name}", **job_manifest(framing={})}
    )
    status = run_claimed(bucket, settings, inbox.inbox_key)
    assert_refused(status, hostile_clips(secret, logger)[case][2], logger)


@pytest.mark.parametrize("case", ["hls-file", "hls-http", "ffconcat"])
def test_process_on_a_hostile_file_outputs_nothing(
    bucket: Bucket,
    settings: Settings,
    tmp_path: Path,
    secret: Path,
    logger: RequestLogger,
    case: str,
) -> None:
    """``reelpipe process`` on such a file: before, its output was the named video."""
    clip = write_hostile(tmp_path, secret, logger, case)
    done = process_clip(
        settings,
        clip,
        job_manifest(framing={}, overlay={"highlight": {"boxes": [[0, 10, 10, 40, 40]]}}),
        user="u",
        out_dir=tmp_path / "out",
    )
    assert_refused(done.status, hostile_clips(secret, logger)[case][2], logger)
    assert "output" not in done.paths


def test_a_file_name_that_spells_a_protocol_is_only_a_file_name(
    bucket: Bucket,
    settings: Settings,
    tmp_path: Path,
    secret: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``concat:secret.ts|secret.ts`` as a relative path was ffmpeg's concat protocol:
    it read the two files it names. Now it is the file of that name (here: not a video)."""
    monkeypatch.chdir(secret.parent)
    trick = Path(f"concat:{secret.name}|{secret.name}")
    trick.write_bytes(b"not a video at all" * 64)
    done = process_clip(settings, trick, job_manifest(framing={}), user="u", out_dir=tmp_path / "o")
    assert done.status.state is JobState.FAILED and done.status.error is not None
    assert done.status.error.kind is ErrorKind.INVALID_MEDIA
    assert "output" not in done.paths


def test_real_containers_still_open(tmp_path: Path) -> None:
    """MP4, MOV, MKV, WebM, MPEG-TS, AVI, FLV and GIF are videos."""
    clip, _ = make_clip(tmp_path, duration_s=1.0, audio=False)
    for name, codec in [
        ("c.mov", "copy"),
        ("c.mkv", "copy"),
        ("c.ts", "copy"),
        ("c.flv", "copy"),
        ("c.avi", "mpeg4"),
        ("c.webm", "libvpx"),
        ("c.gif", "gif"),
    ]:
        out = tmp_path / name
        ffmpeg("-i", str(clip), "-frames:v", "10", "-c:v", codec, str(out))
        assert probe(out).frame_count >= 10, name
        with av.open(str(out)) as container:
            assert container.streams.video


def test_an_animated_png_is_called_a_picture(tmp_path: Path) -> None:
    clip, _ = make_clip(tmp_path, duration_s=1.0, audio=False)
    apng = tmp_path / "moving.png"
    ffmpeg("-i", str(clip), "-frames:v", "5", "-f", "apng", str(apng))
    with pytest.raises(InvalidMedia, match=r"the clip is a picture \(apng\)"):
        probe(apng)


def test_a_failed_jobs_error_names_no_worker_path(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A clip whose header probes but whose data is cut: the decoder's error named the
    worker's scratch input; the status keeps the file's name only."""
    clip, _ = make_clip(tmp_path, duration_s=2.0)
    cut = tmp_path / "cut.mp4"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    bucket.upload_file(cut, "users/u/clips/cut.mp4")
    inbox = submit_manifest(
        bucket,
        "u",
        {
            "input_key": "clips/cut.mp4",
            **job_manifest(overlay={"highlight": {"boxes": [[0, 10, 10, 40, 40]]}}),
        },
    )
    status = run_claimed(bucket, settings, inbox.inbox_key)
    assert status.state is JobState.FAILED and status.error is not None
    message = status.error.message
    assert str(settings.scratch_dir) not in message and str(tmp_path) not in message
    assert "/tmp" not in message and "run-" not in message


def lying_clip(directory: Path) -> Path:
    """An MKV whose header says 10 fps for 1 s (10 frames) and that holds 285: the
    timestamps are packed ten times as densely as its frame rate says."""
    clip = directory / "lying.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=160x120:rate=300", "-t", "1",
        "-vf", "setpts=N/(300*TB)", "-r", "10", "-fps_mode", "passthrough",
        "-c:v", "libx264", "-preset", "ultrafast", str(clip),
    )  # fmt: skip
    return clip


def test_a_clip_holding_more_frames_than_it_declares_is_stopped(tmp_path: Path) -> None:
    """The limits were checked against the header's count: decoding far past it is what
    no limit allowed (a forged duration hides hours of 4K in a small upload)."""
    clip = lying_clip(tmp_path)
    info = probe(clip)
    assert info.frame_count <= 12
    with pytest.raises(InvalidMedia, match="more frames than it declares"):
        with FrameReader(clip, info) as reader:
            decoded = sum(1 for _ in reader.frames())
        pytest.fail(f"{decoded} frames decoded")


def test_a_job_on_a_clip_that_lies_about_its_length_fails_without_decoding_it_all(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    clip = lying_clip(tmp_path)
    bucket.upload_file(clip, "users/u/clips/lying.mkv")
    manifest = job_manifest(detect={"backend": "motion"})  # reads every frame, writes none
    inbox = submit_manifest(bucket, "u", {"input_key": "clips/lying.mkv", **manifest})
    status = run_claimed(bucket, settings, inbox.inbox_key)
    assert status.state is JobState.FAILED and status.error is not None
    assert status.error.kind is ErrorKind.INVALID_MEDIA
    assert "more frames than it declares" in status.error.message


def test_public_messages_keep_names_and_drop_places() -> None:
    assert public_message("x: /tmp/reelpipe/j1/overlay/input.mp4: bad") == "x: input.mp4: bad"
    assert public_message("file:/srv/a/b.ts: No such file") == "b.ts: No such file"
    assert public_message("GET http://127.0.0.1:9/tok/x.mp4 failed") == "GET x.mp4 failed"
    assert public_message("aspect 9/16, 1/30 s and/or users/a/clips/x.mp4") == (
        "aspect 9/16, 1/30 s and/or users/a/clips/x.mp4"
    )
    assert public_message("HTTPConnectionPool(host='store.internal', port=9000)") == (
        "HTTPConnectionPool(host=(a server), port=9000)"
    )
    assert public_message("to 10.0.0.7:9000 and [::1]:80, v1.2.3") == (
        "to (an address) and (an address), v1.2.3"
    )
