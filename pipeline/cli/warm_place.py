"""Where a warm worker listens, and whether one may be used at all.

A warm worker (:mod:`pipeline.cli.warm_worker`) is a process that has already imported
the pipeline and started an embedded store, so a ``reelpipe process`` handed to it
starts its job at once instead of spending a second and more on the interpreter's
imports. It listens on a Unix socket in a directory only this user may enter, one
socket per installed code: the socket's name is a digest of the interpreter, every
module file of the package (path, size, modification time), the library folders on
``sys.path`` and the environment variables a worker reads once at its start
(:data:`WORKER_VARIABLES`), so an upgraded checkout or library, another virtual
environment or another ``PYTHONPATH`` never meets a worker that loaded something else.

Only the standard library is imported here: the client checks for a worker before
anything of the pipeline is loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

WARM_VARIABLE = "REELPIPE_WARM"  # "off" (or 0, false, no): never use nor start one
IDLE_VARIABLE = "REELPIPE_WARM_IDLE_S"
DEFAULT_IDLE_S = 600.0
OFF_WORDS = frozenset({"off", "0", "false", "no"})
# What is read once, when the worker starts, and kept: which code and libraries its
# imports load and their thread pools, the locale and time zone, the temporary folder, the
# home folder (the S3 library's config files). A worker started under other values would
# not be the process a cold start makes; these (and no secret) are also all the
# environment a worker and its stores hold: a command's own goes to its fork only.
WORKER_VARIABLES = (
    "PYTHON", "LD_", "OMP_", "OPENBLAS_", "MKL_", "OPENCV_", "PATH", "LANG", "LC_", "TZ",
    "TMPDIR", "HOME", "XDG_RUNTIME_DIR", "REELPIPE_WARM",
)  # fmt: skip
PACKAGE_DIR = Path(__file__).resolve().parents[1]
SHORT_ADDRESS = 100  # bytes; a Unix socket's address holds at most 107


class UnsafePlace(Exception):
    """The socket's directory is not this user's alone: no worker is used there."""


@dataclass(frozen=True)
class WarmPlace:
    """The socket of the warm worker for this code, and its start lock beside it."""

    socket: Path

    @property
    def lock(self) -> Path:
        return self.socket.with_suffix(".lock")

    @property
    def log(self) -> Path:
        """The worker's standard error: what stopped it, if anything did."""
        return self.socket.with_suffix(".log")


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """``path`` as an address to bind or connect to: itself, or, when it is longer than
    an address may be, the same file reached through a descriptor of its folder."""
    if len(os.fsencode(path)) < SHORT_ADDRESS:
        yield str(path)
        return
    folder = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def warm_enabled(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` lets ``process`` use (and start) a warm worker."""
    return environ.get(WARM_VARIABLE, "on").strip().lower() not in OFF_WORDS


def idle_seconds(environ: Mapping[str, str]) -> float:
    """How long a warm worker waits for its next command before it ends itself."""
    try:
        return max(0.0, float(environ.get(IDLE_VARIABLE, DEFAULT_IDLE_S)))
    except ValueError:
        return DEFAULT_IDLE_S


def warm_place(environ: Mapping[str, str]) -> WarmPlace:
    """The socket for this code and environment, its directory made private if new
    (:class:`UnsafePlace` if it exists and another user could enter or own it)."""
    folder = _private_folder(environ)
    return WarmPlace(folder / f"worker-{code_digest(environ)}.sock")


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` a worker starts with (:data:`WORKER_VARIABLES`)."""
    return {k: v for k, v in environ.items() if k.startswith(WORKER_VARIABLES)}


def code_digest(environ: Mapping[str, str]) -> str:
    """A digest of what a worker's start depends on (see the module's docstring): the
    interpreter, the worker's environment, every module file of the package, and the
    library folders on ``sys.path`` (installing or upgrading one changes its folder's
    time)."""
    digest = hashlib.sha256()
    digest.update(f"{sys.executable}\0{sys.version}\0{PACKAGE_DIR}\0".encode())
    for name, value in sorted(worker_environment(environ).items()):
        if name != IDLE_VARIABLE:
            digest.update(f"{name}={value}\0".encode())
    for folder in sys.path[1:]:  # the first is the script's or the working folder
        with contextlib.suppress(OSError):
            digest.update(f"{folder}\0{os.stat(folder or '.').st_mtime_ns}\0".encode())
    for path, size, mtime in _module_files(PACKAGE_DIR):
        digest.update(f"{path}\0{size}\0{mtime}\0".encode())
    return digest.hexdigest()[:20]


def _module_files(root: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime in ns) of every ``.py`` file under ``root``."""
    found: list[tuple[str, int, int]] = []
    pending = [root]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                    pending.append(Path(entry.path))
                elif entry.name.endswith(".py"):
                    info = entry.stat()
                    found.append((entry.path, info.st_size, info.st_mtime_ns))
    return sorted(found)


def _private_folder(environ: Mapping[str, str]) -> Path:
    """``$XDG_RUNTIME_DIR/reelpipe`` (else a per-user folder in the temporary one): made
    with mode 0700, and refused unless it is a real folder of this user's that no one
    else may enter."""
    runtime = environ.get("XDG_RUNTIME_DIR")
    temporary = Path(environ.get("TMPDIR") or "/tmp")
    base = Path(runtime) / "reelpipe" if runtime else temporary / f"reelpipe-{os.getuid()}"
    try:
        base.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UnsafePlace(f"cannot make the warm worker's folder: {exc.strerror}") from exc
    info = base.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise UnsafePlace("the warm worker's folder is not this user's own folder")
    if info.st_mode & 0o077:
        raise UnsafePlace("the warm worker's folder may be entered by other users")
    return base
