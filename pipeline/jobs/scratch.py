"""A job's scratch directory goes when its run does.

Each stage run cleans its own scratch folder (``<scratch>/<job id>/<stage>``), which
leaves ``<scratch>/<job id>`` behind, empty: one more directory under the temp root
for every job ever run. The worker prunes it after each run: only empty directories
are removed, so whatever a stage still holds (another worker of this machine on the
same job, a file kept for debugging) stays.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.core.errors import InvalidKey
from pipeline.core.keys import validate_job_id


def prune_job_scratch(scratch_dir: Path, job_id: str) -> None:
    """Remove ``scratch_dir/job_id`` and the empty directories under it, if nothing else
    is left there."""
    try:
        root = scratch_dir / validate_job_id(job_id)
    except InvalidKey:  # never a path outside the scratch directory
        return
    if not root.is_dir():
        return
    for folder, _dirs, _files in os.walk(root, topdown=False):
        try:
            os.rmdir(folder)
        except OSError:  # not empty (or gone already): leave it
            continue
