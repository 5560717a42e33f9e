"""The package's metadata builds without setuptools' deprecation warnings: the license
is an SPDX expression, not the table form."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = (
    "import sys; from setuptools import build_meta; "
    "print(build_meta.prepare_metadata_for_build_wheel(sys.argv[1]))"
)


def test_metadata_builds_quietly_with_an_spdx_license(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-W", "always", "-c", BUILD, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "Deprecat" not in run.stderr, run.stderr[-2000:]
    metadata = (tmp_path / run.stdout.strip().splitlines()[-1] / "METADATA").read_text()
    assert "License-Expression: MIT" in metadata.splitlines()
