"""Independent checks of media files with ffprobe/ffmpeg (not the project's own probe)."""

from __future__ import annotations

import json
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Stream:
    codec: str
    width: int
    height: int
    pix_fmt: str
    frames: int
    duration_s: float


@dataclass(frozen=True)
class MediaFacts:
    video: Stream
    audio: Stream | None
    rotation: int


def inspect(path: Path) -> MediaFacts:
    """Decode-count frames and read stream facts with ffprobe."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
    ).stdout
    streams = json.loads(out)["streams"]

    def stream(kind: str) -> Stream | None:
        s = next((s for s in streams if s["codec_type"] == kind), None)
        if s is None:
            return None
        return Stream(
            codec=s["codec_name"],
            width=int(s.get("width", 0)),
            height=int(s.get("height", 0)),
            pix_fmt=s.get("pix_fmt", ""),
            frames=int(s.get("nb_read_frames", 0)),
            duration_s=float(s.get("duration", 0.0)),
        )

    video = stream("video")
    assert video is not None, f"{path} has no video stream"
    rotation = 0
    for s in streams:
        for side in s.get("side_data_list", []) or []:
            rotation = int(side.get("rotation", rotation))
    return MediaFacts(video, stream("audio"), rotation)


def top_level_boxes(path: Path) -> list[str]:
    """The MP4 top-level box types in file order (to check moov comes before mdat)."""
    boxes = []
    with path.open("rb") as fh:
        while header := fh.read(8):
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", fh.read(8))[0]
                fh.seek(size - 16, 1)
            elif size == 0:
                boxes.append(kind.decode())
                break
            else:
                fh.seek(size - 8, 1)
            boxes.append(kind.decode())
    return boxes


def assert_playable_everywhere(path: Path) -> MediaFacts:
    """H.264, yuv420p, even dimensions, moov before mdat."""
    facts = inspect(path)
    assert facts.video.codec == "h264"
    assert facts.video.pix_fmt == "yuv420p"
    assert facts.video.width % 2 == 0 and facts.video.height % 2 == 0
    boxes = top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat"), boxes
    return facts


def read_frame(path: Path, index: int, width: int, height: int) -> np.ndarray:
    """Frame ``index`` of ``path`` as an RGB array, decoded by ffmpeg."""
    return read_frames(path, [index], width, height)[0]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def read_frames(path: Path, indices: list[int], width: int, height: int) -> list[np.ndarray]:
    """Frames ``indices`` (ascending) of ``path`` as RGB arrays, in one ffmpeg decode."""
    chosen = "+".join(f"eq(n\\,{i})" for i in indices)
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-vf",
            f"select={chosen}",
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)
    assert len(frames) == len(indices), (len(frames), indices)
    return list(frames)
