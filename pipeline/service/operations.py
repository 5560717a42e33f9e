"""What the operator's API reads: pages of jobs, the summary, a job's links.

Costs, in S3 requests (never the bucket's whole history):

- a page of one user's jobs: one listing of that user's job folder + one GET a job shown;
- a page of unfinished jobs: the ``active/`` listing (a request a 1,000 jobs: each marker
  says its job's state, :mod:`pipeline.status.marker`) and a GET per job shown, read in
  parallel, never one per job listed;
- a page of everyone's jobs: the same for its unfinished jobs (first page only), then the
  newest days of ``index/finished/`` (one listing a day looked at, at most ``MAX_DAYS``)
  and a GET per finished job shown;
- with a ``since``: first one listing of the index's day folders from ``since`` on (1,000
  days a request), then a listing of each day the index has: a ``since`` before the index
  began costs what the index holds, never a listing a calendar day;
- a page never costs much more than ``MAX_PAGE_REQUESTS``: one whose filter few jobs
  pass stops there and hands back a cursor to go on from;
- the summary: the ``active/`` listing, 24 hourly and 7 daily rollups.

A marker written before markers said a state costs a GET of its status, as before.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipeline.client.app_client import ReelpipeClient
from pipeline.core.errors import InvalidKey, InvalidQuery, ObjectNotFound
from pipeline.core.keys import (
    ACTIVE_PREFIX,
    INDEX_PREFIX,
    JobRef,
    finished_index_prefix,
    parse_active_key,
    parse_finished_index_key,
    rollup_key,
    validate_id,
)
from pipeline.jobs.job_index import day_of, hour_of
from pipeline.manifests.operations import (
    JobItem,
    JobLinks,
    JobPage,
    Rollup,
    StageDurations,
    Summary,
    WindowTotals,
)
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.status.marker import state_of_etag
from pipeline.storage.bucket import Bucket, ObjectInfo

PARALLEL_READS = 8
MAX_DAYS = 8  # how far back a page of everyone's jobs looks, without a --since
MAX_PAGE = 200
MAX_PAGE_REQUESTS = 500  # a page stops about here and returns a cursor to go on from
CLOCK_SKEW = timedelta(minutes=5)  # a client's "now" a little ahead of ours is not the future
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)  # any earlier ``since`` means "from the beginning"
FINISHED_PREFIX = f"{INDEX_PREFIX}finished/"
POSTER_URL_S = 3600


@dataclass(frozen=True)
class _Marker:
    """An ``active/`` marker as listed: its job, the state it says, when it was written."""

    ref: JobRef
    state: JobState
    at: float  # its LastModified: when the job entered that state
    status: StatusManifest | None = None  # read already (a marker that said no state)


Keep = Callable[[StatusManifest], bool]


class Operations:
    """The operator's reads and the cancel, over one bucket."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        self.requests = 0
        self._counting = threading.Lock()

    # -- jobs ---------------------------------------------------------------------

    def jobs(
        self,
        *,
        user: str | None = None,
        state: JobState | None = None,
        since: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
        now: datetime | None = None,
        unfinished: bool = False,
    ) -> JobPage:
        """A page of jobs: one user's newest first, or everyone's, unfinished ones first;
        with ``unfinished``, only the jobs not finished (the active index alone: what a
        live view polls)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidKey(f"limit {limit}: between 1 and {MAX_PAGE}")
        now = now or datetime.now(UTC)
        since = _checked_since(since, now)
        self.requests = 0
        if unfinished:

            def live(s: StatusManifest) -> bool:
                return not s.state.finished and (state is None or s.state is state)

            markers = [m for m in self._markers(user) if live_state(m.state, state)]
            items = [self._item(s) for s in self._shown(markers, limit, live)]
            return JobPage(jobs=items, next_cursor=None, requests=self.requests)
        if user is not None:
            page = ReelpipeClient(self.bucket, user).list_jobs(
                state=state, since=since, limit=limit, cursor=cursor
            )
            items = [self._item(s) for s in page.jobs]
            return JobPage(jobs=items, next_cursor=page.next_cursor, requests=page.requests)
        statuses: list[StatusManifest] = []
        if cursor is None and (state is None or not state.finished):
            # Active markers: the unfinished jobs, and any finished just now whose worker
            # has not retired them into the index yet (a queued job cancelled, say).
            markers = [m for m in self._markers() if state is None or m.state is state]
            statuses = self._shown(markers, limit, lambda s: state is None or s.state is state)
        next_cursor = None
        if state is None or state.finished:
            finished, next_cursor = self._finished(state, since, limit - len(statuses), cursor, now)
            shown = {s.job_id for s in statuses}
            statuses += [s for s in finished if s.job_id not in shown]
        items = [self._item(s) for s in statuses]
        return JobPage(jobs=items, next_cursor=next_cursor, requests=self.requests)

    def _markers(self, user: str | None = None) -> list[_Marker]:
        """The ``active/`` markers (of ``user``, if given), running first, then waiting and
        queued, each newest first: from the listing alone, but for a marker that says no
        state, whose status is read (in parallel) to know it."""
        markers, unsaid = [], []
        prefix = ACTIVE_PREFIX if user is None else f"{ACTIVE_PREFIX}{validate_id(user)}/"
        for item in self._objects(prefix):
            try:
                ref = parse_active_key(item.key)
            except InvalidKey:
                continue
            at = item.last_modified.timestamp() if item.last_modified else 0.0
            said = state_of_etag(item.etag)
            if said is None:
                unsaid.append(_Marker(ref, JobState.QUEUED, at))
            else:
                markers.append(_Marker(ref, said, at))
        for marker, status in zip(unsaid, self._read([m.ref for m in unsaid]), strict=True):
            if status is not None:
                markers.append(_Marker(marker.ref, status.state, marker.at, status))
        markers.sort(key=_marker_order)
        return markers

    def _shown(self, markers: list[_Marker], limit: int, keep: Keep) -> list[StatusManifest]:
        """The statuses of the first ``limit`` of ``markers`` whose status passes ``keep``
        (a marker may be behind its status): read a batch at a time, as many as are still
        wanted, in parallel; in the order of the statuses themselves."""
        found: list[StatusManifest] = []
        rest = iter(markers)
        while len(found) < limit and (batch := list(itertools.islice(rest, limit - len(found)))):
            unread = [m.ref for m in batch if m.status is None]
            read = iter(self._read(unread))
            for marker in batch:
                status = marker.status if marker.status is not None else next(read)
                if status is not None and keep(status):
                    found.append(status)
        found.sort(key=_unfinished_order)
        return found

    def _finished(
        self,
        state: JobState | None,
        since: datetime | None,
        room: int,
        cursor: str | None,
        now: datetime,
    ) -> tuple[list[StatusManifest], str | None]:
        """Finished jobs newest first from the index, after ``cursor`` (an index key)."""
        found: list[StatusManifest] = []
        if room <= 0:
            return found, _cursor_of(cursor) if cursor else None
        start = _cursor_of(cursor) if cursor else None
        newest = day_of(_day_of_key(start) if start else now)
        for day in self._days(since, newest, now):
            prefix = finished_index_prefix(day)
            after = start if start and start.startswith(prefix) else None
            keys = self._keys(prefix, after=after)
            # Read the statuses a batch at a time (as many as are still wanted), at once.
            while batch := list(itertools.islice(keys, room - len(found))):
                for key, status in zip(batch, self._statuses(batch), strict=True):
                    if status is None or (state is not None and status.state is not state):
                        continue
                    if since is not None and (status.finished_at or status.updated_at) < since:
                        return found, None
                    found.append(status)
                    if len(found) == room:
                        return found, key
                if self.requests >= MAX_PAGE_REQUESTS:
                    # A filter few jobs pass: the rest of the history is the next page's.
                    return found, batch[-1]
        return found, None

    def _days(self, since: datetime | None, newest: str, now: datetime) -> list[str]:
        """The days of the index to look at, newest first, none after ``newest``.

        Without ``since``: the last ``MAX_DAYS`` calendar days. With it: the days the index
        has from ``since`` on, from one listing of its day folders (a request a 1,000
        days), so an old ``since`` is clamped to the index's first day and a gap of empty
        days costs nothing."""
        if since is None:
            calendar = (day_of(now - timedelta(days=d)) for d in range(MAX_DAYS))
            return [day for day in calendar if day <= newest]
        first = since.astimezone(UTC).date().isoformat()
        days = []
        self.requests += 1
        folders = self.bucket.folders(FINISHED_PREFIX, start_after=FINISHED_PREFIX + first)
        for seen, folder in enumerate(folders, start=1):
            day = folder[len(FINISHED_PREFIX) :].rstrip("/")
            if day > newest:
                break
            if _is_day(day):
                days.append(day)
            if seen % 1000 == 0:
                self.requests += 1
        return days[::-1]

    def _statuses(self, index_keys: list[str]) -> list[StatusManifest | None]:
        """The statuses of those index entries, read in parallel, in order."""
        return self._read([parse_finished_index_key(k) for k in index_keys])

    def _read(self, refs: list[JobRef]) -> list[StatusManifest | None]:
        """The statuses of those jobs, read ``PARALLEL_READS`` at a time, in order."""
        if not refs:
            return []
        with ThreadPoolExecutor(max_workers=min(PARALLEL_READS, len(refs))) as pool:
            return list(pool.map(lambda r: self._status(r.user_id, r.job_id), refs))

    def _item(self, status: StatusManifest) -> JobItem:
        poster = status.outputs.get("poster")
        url = self.bucket.presigned_get(poster, POSTER_URL_S) if poster else None
        return JobItem(status=status, poster_url=url)

    def job(self, user: str, job_id: str) -> StatusManifest:
        """A job's status manifest; ObjectNotFound when there is none."""
        status = ReelpipeClient(self.bucket, user).status(job_id)
        if status is None:
            raise ObjectNotFound(f"no job {job_id} for user {user}")
        return status

    def links(self, user: str, job_id: str, expires_s: int = 3600) -> JobLinks:
        """Presigned GETs of the job's output, poster and preview (those it has)."""
        status = self.job(user, job_id)
        keys = {
            "output_url": status.output_key,
            "poster_url": status.outputs.get("poster"),
            "preview_url": status.outputs.get("preview"),
        }
        urls = {k: self.bucket.presigned_get(v, expires_s) for k, v in keys.items() if v}
        return JobLinks(expires_s=expires_s, **urls)

    # -- summary ----------------------------------------------------------------------

    def summary(self, now: datetime | None = None) -> Summary:
        """Counts by state, totals over 24 hours and 7 days, stage p50/p95 over 24 hours."""
        self.requests = 0
        now = now or datetime.now(UTC)
        unfinished: dict[str, int] = {}
        for marker in self._markers():
            if not marker.state.finished:
                unfinished[marker.state.value] = unfinished.get(marker.state.value, 0) + 1
        hours = [hour_of(now - timedelta(hours=h)) for h in range(24)]
        days = [day_of(now - timedelta(days=d)) for d in range(7)]
        with ThreadPoolExecutor(max_workers=PARALLEL_READS) as pool:
            hourly = list(pool.map(self._rollup, hours))
            daily = list(pool.map(self._rollup, days))
        last_24h = _totals(hourly)
        samples: dict[str, list[float]] = {}
        for rollup in hourly:
            for name, values in rollup.stage_seconds.items():
                samples.setdefault(name, []).extend(values)
        return Summary(
            generated_at=now,
            unfinished=unfinished,
            last_24h=last_24h,
            last_7d=_totals(daily),
            per_hour_24h=round(last_24h.jobs / 24, 3),
            stages={name: _durations(values) for name, values in samples.items() if values},
            requests=self.requests,
        )

    def _rollup(self, period: str) -> Rollup:
        with self._counting:
            self.requests += 1
        try:
            return Rollup.model_validate(self.bucket.get_json(rollup_key(period)).data)
        except ObjectNotFound:
            return Rollup(period=period)

    # -- S3, counted ------------------------------------------------------------------

    def _status(self, user: str, job_id: str) -> StatusManifest | None:
        with self._counting:
            self.requests += 1
        try:
            doc = self.bucket.get_json(self.bucket.layout.status_key(user, job_id))
        except ObjectNotFound:
            return None
        return StatusManifest.model_validate(doc.data)

    def _keys(self, prefix: str, *, after: str | None = None) -> Iterator[str]:
        return (item.key for item in self._objects(prefix, after=after))

    def _objects(self, prefix: str, *, after: str | None = None) -> Iterator[ObjectInfo]:
        """The objects under ``prefix``, fetched a page (1,000) at a time as they are used."""
        self.requests += 1
        for seen, item in enumerate(self.bucket.list(prefix, start_after=after), start=1):
            yield item
            if seen % 1000 == 0:
                self.requests += 1


RANK = {JobState.RUNNING: 0, JobState.WAITING_FOR_INPUT: 1, JobState.QUEUED: 2}


def _unfinished_order(status: StatusManifest) -> tuple[int, float]:
    """Running first, then waiting and queued, then the just finished; newest first."""
    return RANK.get(status.state, 3), -status.created_at.timestamp()


def _marker_order(marker: _Marker) -> tuple[int, float]:
    """As :func:`_unfinished_order`, from a listing: newest into its state first."""
    return RANK.get(marker.state, 3), -marker.at


def live_state(said: JobState, wanted: JobState | None) -> bool:
    """Whether a marker saying ``said`` may be a job a live view of ``wanted`` shows."""
    return not said.finished and (wanted is None or said is wanted)


def _checked_since(since: datetime | None, now: datetime) -> datetime | None:
    """``since`` as a page uses it: one in the future is an error (nothing can have
    finished then); one before the index began means "from the beginning" and is
    answered as such, silently, whatever its date (year 1 included)."""
    if since is None:
        return None
    if since > now + CLOCK_SKEW:
        raise InvalidQuery(
            f"since {since.isoformat()} is in the future (now is {now.isoformat()}): "
            "ask for the jobs since a moment that has passed"
        )
    return max(since, EARLIEST)


def _is_day(name: str) -> bool:
    try:
        datetime.strptime(name, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _day_of_key(key: str) -> datetime:
    """The day of an ``index/finished/{day}/...`` key."""
    day = key[len("index/finished/") :].split("/", 1)[0]
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)


def _cursor_of(cursor: str) -> str:
    if not cursor.startswith("index/finished/") or not cursor.endswith(".json"):
        raise InvalidKey(f"cursor {cursor!r} is not one a page of jobs returned")
    parse_finished_index_key(cursor)
    return cursor


def _totals(rollups: list[Rollup]) -> WindowTotals:
    by_state: dict[str, int] = {}
    for rollup in rollups:
        for name, count in rollup.by_state.items():
            by_state[name] = by_state.get(name, 0) + count
    return WindowTotals(
        jobs=sum(r.jobs for r in rollups),
        by_state=by_state,
        gpu_seconds=round(sum(r.gpu_seconds for r in rollups), 3),
        cpu_seconds=round(sum(r.cpu_seconds for r in rollups), 3),
        cost_usd=round(sum(r.cost_usd for r in rollups), 6),
    )


def _durations(values: list[float]) -> StageDurations:
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 3)

    return StageDurations(samples=len(ordered), p50_s=at(0.5), p95_s=at(0.95))
