"""What an uploader may read of an error: the text with the worker taken out.

An error's text comes from ffmpeg, the store client or Python itself, and
names what the worker saw: its scratch paths (``/tmp/reelpipe/<job>/framing/
input.mp4``), the loopback relay's URL with its token, its host name, the store's
address. Told to
the uploader, those map the worker for the next attacker (another job's
scratch input is one playlist away) and help no one fix a clip. So the status
keeps each path's last part (the file name, which the uploader gave or which
says nothing), each URL's last part, and no host name; the operator's log keeps
the full text.

Example::

    public_message("ffmpeg: /tmp/reelpipe/j1/overlay/input.mp4: Invalid data")
    # 'ffmpeg: input.mp4: Invalid data'
"""

from __future__ import annotations

import re
import socket
from functools import cache

# scheme://anything up to white space or a quote, bracket or trailing punctuation.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]]*[^\s'\"<>()\[\].,;:]")
# ffmpeg's own spelling of a local target, file:/abs/path.
_FILE_PREFIX = re.compile(r"\bfile:(?=/)")
# An absolute path: a slash not after a word character (so 9/16, 1/30, and/or stay),
# then path characters; the longest such run.
_ABS_PATH = re.compile(r"(?<![\w.~/-])(?:~|\.{1,2})?/[\w.@%+=~-]+(?:/[\w.@%+=~-]*)*")
# urllib3's and botocore's spelling of a peer: host='minio.internal', and a bare ip:port.
_HOST_FIELD = re.compile(r"\bhost=(['\"])[^'\"]*\1")
_IP_PORT = re.compile(
    r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w.])|\[[0-9a-fA-F:]+\](?::\d{1,5})?"
)
WORKER = "the worker"


def public_message(text: str) -> str:
    """``text`` with every URL and absolute path cut to its last part and the host's
    name replaced (see the module's docstring)."""
    text = _URL.sub(lambda m: _last_part(m.group(0)), text)
    text = _FILE_PREFIX.sub("", text)
    text = _ABS_PATH.sub(lambda m: _last_part(m.group(0)), text)
    text = _HOST_FIELD.sub("host=(a server)", text)
    text = _IP_PORT.sub("(an address)", text)
    for name in _host_names():
        text = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", WORKER, text)
    return text


def _last_part(target: str) -> str:
    """A URL's or path's last part (``input.mp4``); ``a URL`` for a bare host."""
    is_url = "://" in target
    path = target.split("://", 1)[1] if is_url else target
    parts = [part for part in path.split("?")[0].split("#")[0].split("/") if part]
    if is_url:
        return parts[-1] if len(parts) > 1 else "a URL"
    return parts[-1] if parts else "a path"


@cache
def _host_names() -> tuple[str, ...]:
    """This machine's name and its first label, of at least 3 characters (shorter ones
    would match ordinary words); no DNS look-up."""
    name = socket.gethostname()
    names = {name, name.split(".", 1)[0]}
    return tuple(sorted((n for n in names if len(n) >= 3), key=len, reverse=True))
