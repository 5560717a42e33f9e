"""What the ``/v1`` API promises a generated client beyond its answers' models: the
errors each route may answer, and the shapes of its path parameters.

FastAPI lists only a route's 200 and 422 by itself; a client generated from
``/openapi.json`` would not know that a bad id is 400, a missing token 401, a refused
write 403 or an unknown job 404. The patterns are the key rules of
:mod:`pipeline.core.keys`, which the routes still enforce (a mismatch is a 400 saying
the rule), so a client can check an id before it sends it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from pipeline.core.keys import ID_PATTERN, JOB_ID_PATTERN

USER_ID_REGEX = rf"^(?!.*\.\.){ID_PATTERN}$"
JOB_ID_REGEX = rf"^{JOB_ID_PATTERN}$"


class ApiError(BaseModel):
    """Every error the API answers (FastAPI's shape): what went wrong and how to fix it."""

    model_config = ConfigDict(extra="forbid")

    detail: str = Field(description="what was wrong with the request, and what to do")


def _error(description: str) -> dict[str, Any]:
    return {"model": ApiError, "description": description}


Answers = dict[int | str, dict[str, Any]]  # FastAPI's ``responses=``

ACCESS_ERRORS: Answers = {
    401: _error("no bearer token, or not the API token"),
    403: _error("no API token is configured, or a write from another site's page"),
    421: _error("the Host header does not name this server"),
}
BAD_REQUEST: Answers = {400: _error("an id or cursor that breaks the key rules")}
NOT_FOUND: Answers = {404: _error("no such job")}
JOB_ERRORS: Answers = {**BAD_REQUEST, **NOT_FOUND}

UserId = Annotated[
    str,
    Path(
        description="the user's id: 1-64 letters, digits, '_', '.' or '-', no '..'",
        json_schema_extra={"pattern": USER_ID_REGEX},
    ),
]
JobId = Annotated[
    str,
    Path(
        description="the job's id: 20 lowercase hex digits",
        json_schema_extra={"pattern": JOB_ID_REGEX},
    ),
]
UserFilter = Annotated[
    str | None,
    Query(
        description="only this user's jobs (the key rules of a user id)",
        json_schema_extra={"pattern": USER_ID_REGEX},
    ),
]
