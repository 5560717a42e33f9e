"""Files on this machine known to hold an exact version of an object.

``reelpipe process`` uploads a clip it already has on disk; the stage that
reads it back in the same process takes the local file instead of downloading
its copy of the same bytes. An entry is keyed by the object's identity
(bucket, key, ETag) and used only while the file still has the object's size:
another version of the key is another identity, and is downloaded.

Example::

    LOCAL_FILES.remember(("clips", "users/u/clips/a.mp4", etag), Path("a.mp4"), size)
    LOCAL_FILES.recall(("clips", "users/u/clips/a.mp4", etag), size)    # Path("a.mp4")
"""

from __future__ import annotations

import threading
from pathlib import Path

Identity = tuple[str, str, str]  # bucket, key, ETag


class LocalFiles:
    """A process's registry of local files standing for object versions."""

    def __init__(self) -> None:
        self._files: dict[Identity, Path] = {}
        self._lock = threading.Lock()

    def remember(self, identity: Identity, path: Path) -> None:
        """``path`` holds exactly the object version ``identity``."""
        with self._lock:
            # absolute, not resolved: a symlink keeps the name the user gave it, which is
            # the name errors about the clip use.
            self._files[identity] = path.absolute()

    def recall(self, identity: Identity, size: int) -> Path | None:
        """The local file for ``identity``, if there is one and it still has ``size`` bytes."""
        with self._lock:
            path = self._files.get(identity)
        try:
            return path if path is not None and path.stat().st_size == size else None
        except OSError:
            return None


LOCAL_FILES = LocalFiles()
