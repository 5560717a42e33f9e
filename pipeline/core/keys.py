"""Every bucket key reelpipe reads or writes is built and validated here.

Layout::

    users/{user_id}/...                               the user's own files
    inbox/{user_id}/{request_id}.json                 a job manifest waiting to be claimed
    users/{user_id}/jobs/{job_id}/manifest.json       the accepted manifest
    users/{user_id}/jobs/{job_id}/status.json         the status manifest
    users/{user_id}/jobs/{job_id}/{stage}/run-{epoch}/{name}
                                                      stage artifacts, per run (lease epoch): a
                                                      stale worker's late upload never replaces
                                                      what a finished status names
    active/{user_id}/{job_id}                         a claimed job not yet finished (an index,
                                                      so a scan never lists history)
    rejected/{original inbox key}                     an inbox object that is not a valid
                                                      manifest key, moved aside
    rejected/{original inbox key}.reason.json         why it was moved

A manifest may only name keys under its own ``users/{user_id}/``; anything that
could escape it (``..``, a leading ``/``, backslashes, control characters, empty
segments, over-long keys) raises :class:`~pipeline.core.errors.InvalidKey`.

Example::

    >>> user_key("alice", "clips/game1.mp4")
    'users/alice/clips/game1.mp4'
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pipeline.core.errors import InvalidKey

USERS_PREFIX = "users/"
INBOX_PREFIX = "inbox/"
ACTIVE_PREFIX = "active/"
REJECTED_PREFIX = "rejected/"
MAX_RELATIVE_KEY_BYTES = 512
MAX_SEGMENT_BYTES = 255

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_JOB_ID = re.compile(r"[0-9a-f]{20}")
_STAGE_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def validate_id(value: str, what: str = "user id") -> str:
    """Return ``value`` if it is a safe id (letters, digits, ``_.-``; no ``..``)."""
    if not isinstance(value, str) or not _ID.fullmatch(value) or ".." in value:
        raise InvalidKey(
            f"{what} {value!r} is not allowed: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit, and no '..'"
        )
    return value


def validate_relative_key(key: str) -> str:
    """Return ``key`` if it is safe to append to ``users/{user_id}/``."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("key is empty: name a file such as 'clips/game1.mp4'")
    shown = key if len(key) <= 80 else key[:77] + "..."
    if len(key.encode("utf-8")) > MAX_RELATIVE_KEY_BYTES:
        raise InvalidKey(f"key {shown!r} is longer than {MAX_RELATIVE_KEY_BYTES} bytes")
    if key.startswith("/"):
        raise InvalidKey(f"key {shown!r} starts with '/': keys are relative to the user folder")
    if "\\" in key:
        raise InvalidKey(f"key {shown!r} contains a backslash: use '/' between folders")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        raise InvalidKey(f"key {shown!r} contains a control character")
    for segment in key.split("/"):
        if segment == "":
            raise InvalidKey(f"key {shown!r} has an empty path segment ('//' or a trailing '/')")
        if segment in (".", ".."):
            raise InvalidKey(f"key {shown!r} contains a '{segment}' segment")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidKey(f"key {shown!r} has a segment longer than {MAX_SEGMENT_BYTES} bytes")
    return key


def user_prefix(user_id: str) -> str:
    """``users/{user_id}/``."""
    return f"{USERS_PREFIX}{validate_id(user_id)}/"


def user_key(user_id: str, relative_key: str) -> str:
    """The absolute key of a file the user owns, from a key relative to their folder."""
    return user_prefix(user_id) + validate_relative_key(relative_key)


@dataclass(frozen=True)
class InboxEntry:
    """The parts of an ``inbox/{user_id}/{request_id}.json`` key."""

    user_id: str
    request_id: str

    @property
    def key(self) -> str:
        """The inbox key."""
        return inbox_key(self.user_id, self.request_id)


def inbox_key(user_id: str, request_id: str) -> str:
    """``inbox/{user_id}/{request_id}.json``."""
    validate_id(user_id)
    validate_id(request_id, "request id")
    return f"{INBOX_PREFIX}{user_id}/{request_id}.json"


def parse_inbox_key(key: str) -> InboxEntry:
    """Split an inbox key into user and request ids, validating both."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != INBOX_PREFIX.rstrip("/") or not parts[2].endswith(".json"):
        raise InvalidKey(f"{key!r} is not an inbox key of the form inbox/<user>/<request>.json")
    entry = InboxEntry(validate_id(parts[1]), validate_id(parts[2][: -len(".json")], "request id"))
    return entry


def job_id_for(manifest_key: str, etag: str) -> str:
    """The job id of a manifest upload: the same key and ETag always give the same job."""
    digest = hashlib.sha256(f"{manifest_key}\n{etag.strip(chr(34))}".encode()).hexdigest()
    return digest[:20]


def validate_job_id(job_id: str) -> str:
    """Return ``job_id`` if it has the shape :func:`job_id_for` produces."""
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise InvalidKey(f"job id {job_id!r} is not 20 lowercase hex digits")
    return job_id


def job_prefix(user_id: str, job_id: str) -> str:
    """``users/{user_id}/jobs/{job_id}/``."""
    return f"{user_prefix(user_id)}jobs/{validate_job_id(job_id)}/"


def job_manifest_key(user_id: str, job_id: str) -> str:
    """Where an accepted manifest is kept."""
    return job_prefix(user_id, job_id) + "manifest.json"


@dataclass(frozen=True)
class JobRef:
    """A job by its user and id."""

    user_id: str
    job_id: str


def status_key(user_id: str, job_id: str) -> str:
    """Where the status manifest of a job lives."""
    return job_prefix(user_id, job_id) + "status.json"


def parse_status_key(key: str) -> JobRef:
    """The job whose status manifest ``key`` is (``users/<user>/jobs/<job>/status.json``)."""
    parts = key.split("/")
    if len(parts) != 5 or parts[0] != "users" or parts[2] != "jobs" or parts[4] != "status.json":
        raise InvalidKey(f"{key!r} is not a status key of the form users/<u>/jobs/<j>/status.json")
    return JobRef(validate_id(parts[1]), validate_job_id(parts[3]))


def stage_key(user_id: str, job_id: str, stage: str, name: str, *, epoch: int | None = None) -> str:
    """An artifact a stage writes, e.g. ``.../framing/run-3/video.mp4`` (run 3 of the job,
    its lease epoch) or ``.../framing/video.mp4`` when no epoch is given."""
    validate_id(stage, "stage name")
    if not _STAGE_FILE.fullmatch(name) or ".." in name:
        raise InvalidKey(f"artifact name {name!r} is not allowed")
    run = "" if epoch is None else f"run-{int(epoch)}/"
    return f"{job_prefix(user_id, job_id)}{stage}/{run}{name}"


def rejected_key(inbox_object_key: str) -> str:
    """Where an invalid inbox object is moved: ``rejected/{original key}``."""
    return REJECTED_PREFIX + inbox_object_key


def active_key(user_id: str, job_id: str) -> str:
    """``active/{user_id}/{job_id}``: present while the job is not finished."""
    return f"{ACTIVE_PREFIX}{validate_id(user_id)}/{validate_job_id(job_id)}"


def parse_active_key(key: str) -> JobRef:
    """The job an ``active/`` marker stands for."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != ACTIVE_PREFIX.rstrip("/"):
        raise InvalidKey(f"{key!r} is not an active-job key of the form active/<user>/<job>")
    return JobRef(validate_id(parts[1]), validate_job_id(parts[2]))
