"""ultralytics, offline: no downloads, and no settings file left behind.

ultralytics reads ``YOLO_OFFLINE`` and ``YOLO_CONFIG_DIR`` when it is first imported,
and writes its settings file (``settings.json``) into that directory there and then;
loading a model and running it never touch the file again. So the first import runs
with ``YOLO_CONFIG_DIR`` set to a directory of its own under the scratch directory,
which is removed (with the variable) as soon as the import is done: a detect run
leaves nothing behind, whatever way its process ends. An operator's own
``YOLO_CONFIG_DIR`` is kept, and used, as it is.

Example::

    ultralytics = import_offline("ultralytics", settings.scratch_dir / "ultralytics")
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

_CONFIG_VARIABLE = "YOLO_CONFIG_DIR"
_first_import = threading.Lock()


def import_offline(name: str, scratch: Path) -> ModuleType:
    """``importlib.import_module(name)`` (an ultralytics module) with downloads off and
    ultralytics' settings in a directory under ``scratch`` that is gone on return; an
    ImportError (no ml extra) is raised as it is."""
    os.environ["YOLO_OFFLINE"] = "1"
    with _first_import:
        if "ultralytics" in sys.modules or os.environ.get(_CONFIG_VARIABLE):
            return importlib.import_module(name)
        created = not scratch.exists()
        scratch.mkdir(parents=True, exist_ok=True)
        config = Path(tempfile.mkdtemp(prefix="ultralytics-", dir=scratch))
        os.environ[_CONFIG_VARIABLE] = str(config)
        try:
            return importlib.import_module(name)
        finally:
            # A child process started later imports afresh: it must not inherit a
            # directory that is no longer there (ultralytics would recreate it).
            os.environ.pop(_CONFIG_VARIABLE, None)
            shutil.rmtree(config, ignore_errors=True)
            if created:
                with contextlib.suppress(OSError):
                    scratch.rmdir()


def offline_environment(config_dir: Path) -> None:
    """Never download; ultralytics' settings under ``config_dir`` for the rest of this
    process (a test session's own directory; the pipeline uses :func:`import_offline`)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault(_CONFIG_VARIABLE, str(config_dir))
