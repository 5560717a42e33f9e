"""A clip's pictures keep the size it was probed at, from the first frame to the last.

The probe reads the first picture's size, and every limit (``max_pixels``, the work
limit) is checked on it. A stream may still change size mid-way (H.264 or HEVC carry
a new size in-band): 320x240, then 15360x8640. Left alone, the decoder allocates each
huge picture (several at once with frame threads) and every buffer after it is sized
from the stream, not from the checked probe. So every decode of a user's video is
pinned here, twice:

- the decoder itself refuses a picture larger than the probed one before it allocates
  it (libavcodec's ``max_pixels``; :func:`decoder_pixel_cap` leaves room for the
  alignment decoders add), so memory stays bounded by the probed size;
- a picture of any other size, smaller or a little larger, is noticed where it is
  decoded (PyAV: :func:`check_frame_size`; ffmpeg's filter graph: the guard
  :func:`size_guard` at its head, which fails when ffmpeg re-initialises the graph
  for another input size), and the clip is refused as InvalidMedia
  (:func:`size_changed`), never rescaled or misread.

Example::

    args = ffmpeg_input(source, before=decoder_cap_args(info))
    graph = f"[0:v]{size_guard(info)},setpts=PTS-STARTPTS..."
"""

from __future__ import annotations

import re

from pipeline.core.errors import InvalidMedia
from pipeline.media.probe import VideoInfo

# Decoders check the aligned picture (width rounded up to the stride alignment, height
# to the macroblock or coding unit): the cap allows that much on each side.
_ALIGNMENT_SLACK = 128
# What ffmpeg writes when a decoder refused a picture over the cap, or the guard saw
# another size after a graph re-initialisation.
_CAP_REFUSED_AT = re.compile(r"Picture size (\d+x\d+) exceeds specified max pixel count")
_GUARD_NAME = "crop@reelpipe_size"


def decoder_pixel_cap(info: VideoInfo) -> int:
    """The most pixels a decoder may allocate for one picture of this clip."""
    return (info.width + _ALIGNMENT_SLACK) * (info.height + _ALIGNMENT_SLACK)


def decoder_cap_args(info: VideoInfo) -> list[str]:
    """ffmpeg input options that make the decoder refuse a picture over the cap."""
    return ["-max_pixels", str(decoder_pixel_cap(info))]


def size_changed(info: VideoInfo, width: int, height: int) -> InvalidMedia:
    """The error for a clip whose pictures stop being the probed size."""
    return InvalidMedia(
        f"the video's size changes mid-stream (from {info.width}x{info.height} to "
        f"{width}x{height}); upload a clip of one size"
    )


def check_frame_size(info: VideoInfo, width: int, height: int) -> None:
    """InvalidMedia when a decoded picture is not the probed (stored) size."""
    if (width, height) != (info.width, info.height):
        raise size_changed(info, width, height)


def size_guard(info: VideoInfo) -> str:
    """The filter to put first on ``[0:v]``: it passes the probed (upright) size and
    fails to configure for any other. ffmpeg rebuilds a graph whose input changes size;
    its output size stays the first frame's (``-autoscale``), so without the guard a new
    size would be quietly rescaled."""
    w, h = info.display_width, info.display_height
    return f"{_GUARD_NAME}=w='if(eq(iw,{w})*eq(ih,{h}),iw,0)':h=ih:exact=1"


def ffmpeg_size_change(stderr: str) -> InvalidMedia | None:
    """The error for a run of ffmpeg whose stderr says the size changed, else None."""
    refused = _CAP_REFUSED_AT.search(stderr)
    if refused is not None:
        return InvalidMedia(
            f"the video's size changes mid-stream (to {refused.group(1)}, larger than it "
            "was probed at); upload a clip of one size"
        )
    if f"[{_GUARD_NAME} @" in stderr:
        return InvalidMedia("the video's size changes mid-stream; upload a clip of one size")
    return None
