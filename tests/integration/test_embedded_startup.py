"""What keeps ``reelpipe process``'s fixed start-up short: its embedded store's child
loads neither the settings nor the logging libraries (so it is ready sooner), and
``process`` starts that child before it loads the settings and the pipeline, which
then load while the child boots on the other core.

Both are read from real runs: the child's imports as ``python -X importtime`` reports
them, and ``process``'s imports and process starts in the order its audit events came."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.factories import make_clip

# What the store's child must not load: the settings (pydantic-settings) and the logging
# (structlog, and rich under it). moto, werkzeug and botocore are what it needs.
HEAVY_FOR_THE_CHILD = ("pipeline.core.settings", "pydantic_settings", "structlog", "rich")
# What ``process`` loads only once its store's child is started: the parser's own
# imports (the manifests, pydantic, numpy, the settings library) and the pipeline's.
LOADED_AFTER_THE_CHILD = (
    "pydantic",
    "pydantic_settings",
    "numpy",
    "pipeline.manifests.status",
    "pipeline.core.settings",
    "pipeline.jobs.compose",
    "pipeline.jobs.process",
    "structlog",
    "boto3",
    "av",
)
# ``reelpipe process`` in a fresh interpreter, recording the first import of each module
# and each process it starts, in order (audit events: raised where they happen).
RECORDED_PROCESS = """
import json, sys
events = []

def record(event, args):
    if event == "import":
        events.append(["import", args[0]])
    elif event == "subprocess.Popen":
        events.append(["popen", " ".join(map(str, args[1]))])

sys.addaudithook(record)
from pipeline.cli.main import main

code = main(sys.argv[2:])
with open(sys.argv[1], "w") as fh:
    json.dump(events, fh)
sys.exit(code)
"""


def test_the_stores_child_loads_neither_settings_nor_logging() -> None:
    """The child as :class:`EmbeddedS3Process` runs it, its key pair on stdin, which then
    closes: it serves (prints its endpoint), then stops."""
    keys = json.dumps({"id": "reelpipe-test", "secret": "s" * 32}) + "\n"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pipeline.storage.embedded_process"],
        input=keys,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.startswith("http://127.0.0.1:")
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert {"moto", "werkzeug", "pipeline.storage.embedded"} <= modules
    loaded = [
        m for m in modules if m in HEAVY_FOR_THE_CHILD or m.split(".")[0] in HEAVY_FOR_THE_CHILD
    ]
    assert loaded == []


def test_process_starts_its_store_before_it_loads_the_pipeline(tmp_path: Path) -> None:
    clip, _ = make_clip(tmp_path, duration_s=0.5)
    out, record = tmp_path / "out", tmp_path / "events.json"
    env = {**os.environ, "REELPIPE_SCRATCH_DIR": str(tmp_path / "scratch")}
    env.pop("REELPIPE_ENDPOINT_URL", None)
    command = [sys.executable, "-c", RECORDED_PROCESS, str(record), "process", str(clip)]
    done = subprocess.run(
        [*command, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "output.mp4").stat().st_size > 0
    events = json.loads(record.read_text())
    child = next(
        i
        for i, (kind, what) in enumerate(events)
        if kind == "popen" and "pipeline.storage.embedded_process" in what
    )
    first_import = {what: i for i, (kind, what) in reversed(list(enumerate(events)))}
    before_the_child = [
        name for name in LOADED_AFTER_THE_CHILD if first_import.get(name, len(events)) < child
    ]
    assert before_the_child == []
    assert all(name in first_import for name in LOADED_AFTER_THE_CHILD)
