"""Keep the embedded S3 server's objects on disk, so ``reelpipe serve`` survives a restart.

moto holds objects in memory. A snapshot saves every bucket's objects into a
data directory, one file per object plus an index (ETag, content type,
modification time), and loads them back into moto's backend at start with
their ETags: job ids, stage cache keys and compare-and-swap versions stay valid
across restarts (a multipart upload keeps its ``-N`` ETag).

Saves are incremental (only objects whose ETag changed are written, each to a
temporary name then renamed; the index is replaced last) and run every
``interval_s`` and at shutdown, so a SIGKILL loses at most the last interval.

Layout::

    {data_dir}/s3/{bucket}/index.json          key -> file, etag, content type, time
    {data_dir}/s3/{bucket}/objects/{sha256}    the object's bytes

Example::

    snapshot = Snapshot(Path("~/.local/share/reelpipe").expanduser())
    snapshot.load()        # before serving
    snapshot.save()        # periodically, and once more at shutdown
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

_ATTEMPTS = 3  # a listing that races a concurrent write is simply taken again


def _backend() -> Any:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


class Snapshot:
    """The embedded store's objects under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "s3"
        self._lock = threading.Lock()  # one save at a time (the timer and the shutdown)

    def load(self, region: str = "us-east-1") -> int:
        """Put every saved object back into moto's backend; returns how many."""
        backend = _backend()
        loaded = 0
        if not self.root.is_dir():
            return 0
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            index_path = folder / "index.json"
            if not index_path.is_file():
                continue
            index = json.loads(index_path.read_text())
            name = folder.name
            if name not in backend.buckets:
                backend.create_bucket(name, index.get("region", region))
            for key, entry in index["objects"].items():
                data = (folder / "objects" / entry["file"]).read_bytes()
                obj = backend.put_object(
                    name, key, data, etag=entry["etag"], disable_notification=True
                )
                obj.set_metadata({"Content-Type": entry["content_type"]})
                obj.last_modified = datetime.fromisoformat(entry["last_modified"])
                loaded += 1
        log.info("embedded_store_loaded", objects=loaded, data_dir=str(self.root.parent))
        return loaded

    def save(self) -> int:
        """Write what changed since the last save; returns how many objects were written."""
        with self._lock:
            backend = _backend()
            written = 0
            for name, bucket in list(backend.buckets.items()):
                written += self._save_bucket(name, bucket)
            return written

    def _save_bucket(self, name: str, bucket: Any) -> int:
        folder = self.root / name
        objects_dir = folder / "objects"
        objects_dir.mkdir(parents=True, exist_ok=True)
        index_path = folder / "index.json"
        old: dict[str, Any] = (
            json.loads(index_path.read_text())["objects"] if index_path.is_file() else {}
        )
        items = _listing(bucket)
        new: dict[str, Any] = {}
        written = 0
        for key, obj in items:
            etag = obj.etag.strip('"')
            entry = old.get(key)
            if entry is None or entry["etag"] != etag:
                file = hashlib.sha256(key.encode()).hexdigest()
                _write_atomically(objects_dir / file, obj.value)
                entry = {"file": file, "etag": etag}
                written += 1
            entry["content_type"] = obj.metadata.get("Content-Type") or "binary/octet-stream"
            entry["last_modified"] = obj.last_modified.isoformat()
            new[key] = entry
        if new != old:
            document = {"region": bucket.region_name, "objects": new}
            _write_atomically(index_path, json.dumps(document).encode())
            for key in old.keys() - new.keys():
                (objects_dir / old[key]["file"]).unlink(missing_ok=True)
        return written


def _listing(bucket: Any) -> list[tuple[str, Any]]:
    """The bucket's current objects (the listing is retried if a write races it)."""
    for attempt in range(_ATTEMPTS):
        try:
            return [(k, v) for k, v in list(bucket.keys.items()) if hasattr(v, "value")]
        except (RuntimeError, KeyError):  # a write raced the listing
            if attempt == _ATTEMPTS - 1:
                raise
    return []


class PeriodicSaver:
    """Saves a snapshot every ``interval_s`` in a background thread, and once at stop."""

    def __init__(self, snapshot: Snapshot, interval_s: float = 5.0) -> None:
        self.snapshot = snapshot
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="store-snapshot")

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.snapshot.save()
            except Exception as exc:  # noqa: BLE001 - the next tick tries again
                log.error("embedded_store_save_failed", error=str(exc))

    def stop(self) -> None:
        """Stop the timer and save what is left."""
        self._stop.set()
        self._thread.join()
        self.snapshot.save()
