"""Probe a clip with ffprobe: what a stage needs to know before it decodes.

Every run is bounded: ``timeout_s`` for the whole probe and, for a clip read
over HTTP, ``-rw_timeout`` for each network read, so a stalled connection
becomes a retryable error instead of a worker that hangs while its lease is
renewed. A still image or a one-frame file is refused: it is not a video.

ffmpeg and ffprobe run in a process group of their own (:data:`OWN_GROUP`): a
Ctrl-C at the terminal reaches reelpipe, which stops at a frame boundary and
ends them itself, instead of killing them under a stage that would read their
death as a bad clip. A tool killed by a signal all the same (a supervisor that
signals every process, the OOM killer) is a retryable :class:`ToolStopped`.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from pipeline.core.errors import (
    ConfigError,
    EncoderCrashed,
    InvalidMedia,
    StorageUnavailable,
    ToolStopped,
)
from pipeline.core.usage import MeteredPopen
from pipeline.media.untrusted_input import (
    ffmpeg_input,
    is_allowed_container,
    refused_by_whitelist,
    refused_container,
    sniffed_format,
)

PROBE_TIMEOUT_S = 120.0
OWN_GROUP = 0  # Popen(process_group=...): a new group, out of reach of the terminal's Ctrl-C


@dataclass(frozen=True)
class VideoInfo:
    """A clip's video and audio facts. Width and height are as stored (coded);
    ``display_width``/``display_height`` are upright, after ``rotation``."""

    width: int
    height: int
    rotation: int  # clockwise degrees a player turns the picture: 0, 90, 180 or 270
    fps: Fraction
    frame_count: int
    duration_s: float
    codec: str
    pix_fmt: str
    has_audio: bool
    audio_codec: str | None
    size_bytes: int
    constant_rate: bool = True  # every frame lasts 1/fps: frame n starts at n/fps
    audio_sample_rate: int | None = None  # Hz, when the clip has audio and says

    @property
    def decoded_frames(self) -> int:
        """The frames decoding the clip yields, at the larger of two estimates: the count
        the container promises and its length at its average rate (a variable-rate clip's
        ``fps``). Either alone can be understated by a hostile header: the limits are
        checked on this, and a decode is held to it (``frames.frame_budget``)."""
        return max(self.frame_count, round(self.duration_s * self.fps))

    @property
    def display_width(self) -> int:
        """Width as shown (upright)."""
        return self.height if self.rotation in (90, 270) else self.width

    @property
    def display_height(self) -> int:
        """Height as shown (upright)."""
        return self.width if self.rotation in (90, 270) else self.height


def ffmpeg_binary(name: str = "ffmpeg") -> str:
    """Path of ``ffmpeg``/``ffprobe``, or a ConfigError that says how to install it."""
    path = shutil.which(name)
    if path is None:
        raise ConfigError(
            f"{name} is not installed: run scripts/bootstrap (apt-get install ffmpeg)"
        )
    return path


def check_not_signalled(tool: str, returncode: int) -> None:
    """ToolStopped when ``tool`` ended by a signal (a negative return code)."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        raise ToolStopped(f"{tool} was stopped by {name} from outside; the clip is not at fault")


def _rotation(stream: dict[str, object]) -> int:
    degrees = 0.0
    for side in stream.get("side_data_list", []) or []:  # type: ignore[attr-defined]
        if isinstance(side, dict) and "rotation" in side:
            degrees = float(side["rotation"])
    tags = stream.get("tags") or {}
    if not degrees and isinstance(tags, dict) and "rotate" in tags:
        degrees = -float(tags["rotate"])
    # ffprobe reports the display matrix counter-clockwise; players turn clockwise.
    return round(-degrees / 90.0) % 4 * 90


def _fraction(text: str | None) -> Fraction | None:
    try:
        value = Fraction(text) if text else None
    except (ValueError, ZeroDivisionError):
        return None
    return value if value else None


def probe(path: Path, *, timeout_s: float = PROBE_TIMEOUT_S) -> VideoInfo:
    """Facts about the clip at ``path``; InvalidMedia when it has no decodable video."""
    return _probe(str(path), path.name, path.stat().st_size, timeout_s=timeout_s)


def probe_url(
    url: str,
    name: str,
    size_bytes: int,
    *,
    timeout_s: float = PROBE_TIMEOUT_S,
    read_timeout_s: float = 30.0,
) -> VideoInfo:
    """Facts about a clip read over HTTP, without downloading it.

    ffprobe reads only the container's index; ``name`` stands for the URL in
    errors. Callers hand it a loopback relay's URL
    (:mod:`pipeline.media.object_relay`), never a signed one.
    """
    return _probe(url, name, size_bytes, timeout_s=timeout_s, read_timeout_s=read_timeout_s)


def _probe(
    target: str,
    name: str,
    size_bytes: int,
    *,
    timeout_s: float,
    read_timeout_s: float | None = None,
) -> VideoInfo:
    before = [] if read_timeout_s is None else ["-rw_timeout", str(int(read_timeout_s * 1e6))]
    opened = ffmpeg_input(target, before=before)
    proc = _run_ffprobe(
        [*opened, "-show_streams", "-show_format", "-of", "json"], name, timeout_s, read_timeout_s
    )
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace")
        if refused_by_whitelist(stderr):
            raise refused_container(_sniff(opened, name, timeout_s, read_timeout_s))
        reason = stderr.strip().splitlines()
        detail = reason[-1] if reason else f"ffprobe exited {proc.returncode}"
        detail = detail.replace(opened[-1], name).replace(target, name)
        raise InvalidMedia(f"the clip is not a readable video: {detail}")
    doc = json.loads(proc.stdout or b"{}")
    container = str(doc.get("format", {}).get("format_name", ""))
    if not is_allowed_container(container):
        raise refused_container(container)
    streams = doc.get("streams", [])
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video"
            and not (s.get("disposition") or {}).get("attached_pic")
        ),
        None,
    )
    if video is None:
        raise InvalidMedia("the clip has no video stream")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    fps = _fraction(video.get("avg_frame_rate")) or _fraction(video.get("r_frame_rate"))
    if fps is None:
        raise InvalidMedia("the clip's frame rate cannot be determined")
    duration = float(video.get("duration") or doc.get("format", {}).get("duration") or 0.0)
    frames = int(video.get("nb_frames") or 0) or round(duration * fps)
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if frames == 1:
        raise InvalidMedia(
            f"not a video: {name} holds a single picture ({container or 'unknown'} "
            f"{video.get('codec_name', '')}); upload a video clip"
        )
    if width <= 0 or height <= 0 or frames <= 0:
        raise InvalidMedia("the clip's video stream is empty or has no size")
    return VideoInfo(
        width=width,
        height=height,
        rotation=_rotation(video),
        fps=fps,
        frame_count=frames,
        duration_s=duration,
        codec=str(video.get("codec_name", "")),
        pix_fmt=str(video.get("pix_fmt", "")),
        has_audio=audio is not None,
        audio_codec=str(audio.get("codec_name")) if audio else None,
        size_bytes=size_bytes,
        constant_rate=fps == _fraction(video.get("r_frame_rate")),
        audio_sample_rate=_positive_int(audio.get("sample_rate")) if audio else None,
    )


def _positive_int(value: object) -> int | None:
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if number > 0 else None


def _run_ffprobe(
    args: list[str], name: str, timeout_s: float, read_timeout_s: float | None, level: str = "error"
) -> subprocess.CompletedProcess[bytes]:
    """ffprobe ``args`` at log ``level``, bounded by ``timeout_s``."""
    cmd = [ffmpeg_binary("ffprobe"), "-hide_banner", "-v", level, *args]
    try:
        with MeteredPopen(  # its CPU counts for the job probing
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=OWN_GROUP
        ) as child:
            try:
                stdout, stderr = child.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate(timeout=30)
                raise
        proc = subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr)
    except subprocess.TimeoutExpired:
        if read_timeout_s is not None:
            raise StorageUnavailable(
                f"probing {name} did not finish within {timeout_s:g} s (the store stalled)"
            ) from None
        raise EncoderCrashed(f"ffprobe did not finish {name} within {timeout_s:g} s") from None
    check_not_signalled("ffprobe", proc.returncode)
    return proc


def _sniff(opened: list[str], name: str, timeout_s: float, read_timeout_s: float | None) -> str:
    """What a refused clip sniffed as: the same refused open again, saying its demuxer
    (ffmpeg names it only in its debug log); the allow-lists still hold."""
    proc = _run_ffprobe(opened, name, timeout_s, read_timeout_s, level="debug")
    return sniffed_format(proc.stderr.decode(errors="replace")) or "unknown"


class ProbeCache:
    """What probing an object found, by its identity (bucket, key, ETag): an object's
    ETag changes with its bytes, so a second probe of the same version (the planner's,
    then the stage's) is answered here. Bounded; one per process."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._found: OrderedDict[tuple[str, str, str], VideoInfo] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, identity: tuple[str, str, str]) -> VideoInfo | None:
        """The probe of ``identity`` if it was recorded."""
        with self._lock:
            info = self._found.get(identity)
            if info is not None:
                self._found.move_to_end(identity)
            return info

    def put(self, identity: tuple[str, str, str], info: VideoInfo) -> VideoInfo:
        """Record a probe; returns it."""
        with self._lock:
            self._found[identity] = info
            self._found.move_to_end(identity)
            while len(self._found) > self._size:
                self._found.popitem(last=False)
        return info


PROBES = ProbeCache()
