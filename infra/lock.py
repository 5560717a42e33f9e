"""The one lock of the Modal images: the exact versions the suite runs, per image only what
that image's functions import.

``infra/images.lock.json`` holds, for each image (``pipeline.stages.table.Image``), every
distribution it installs, pinned: the image's roots (below) and everything they require,
resolved from the metadata of the packages installed in this environment, which is the
environment the suite runs in. ``infra/modal_app.py`` installs exactly those pins
(``--no-deps``: nothing else is resolved at build time), so two deploys of one commit build
the same images, and the versions they hold are the versions that were tested.

Update it after changing a dependency (``scripts/bootstrap --dev`` first), with::

    .venv/bin/python -m infra.lock            # rewrite infra/images.lock.json
    .venv/bin/python -m infra.lock --check    # exit 1 if it is stale

The roots are the project's runtime dependencies (read from pyproject.toml: a dependency
added there fails the suite until the lock is rewritten) less what only the embedded store
and ``serve`` use (moto and Flask serve S3 locally; uvicorn serves the webhook locally;
Modal serves the ASGI app itself), plus the extras an image's functions need. No test tool
is a root.
This module imports nothing outside the standard library and ``packaging``.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import json
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK_PATH = Path(__file__).with_name("images.lock.json")
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# What each image adds to the project's runtime dependencies (pyproject.toml's
# ``dependencies``, which the pipeline package imports, plus the ``web`` extra's ASGI
# framework): the extras its model functions import.
IMAGE_EXTRAS: dict[str, tuple[str, ...]] = {
    "base": ("web",),
    "yolo": ("web", "ml"),
    "upscale": ("web", "upscale"),
}


# Never in a production image: the embedded store, the local server, the test tools.
NEVER_IN_IMAGES = frozenset(
    canonicalize_name(n)
    for n in (
        "moto",
        "flask",
        "flask-cors",
        "uvicorn",
        "pytest",
        "pytest-timeout",
        "ruff",
        "mypy",
        "boto3-stubs",
        "awscli",
        "playwright",
        "scikit-video",
        "modal",  # Modal installs its own client in every image
    )
)


class LockError(Exception):
    """The installed packages cannot give an image's closure (a requirement not installed)."""


def _installed() -> dict[str, metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), dist)
    return found


def closure(roots: Iterable[str], installed: Mapping[str, metadata.Distribution]) -> dict[str, str]:
    """``{name: version}`` of ``roots`` and all they require on this platform, following
    the extras a requirement asks for (``cuda-toolkit[cufile,...]``)."""
    base = {key: str(value) for key, value in default_environment().items()}
    pinned: dict[str, str] = {}
    done: set[tuple[str, str]] = set()
    pending = [(canonicalize_name(r), "") for r in roots]
    while pending:
        name, extra = pending.pop()
        if (name, extra) in done:
            continue
        done.add((name, extra))
        dist = installed.get(name)
        if dist is None:
            raise LockError(f"{name} is required but not installed: run scripts/bootstrap --dev")
        pinned[name] = dist.version
        environment: dict[str, str] = {**base, "extra": extra}
        for line in dist.requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                wanted = canonicalize_name(requirement.name)
                pending += [(wanted, ""), *((wanted, e) for e in sorted(requirement.extras))]
    return dict(sorted(pinned.items()))


def image_roots(pyproject_text: str) -> dict[str, tuple[str, ...]]:
    """Each image's root packages: the project's runtime dependencies and its extras,
    less what never goes into an image."""
    project = tomllib.loads(pyproject_text)["project"]
    extras = project.get("optional-dependencies", {})
    roots: dict[str, tuple[str, ...]] = {}
    for image, names in IMAGE_EXTRAS.items():
        lines = [*project["dependencies"], *(x for e in names for x in extras.get(e, ()))]
        wanted = (str(canonicalize_name(Requirement(line).name)) for line in lines)
        roots[image] = tuple(dict.fromkeys(n for n in wanted if n not in NEVER_IN_IMAGES))
    return roots


def resolve(pyproject_text: str | None = None) -> dict[str, dict[str, str]]:
    """Each image's pinned closure, from the packages installed here."""
    text = PYPROJECT.read_text() if pyproject_text is None else pyproject_text
    installed = _installed()
    return {image: closure(roots, installed) for image, roots in image_roots(text).items()}


def declared(pyproject_text: str) -> dict[str, Requirement]:
    """Every requirement a pyproject.toml declares (the core and each extra), by name."""
    project = tomllib.loads(pyproject_text)["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    found: dict[str, Requirement] = {}
    for line in lines:
        requirement = Requirement(line)
        found.setdefault(canonicalize_name(requirement.name), requirement)
    return found


def disagreements(images: Mapping[str, Mapping[str, str]], pyproject_text: str) -> list[str]:
    """Where the lock and the project's dependencies disagree: a root of the image (a
    dependency the project declares for it) the lock lacks, a locked version outside the
    project's range, a package no image may hold."""
    requirements = declared(pyproject_text)
    roots = image_roots(pyproject_text)
    found = []
    for image, pinned in images.items():
        for root in roots.get(image, ()):
            if root not in pinned:
                found.append(f"{image}: {root} is a dependency but not in the lock")
        for name, version in pinned.items():
            if name in NEVER_IN_IMAGES:
                found.append(f"{image}: {name} is never installed in an image")
            elif name in requirements:
                spec = requirements[name].specifier
                if not spec.contains(version, prereleases=True):
                    found.append(f"{image}: {name}=={version} is outside pyproject's {spec}")
    return found


def document(images: Mapping[str, Mapping[str, str]]) -> str:
    """The lock file's text."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    body = {
        "_": "generated by `python -m infra.lock`; do not edit",
        "python": python,
        "images": images,
    }
    return json.dumps(body, indent=1, sort_keys=True) + "\n"


def read_lock(path: Path = LOCK_PATH) -> dict[str, dict[str, str]]:
    """``{image: {name: version}}`` from the lock file."""
    images: dict[str, dict[str, str]] = json.loads(path.read_text())["images"]
    return images


def locked_python(path: Path = LOCK_PATH) -> str:
    """The Python version the lock was made with (the images' Python)."""
    return str(json.loads(path.read_text())["python"])


def pins(image: str, path: Path = LOCK_PATH) -> list[str]:
    """``name==version`` for every distribution ``image`` installs."""
    return [f"{name}=={version}" for name, version in read_lock(path)[image].items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.lock", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the lock is stale")
    args = parser.parse_args(argv)
    images = resolve()
    problems = disagreements(images, PYPROJECT.read_text())
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    text = document(images)
    if args.check:
        if LOCK_PATH.read_text() != text:
            print(f"{LOCK_PATH.name} is stale: run python -m infra.lock", file=sys.stderr)
            return 1
        return 0
    LOCK_PATH.write_text(text)
    images = read_lock()
    print(", ".join(f"{image}: {len(pinned)} packages" for image, pinned in images.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
