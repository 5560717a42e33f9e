"""What each Modal function's container pays before its first request, measured here.

Per function of ``infra/functions.py``, in a fresh interpreter each time (median of N):
  app        importing the app file alone (modal + the stage table): every container
  modules    the app file and the modules its body imports (and, for a model function, the
             model code: torch / ultralytics; no weights are loaded here)
  client     making the container's bucket and settings (a boto3 client) once imported

Before: every cold start paid ``modules`` (the app file at start, the rest inside the first
request) and every call made its own client. After: a snapshot function pays ``modules``
once, when Modal takes the snapshot, and each container restored from it pays only
``client`` (plus Modal's restore, which cannot be measured here); a model function imports
and loads at start, before any request, as the model classes did.

Usage (from the repository root): python -m bench.modal_imports [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from infra.functions import APP_MODULES, FUNCTIONS, container_modules

PROBE = """
import importlib, json, sys, time
began = time.perf_counter()
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
imported = time.perf_counter() - began
client = 0.0
if sys.argv[2] == "client":
    import infra.modal_app as m
    began = time.perf_counter()
    m._bucket_and_settings()
    client = time.perf_counter() - began
print(json.dumps({"imported": imported, "client": client}))
"""


def measure(modules: list[str], client: bool) -> dict[str, float]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("REELPIPE_")},
        "REELPIPE_ENDPOINT_URL": "http://127.0.0.1:9",  # a client is made, never used
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "YOLO_OFFLINE": "1",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(modules), "client" if client else "-"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.splitlines()[-1])
    return result


def median_of(runs: int, modules: list[str], client: bool) -> dict[str, float]:
    samples = [measure(modules, client) for _ in range(runs)]
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    app = median_of(args.runs, ["modal", *APP_MODULES, "infra.modal_app"], client=False)
    print(f"app file alone: {app['imported']:.2f} s")
    print("| function | snapshot | modules s | client s | cold start before | after |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, spec in FUNCTIONS.items():
        modules = ["modal", *container_modules(name), "infra.modal_app"]
        got = median_of(args.runs, modules, client=True)
        before = got["imported"] + got["client"]
        after = f"{got['client']:.2f} + restore" if spec.snapshot else f"{before:.2f}"
        print(
            f"| {name} | {'yes' if spec.snapshot else 'no'} | {got['imported']:.2f} |"
            f" {got['client']:.3f} | {before:.2f} | {after} |"
        )


if __name__ == "__main__":
    main()
