"""A one-line progress bar for terminals; silent when output is not a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

from pipeline.manifests.status import StatusManifest

WIDTH = 30


class ProgressBar:
    """Draws ``[#####.....]  45.0%  framing 60%`` from status updates."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = ""

    def update(self, status: StatusManifest) -> None:
        """Redraw from ``status``."""
        if not self.enabled:
            return
        percent = status.progress.percent
        filled = int(WIDTH * percent / 100)
        line = (
            f"[{'#' * filled}{'.' * (WIDTH - filled)}] {percent:5.1f}%  {status.progress.message}"
        )
        if line != self._last:
            self.stream.write("\r\x1b[K" + line)
            self.stream.flush()
            self._last = line

    def close(self) -> None:
        """End the bar's line."""
        if self.enabled and self._last:
            self.stream.write("\n")
            self.stream.flush()
