"""The one exception tree of reelpipe, split by what the caller does next.

    ReelpipeError
    ├── ConfigError                 settings are wrong: fix them and start again
    ├── RetryableError              try again later (with backoff)
    │   ├── StorageUnavailable      S3 5xx, throttling, connection failures, read timeouts
    │   ├── EncoderCrashed          ffmpeg/x264 died (or stalled) on a clip that probed fine
    │   ├── ToolStopped             ffmpeg/ffprobe was killed by a signal (says nothing of the clip)
    │   ├── WorkerLost              the job's worker died (killed, out of memory) too often
    │   └── WorkerCrashed           the job crashed its worker (an unexpected error) too often
    ├── ConflictError               someone else wrote first
    │   ├── AlreadyExists           a create-if-absent lost (If-None-Match: *)
    │   ├── PreconditionFailed      a compare-and-swap lost (If-Match: <etag>)
    │   ├── LeaseHeld               another live worker runs the job
    │   └── LeaseLost               this worker's lease was taken over: it must not write again
    ├── StageInterrupted            the worker is stopping (SIGTERM): hand the job back
    ├── StorageError                a request S3 refused for good
    │   ├── ObjectNotFound          no such key
    │   ├── BucketNotFound          no such bucket
    │   └── AccessDenied            credentials refused
    └── JobError                    the job itself is bad: record it and stop
        ├── InvalidKey              a key or id that could escape its user's folder
        ├── InvalidManifest         the job manifest does not validate
        ├── InputNotFound           the clip the manifest names is not there
        │   └── ClipsBeingMade      a reel's clips are not all made yet: the reel waits
        │       └── ClipNotUploaded one of them is not even uploaded yet
        ├── InvalidMedia            the clip is not a decodable video
        ├── LimitExceeded           the clip is over a configured limit
        ├── StageParamsInvalid      parameters that do not fit this clip
        ├── ReelClipFailed          a reel's clip failed (the reel carries its kind)
        └── InvalidQuery            an operator's query that cannot be answered as asked

Every JobError has an ``ErrorKind`` that is written into the status manifest.
Messages say what went wrong and how to fix it, and never carry secrets.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """The error kinds a status manifest can carry."""

    INVALID_KEY = "invalid_key"
    INVALID_MANIFEST = "invalid_manifest"
    INPUT_NOT_FOUND = "input_not_found"
    INVALID_MEDIA = "invalid_media"
    LIMIT_EXCEEDED = "limit_exceeded"
    INVALID_PARAMS = "invalid_params"
    ENCODER_FAILED = "encoder_failed"
    WORKER_LOST = "worker_lost"
    WORKER_CRASHED = "worker_crashed"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    INTERNAL = "internal"

    @property
    def transient(self) -> bool:
        """True for failures that another run may not repeat (worth reprocessing)."""
        return self in (
            ErrorKind.ENCODER_FAILED,
            ErrorKind.WORKER_LOST,
            ErrorKind.WORKER_CRASHED,
            ErrorKind.STORAGE_UNAVAILABLE,
            ErrorKind.INTERNAL,
        )


MAX_MESSAGE_CHARS = 2048


def bounded_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut (status, logs)."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return f"{text[:limit]}... [{cut} more characters cut]"


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret replaced by ``***`` (the one place secrets are masked:
    status errors and logs alike)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class ReelpipeError(Exception):
    """Base of every error reelpipe raises on purpose."""

    kind: ErrorKind = ErrorKind.INTERNAL
    # Inside a fused pass: the stage it came from (set where it is raised), else None.
    stage: str | None = None


class ConfigError(ReelpipeError):
    """Settings are missing or inconsistent."""


class RetryableError(ReelpipeError):
    """A transient failure: the same call may succeed later."""


class StorageUnavailable(RetryableError):
    """The object store is throttling, failing (5xx) or unreachable."""

    kind = ErrorKind.STORAGE_UNAVAILABLE


class EncoderCrashed(RetryableError):
    """The encoder exited abnormally on input that probed as valid."""

    kind = ErrorKind.ENCODER_FAILED


class ToolStopped(RetryableError):
    """ffmpeg or ffprobe was killed by a signal from outside (a supervisor stopping the
    whole process tree, the OOM killer): the clip is not at fault."""

    kind = ErrorKind.ENCODER_FAILED


class WorkerLost(RetryableError):
    """The job's worker stopped without finishing, more times than allowed."""

    kind = ErrorKind.WORKER_LOST


class WorkerCrashed(RetryableError):
    """Running the job raised an unexpected error, more times than allowed."""

    kind = ErrorKind.WORKER_CRASHED


class ConflictError(ReelpipeError):
    """A conditional write lost against a concurrent writer."""


class TransitionRefused(ConflictError):
    """A status change asked of a job in a state it is not left that way (a cancelled or
    finished job succeeded, a running one requeued)."""


class AlreadyExists(ConflictError):
    """A create-if-absent found the key already there."""


class PreconditionFailed(ConflictError):
    """A compare-and-swap found a different ETag than expected."""


class LeaseHeld(ConflictError):
    """Another live worker holds the job's lease."""


class LeaseLost(ConflictError):
    """This worker's lease was taken over (or handed back): it must never write again."""


class StageInterrupted(ReelpipeError):
    """The worker was told to stop; the stage stopped at a frame boundary, nothing failed."""


class JobCancelled(ReelpipeError):
    """The job's owner asked to cancel it: the running stage stopped at a frame boundary."""


class StorageError(ReelpipeError):
    """The object store refused a request for a reason retrying won't fix."""


class ObjectNotFound(StorageError):
    """The key does not exist."""


class BucketNotFound(StorageError):
    """The bucket does not exist."""


class AccessDenied(StorageError):
    """The credentials were refused."""


class JobError(ReelpipeError):
    """The job cannot succeed as submitted; it is failed at once, never retried."""


class InvalidKey(JobError, ValueError):
    """A user id, request id or key that is malformed or could escape its folder."""

    kind = ErrorKind.INVALID_KEY


class InvalidManifest(JobError):
    """The job manifest does not validate."""

    kind = ErrorKind.INVALID_MANIFEST


class InputNotFound(JobError):
    """The clip named by the manifest is not in the bucket."""

    kind = ErrorKind.INPUT_NOT_FOUND


class ClipsBeingMade(InputNotFound):
    """A reel's clips are not all made yet: the reel waits and is looked at again."""


class ClipNotUploaded(ClipsBeingMade):
    """A clip a reel names is not uploaded yet: the reel waits for it, as a job does."""


class ReelClipFailed(JobError):
    """A clip of a reel failed: the reel fails with that clip's kind, so a transient
    failure (an encoder crash) makes the reel worth running again, like its clip."""

    kind = ErrorKind.INVALID_PARAMS  # a clip cancelled on its own: no error of its own

    def __init__(self, message: str, kind: ErrorKind) -> None:
        super().__init__(message)
        self.kind = kind


class InvalidMedia(JobError):
    """The clip cannot be decoded as a video."""

    kind = ErrorKind.INVALID_MEDIA


class LimitExceeded(JobError):
    """The clip is larger, longer or bigger in pixels than the settings allow."""

    kind = ErrorKind.LIMIT_EXCEEDED


class StageParamsInvalid(JobError):
    """Stage parameters that are valid on their own but do not fit this clip."""

    kind = ErrorKind.INVALID_PARAMS


class InvalidQuery(JobError, ValueError):
    """A query of the operator's API that cannot be answered as asked (a ``since`` in the
    future, say): the client fixes the query; nothing is recorded in any job."""

    kind = ErrorKind.INVALID_PARAMS
