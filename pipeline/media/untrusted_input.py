"""How an uploaded clip is opened: as data in a real video container, never as a pointer.

ffmpeg picks a demuxer by sniffing the bytes and opens whatever protocol a name
asks for. Left at that, a 150-byte text "clip" holding an HLS playlist or an
ffconcat list makes the worker open the files and URLs it names: another job's
scratch input, any local media file, a server-side request to loopback, the
metadata service or the private network. So every open of user bytes (ffprobe,
every ffmpeg input, PyAV) goes through here and gets two allow-lists:

- ``-format_whitelist``: only the demuxers of real containers
  (:data:`ALLOWED_CONTAINERS`); playlists (hls, dash), lists (concat), image
  patterns (image2) and every other demuxer that opens what the file names are
  refused before they read a byte past the probe;
- ``-protocol_whitelist``: ``file`` for a path on this machine (given as
  ``file:<absolute path>``, so a name like ``concat:a|b`` or ``subfile:`` is a
  file name, not a protocol), ``http,tcp`` for the loopback object relay
  (:mod:`pipeline.media.object_relay`), nothing else: no ``data``, ``crypto``,
  ``tls``, ``concat``, ``subfile``, ``pipe``.

Nested opens inherit both lists, so even a demuxer that opens side files could
open only these protocols. The mov demuxer's external data references stay off
(ffmpeg's default ``enable_drefs=0``).

Example::

    run_ffmpeg([*ffmpeg_input(path, before=["-ss", "2.0"]), "-c", "copy", str(out)])
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.core.errors import ConfigError, InvalidMedia

# ffmpeg's demuxer names of the containers a clip may come in. A demuxer's name can
# hold several ("mov,mp4,m4a,3gp,3g2,mj2"): it is allowed when any of them is listed.
ALLOWED_CONTAINERS = (
    "mov",
    "mp4",
    "m4a",
    "3gp",
    "3g2",
    "mj2",
    "matroska",
    "webm",
    "mpegts",
    "avi",
    "flv",
    "gif",
)
FORMAT_WHITELIST = ",".join(ALLOWED_CONTAINERS)
LOCAL_PROTOCOLS = "file"
RELAY_PROTOCOLS = "http,tcp"
# Demuxers of pictures, named as such when refused (a clearer word than "container").
_PICTURE_FORMATS = ("image2", "apng", "webp", "png", "jpeg", "bmp", "tiff", "gif_pipe")
_PROBED = re.compile(r"Format (\S+) probed with size")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def input_target(source: str | Path) -> tuple[str, str]:
    """``(what ffmpeg opens, the protocols it may use)`` for a local path or a loopback
    relay URL; anything else is a programming error (ConfigError), never user data."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        host = urlsplit(text).hostname or ""
        if host not in _LOOPBACK:
            raise ConfigError("a clip is read over HTTP only from the loopback object relay")
        return text, RELAY_PROTOCOLS
    return f"file:{Path(text).absolute()}", LOCAL_PROTOCOLS


def ffmpeg_input(source: str | Path, *, before: list[str] | tuple[str, ...] = ()) -> list[str]:
    """ffmpeg/ffprobe arguments that open ``source`` as an untrusted clip: the
    allow-lists, then the input options ``before`` (``-ss``, ``-t``, ``-rw_timeout``),
    then ``-i``."""
    target, protocols = input_target(source)
    return [
        "-protocol_whitelist",
        protocols,
        "-format_whitelist",
        FORMAT_WHITELIST,
        *before,
        "-i",
        target,
    ]


def pyav_open_args(source: str | Path) -> tuple[str, dict[str, str]]:
    """``(file, container_options)`` for ``av.open``: the same allow-lists as ffmpeg."""
    target, protocols = input_target(source)
    return target, {"protocol_whitelist": protocols, "format_whitelist": FORMAT_WHITELIST}


def is_allowed_container(format_name: str) -> bool:
    """Whether ffprobe's ``format_name`` ("mov,mp4,m4a,3gp,3g2,mj2") is an allowed one."""
    return any(name in ALLOWED_CONTAINERS for name in format_name.split(","))


def refused_container(format_name: str) -> InvalidMedia:
    """The error for a clip whose container is not on the list, naming what it is."""
    name = format_name or "unknown"
    if name.endswith("_pipe") or name in _PICTURE_FORMATS:
        return InvalidMedia(f"not a video: the clip is a picture ({name}); upload a video clip")
    return InvalidMedia(
        f"not a video container: {name}; upload a video clip (MP4, MOV, MKV, WebM, "
        "MPEG-TS, AVI, FLV or GIF)"
    )


def sniffed_format(debug_log: str) -> str | None:
    """The demuxer ffmpeg's probe chose, from its ``-v debug`` log (None if not said)."""
    found = _PROBED.search(debug_log)
    return found.group(1) if found else None


def refused_by_whitelist(stderr: str) -> bool:
    """Whether ffmpeg refused the input because its demuxer is not on the list."""
    return "not on whitelist" in stderr
