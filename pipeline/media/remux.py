"""Mux a pass's video and the audio ffmpeg filtered beside it into one MP4, in this
process: the packets of both files copied, interleaved by time; nothing decoded or
re-encoded, and no ffmpeg started for it.

A fused framing pass has ffmpeg decode, re-time and filter the clip, the video coming
back raw for the steps and the audio written to a file as it goes; the steps' encoder
writes the video. This puts the two together.

Example::

    mux_audio(Path("video-only.mp4"), Path("framed-audio.m4a"), Path("fused.mp4"))
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av

from pipeline.core.errors import EncoderCrashed


def mux_audio(video: Path, audio: Path, output: Path) -> None:
    """``video``'s video and ``audio``'s first audio track (both files this job wrote)
    copied into ``output`` (MP4, faststart), packets interleaved by time."""
    try:
        with (
            av.open(str(video)) as picture,
            av.open(str(audio)) as sound,
            av.open(str(output), "w", format="mp4", options={"movflags": "+faststart"}) as out,
        ):
            sources: list[tuple[Any, Any]] = [(picture, picture.streams.video[0])]
            sources += [(sound, stream) for stream in sound.streams.audio[:1]]
            targets = [out.add_stream_from_template(stream) for _, stream in sources]
            streams = [_packets(c, s, i) for i, (c, s) in enumerate(sources)]
            for _, order, packet in heapq.merge(*streams, key=lambda item: item[:2]):
                packet.stream = targets[order]
                out.mux(packet)
    except av.FFmpegError as exc:
        raise EncoderCrashed(f"muxing the audio into {output.name} failed: {exc}") from exc


def _packets(container: Any, stream: Any, order: int) -> Iterator[tuple[float, int, Any]]:
    """``(seconds, order, packet)`` of ``stream``'s packets, in decoding order."""
    base = stream.time_base
    for packet in container.demux(stream):
        if packet.dts is None:
            continue  # the demuxer's flush packet
        yield float(packet.dts * base), order, packet
