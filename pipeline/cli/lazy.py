"""Commands imported when they run, so ``reelpipe --help`` loads none of their libraries."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib import import_module


def later(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """The command ``module.name``, imported when it is called."""

    def command(args: argparse.Namespace) -> int:
        found: Callable[[argparse.Namespace], int] = getattr(import_module(module), name)
        return found(args)

    return command
