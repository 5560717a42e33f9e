"""The queue consumer's wrangler configuration fits the queue's limits and the webhook."""

from __future__ import annotations

from pipeline.core.settings import Settings
from tests.cloudflare_queue import wrangler_config


def test_the_consumer_dead_letters_where_it_sends_refused_messages() -> None:
    """One dead-letter queue: the one retries end in and the one 4xx answers go to."""
    config = wrangler_config()
    (consumer,) = config["queues"]["consumers"]
    (producer,) = config["queues"]["producers"]
    assert producer == {"queue": consumer["dead_letter_queue"], "binding": "DEAD_LETTERS"}
    assert consumer["queue"] != consumer["dead_letter_queue"]


def test_batches_fit_the_queue_limits_and_requests_fit_the_webhook_claim_queue() -> None:
    """Cloudflare Queues: batches of at most 100, at most 100 retries; each request carries
    no more notifications than the webhook's default claim queue admits at once (else 503)."""
    config = wrangler_config()
    (consumer,) = config["queues"]["consumers"]
    assert 1 <= consumer["max_batch_size"] <= 100
    assert 1 <= consumer["max_retries"] <= 100
    assert 0 <= consumer["max_batch_timeout"] <= 60
    per_request = int(config["vars"]["MAX_KEYS_PER_REQUEST"])
    assert per_request <= Settings().security.webhook_claim_queue
    assert "WEBHOOK_SECRET" not in config["vars"]  # a Worker secret, never a plain var
