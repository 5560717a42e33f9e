"""ultralytics, offline: no downloads, no settings written outside our scratch space.

ultralytics reads ``YOLO_OFFLINE`` and ``YOLO_CONFIG_DIR`` when first imported,
so this runs before any import of it (the loader and the tracker call it).
"""

from __future__ import annotations

import os
from pathlib import Path


def offline_environment(config_dir: Path) -> None:
    """Never download; keep ultralytics' settings file under ``config_dir``."""
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
