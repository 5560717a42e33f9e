"""Where a stage call executes: in this process (local) or on Modal."""

from pipeline.runners.base import Runner
from pipeline.runners.local import LocalRunner

__all__ = ["LocalRunner", "Runner"]
