"""Each Modal image's package set, built alone in a fresh virtual environment from the lock,
imports every module its functions import: a package the image lacks (or a dependency the
lock missed) fails here, offline, instead of in a deployed container.

The environment is made without the network: each locked distribution is linked in from
this environment's own installed files (its version checked against the lock first), and
the pipeline's source is added as the image adds it. No Modal account is involved.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra import lock
from infra.functions import image_modules
from pipeline.stages.table import Image

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import importlib, importlib.util, json, sys
failed = {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"failed": failed, "moto": importlib.util.find_spec("moto") is not None,
                  "path": [p for p in sys.path if "site-packages" in p]}))
"""


def _on_disk(directory: Path) -> set[str]:
    """The files under ``directory``, relative to its parent, caches left out."""
    found = set()
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found |= {str(Path(root, f).relative_to(directory.parent)) for f in files}
    return found


def link_distribution(name: str, version: str, site: Path) -> int:
    """Link ``name``'s installed files into ``site``: a whole top-level directory when it
    holds nothing but this distribution's files (caches included, so nothing recompiles),
    else file by file (a namespace other distributions share); the links made."""
    dist = metadata.distribution(name)
    assert dist.version == version, f"{name} is {dist.version} here, {version} in the lock"
    by_top: dict[str, list[Path]] = {}
    for file in dist.files or ():
        if file.parts[0] != "..":  # scripts, outside site-packages
            by_top.setdefault(file.parts[0], []).append(Path(*file.parts))
    linked = 0
    for top, files in by_top.items():
        source = Path(str(dist.locate_file(top)))
        own = {str(f) for f in files if "__pycache__" not in f.parts}
        if source.is_dir() and _on_disk(source) <= own:
            files = [Path(top)]
        for file in files:
            source, target = Path(str(dist.locate_file(file))), site / file
            if target.exists() or not source.exists() or "__pycache__" in target.parent.parts:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
            linked += 1
    return linked


def fresh_environment(image: Image, root: Path) -> Path:
    """A virtual environment holding only ``image``'s locked packages and the pipeline."""
    venv = root / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    (site,) = (venv / "lib").glob("python3*/site-packages")
    for name, version in lock.read_lock()[image.value].items():
        assert link_distribution(name, version, site) > 0, name
    (site / "pipeline").symlink_to(REPO / "pipeline")
    return venv


@pytest.mark.slow
@pytest.mark.parametrize("image", list(Image))
def test_each_image_imports_its_functions_modules_from_its_locked_packages_alone(
    image: Image, tmp_path: Path
) -> None:
    """Only the lock's packages (no moto, nothing from this environment's other packages):
    every module of every function of the image imports."""
    venv = fresh_environment(image, tmp_path)
    modules = image_modules(image)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "YOLO_OFFLINE": "1",
        "YOLO_CONFIG_DIR": str(tmp_path / "ultralytics"),
    }
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", PROBE, json.dumps(modules)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        check=True,
    )
    report = json.loads(out.stdout.splitlines()[-1])  # ultralytics prints its own lines
    assert report["failed"] == {}, report["failed"]
    assert report["moto"] is False
    assert all(str(tmp_path) in path for path in report["path"]), report["path"]
