"""The job behind a request: ``{root}requests/{request_id}.json``.

Written once, when the manifest at ``inbox/{user_id}/{request_id}.json`` is claimed
(``If-None-Match``), so an app that uploaded a request finds its job by the id it chose,
without knowing how job ids are made. Example::

    {"job_id": "3f2a...", "status_key": "users/alice/jobs/3f2a.../status.json",
     "request_key": "inbox/alice/req-1.json", "claimed_at": "2026-12-02T10:00:00Z"}
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from pipeline.manifests.base import WireModel


class RequestPointer(WireModel):
    """Which job a request became, and where its status is."""

    schema_version: int = 1
    job_id: str
    status_key: str
    request_key: str = Field(description="the inbox key the request was uploaded to")
    claimed_at: datetime
