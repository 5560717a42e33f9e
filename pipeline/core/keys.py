"""Every bucket key reelpipe reads or writes is built and validated here.

Layout (``{root}`` is the user's folder, ``users/{user_id}/`` unless the settings'
``user_root`` says otherwise, e.g. ``{user_id}/`` for a bucket with a folder per user)::

    {root}...                                         the user's own files
    inbox/{user_id}/{request_id}.json                 a job manifest waiting to be claimed
    {root}requests/{request_id}.json                  the job behind a request (written once,
                                                      at the claim): {"job_id", "status_key"}
    {root}jobs/{job_id}/manifest.json                 the accepted manifest
    {root}jobs/{job_id}/status.json                   the status manifest
    {root}jobs/{job_id}/previews/run-{epoch}/...      the output's poster.jpg and preview.mp4
    {root}jobs/{job_id}/{stage}/run-{epoch}/{name}    stage artifacts, per run (lease epoch): a
                                                      stale worker's late upload never replaces
                                                      what a finished status names
    active/{user_id}/{job_id}                         a claimed job not yet finished (an index,
                                                      so a scan never lists history)
    rejected/{original inbox key}                     an inbox object that is not a valid
                                                      manifest key, moved aside
    rejected/{original inbox key}.reason.json         why it was moved
    index/finished/{day}/{inverse ms}-{job_id}-{user_id}.json
                                                      a job that finished that day (newest
                                                      first), for the operator's API
    index/hourly/{day}T{hour}.json, index/daily/{day}.json
                                                      rollups: counts, seconds, cost, stage
                                                      durations of the jobs finished then

A manifest may only name keys under its own user folder; anything that could escape
it (``..``, a leading ``/``, backslashes, control characters, empty segments,
over-long keys) raises :class:`~pipeline.core.errors.InvalidKey`, whatever the root.

Example::

    >>> Layout().user_key("alice", "clips/game1.mp4")
    'users/alice/clips/game1.mp4'
    >>> Layout("{user_id}/").status_key("alice", "0123456789abcdef0123")
    'alice/jobs/0123456789abcdef0123/status.json'
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from pipeline.core.errors import InvalidKey

DEFAULT_USER_ROOT = "users/{user_id}/"
USER_ID_FIELD = "{user_id}"
INBOX_PREFIX = "inbox/"
ACTIVE_PREFIX = "active/"
REJECTED_PREFIX = "rejected/"
INDEX_PREFIX = "index/"
MAX_RELATIVE_KEY_BYTES = 512
MAX_SEGMENT_BYTES = 255

# The shapes of an id and a job id, as regular expressions (the API publishes them too).
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"  # and no ".."
JOB_ID_PATTERN = r"[0-9a-f]{20}"
_ID = re.compile(ID_PATTERN)
_JOB_ID = re.compile(JOB_ID_PATTERN)
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


@dataclass(frozen=True)
class JobRef:
    """A job by its user and id."""

    user_id: str
    job_id: str


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


# Top-level folders of reelpipe's own: with a root such as ``{user_id}/`` a user of one
# of these names would share a folder with them.
RESERVED_TOP_LEVEL = frozenset(
    p.rstrip("/") for p in (INBOX_PREFIX, ACTIVE_PREFIX, REJECTED_PREFIX)
)


def validate_user_root(template: str) -> str:
    """Return ``template`` if it is a safe user-folder template: relative, ending in ``/``,
    with ``{user_id}`` exactly once and no ``..``, ``//`` or reelpipe's own folders."""
    if not isinstance(template, str) or template.count(USER_ID_FIELD) != 1:
        raise InvalidKey(f"user root {template!r} must contain {USER_ID_FIELD} exactly once")
    if not template.endswith("/"):
        raise InvalidKey(f"user root {template!r} must end with '/'")
    try:
        validate_relative_key(template.replace(USER_ID_FIELD, "u")[:-1])
    except InvalidKey as exc:
        raise InvalidKey(f"user root {template!r} is not a safe folder: {exc}") from None
    if "{" in template.replace(USER_ID_FIELD, "") or "}" in template.replace(USER_ID_FIELD, ""):
        raise InvalidKey(f"user root {template!r}: only {USER_ID_FIELD} may be substituted")
    first = template.split("/", 1)[0]
    if first in RESERVED_TOP_LEVEL:
        raise InvalidKey(f"user root {template!r} lies under reelpipe's own {first}/ folder")
    return template


@dataclass(frozen=True)
class Layout:
    """Where a user's files, requests and jobs live in the bucket, from the user-root
    template (``users/{user_id}/`` by default)."""

    user_root: str = DEFAULT_USER_ROOT
    _status: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_user_root(self.user_root)
        head, _, tail = self.user_root.partition(USER_ID_FIELD)
        pattern = re.escape(head) + r"([^/]+)" + re.escape(tail)
        object.__setattr__(self, "_status", re.compile(pattern + r"jobs/([^/]+)/status\.json"))

    @property
    def users_prefix(self) -> str:
        """The part of every user folder before the user id (``users/``; may be empty)."""
        return self.user_root.partition(USER_ID_FIELD)[0]

    def user_prefix(self, user_id: str) -> str:
        """The user's folder, e.g. ``users/{user_id}/``."""
        validate_id(user_id)
        if self.users_prefix == "" and user_id in RESERVED_TOP_LEVEL:
            raise InvalidKey(
                f"user id {user_id!r} is reserved with the user root {self.user_root!r}"
            )
        return self.user_root.replace(USER_ID_FIELD, user_id)

    def user_key(self, user_id: str, relative_key: str) -> str:
        """The absolute key of a file the user owns, from a key relative to their folder."""
        return self.user_prefix(user_id) + validate_relative_key(relative_key)

    def jobs_prefix(self, user_id: str) -> str:
        """``{root}jobs/``: every job of the user lies below."""
        return self.user_prefix(user_id) + "jobs/"

    def job_prefix(self, user_id: str, job_id: str) -> str:
        """``{root}jobs/{job_id}/``."""
        return f"{self.jobs_prefix(user_id)}{validate_job_id(job_id)}/"

    def job_manifest_key(self, user_id: str, job_id: str) -> str:
        """Where an accepted manifest is kept."""
        return self.job_prefix(user_id, job_id) + "manifest.json"

    def status_key(self, user_id: str, job_id: str) -> str:
        """Where the status manifest of a job lives."""
        return self.job_prefix(user_id, job_id) + "status.json"

    def request_key(self, user_id: str, request_id: str) -> str:
        """``{root}requests/{request_id}.json``: the job behind an inbox request."""
        validate_id(request_id, "request id")
        return f"{self.user_prefix(user_id)}requests/{request_id}.json"

    def parse_status_key(self, key: str) -> JobRef:
        """The job whose status manifest ``key`` is (``{root}jobs/<job>/status.json``)."""
        matched = self._status.fullmatch(key)
        if matched is None:
            raise InvalidKey(
                f"{key!r} is not a status key of the form {self.user_root}jobs/<j>/status.json"
            )
        return JobRef(validate_id(matched.group(1)), validate_job_id(matched.group(2)))

    def stage_key(
        self, user_id: str, job_id: str, stage: str, name: str, *, epoch: int | None = None
    ) -> str:
        """An artifact a stage writes, e.g. ``.../framing/run-3/video.mp4`` (run 3 of the
        job, its lease epoch) or ``.../framing/video.mp4`` when no epoch is given."""
        validate_id(stage, "stage name")
        if not _STAGE_FILE.fullmatch(name) or ".." in name:
            raise InvalidKey(f"artifact name {name!r} is not allowed")
        run = "" if epoch is None else f"run-{int(epoch)}/"
        return f"{self.job_prefix(user_id, job_id)}{stage}/{run}{name}"


DEFAULT_LAYOUT = Layout()


MILLISECONDS_A_DAY = 86_400_000


def finished_index_prefix(day: str) -> str:
    """``index/finished/{day}/``: the jobs finished on ``day`` (``YYYY-MM-DD``)."""
    return f"{INDEX_PREFIX}finished/{day}/"


def finished_index_key(day: str, ms_of_day: int, user_id: str, job_id: str) -> str:
    """An entry of the finished-jobs index; later in the day sorts first (to the ms)."""
    inverse = MILLISECONDS_A_DAY - 1 - min(max(ms_of_day, 0), MILLISECONDS_A_DAY - 1)
    return (
        f"{finished_index_prefix(day)}{inverse:08d}-{validate_job_id(job_id)}-"
        f"{validate_id(user_id)}.json"
    )


def parse_finished_index_key(key: str) -> JobRef:
    """The job an ``index/finished/`` entry stands for."""
    name = key.rsplit("/", 1)[-1]
    if not key.startswith(f"{INDEX_PREFIX}finished/") or not name.endswith(".json"):
        raise InvalidKey(f"{key!r} is not a finished-jobs index entry")
    return JobRef(validate_id(name[30:-5]), validate_job_id(name[9:29]))


def rollup_key(period: str) -> str:
    """``index/hourly/{YYYY-MM-DDTHH}.json`` or ``index/daily/{YYYY-MM-DD}.json``."""
    kind = "hourly" if "T" in period else "daily"
    return f"{INDEX_PREFIX}{kind}/{period}.json"
