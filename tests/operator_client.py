"""A test client of the operator's API on the webhook's app, signed in with its token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from pipeline.service.webhook_app import create_app
from pipeline.storage.bucket import Bucket

TOKEN = "operator-token-1234"
LOOPBACK = ("127.0.0.1", 50000)


@contextmanager
def operator_client(bucket: Bucket) -> Iterator[TestClient]:
    """The app over ``bucket``, every request from loopback with the bearer token."""
    app = create_app("webhook-secret", lambda key: None, bucket=bucket, api_token=TOKEN)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app, base_url="http://127.0.0.1", client=LOOPBACK, headers=bearer) as http:
        yield http
