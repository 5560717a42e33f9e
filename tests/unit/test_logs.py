"""Logging: context is bound per job and stage; secrets never reach the output."""

from __future__ import annotations

import io
import json

import structlog

from pipeline.cli.progress_bar import ProgressBar
from pipeline.core.logs import configure_logging, mask_secrets
from pipeline.manifests.status import Progress, StatusManifest


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_lines_carry_bound_context_and_mask_secrets() -> None:
    """Off a terminal each event is one JSON line with job_id/stage; secrets become ***."""
    out = io.StringIO()
    configure_logging(secrets=["hunter2-secret"], stream=out)
    log = structlog.get_logger("t")
    with structlog.contextvars.bound_contextvars(job_id="j1", stage="framing"):
        log.info(
            "stage_finished", frames=10, note="key=hunter2-secret", nested={"a": ["hunter2-secret"]}
        )
    line = json.loads(out.getvalue().strip())
    assert line["event"] == "stage_finished"
    assert (line["job_id"], line["stage"], line["frames"]) == ("j1", "framing", 10)
    assert "hunter2-secret" not in out.getvalue()
    assert line["note"] == "key=***" and line["nested"] == {"a": ["***"]}


def test_a_secret_generated_after_logging_is_masked_too() -> None:
    """serve generates its webhook secret and API token after logging is set up."""
    out = io.StringIO()
    configure_logging(secrets=["from-settings"], stream=out)
    mask_secrets("generated-api-token")
    log = structlog.get_logger("t")
    log.info("started", link="/#token=generated-api-token", key="from-settings")
    assert "generated-api-token" not in out.getvalue() and "from-settings" not in out.getvalue()
    configure_logging(stream=out)  # a new configuration starts from its own secrets
    log.info("again", link="generated-api-token")
    assert out.getvalue().count("generated-api-token") == 1


def test_terminal_logs_are_readable_text() -> None:
    """On a terminal the lines are key=value text, not JSON."""
    out = FakeTty()
    configure_logging(stream=out)
    structlog.get_logger("t").info("claimed", job_id="j2")
    text = out.getvalue()
    assert "claimed" in text and "job_id=j2" in text and not text.strip().startswith("{")


def test_progress_bar_draws_on_terminals_only() -> None:
    """The bar redraws one line on a terminal and stays silent otherwise."""
    status = StatusManifest(job_id="0" * 20, user_id="u", manifest_key="m").model_copy(
        update={"progress": Progress(percent=50.0, message="framing 40%")}
    )
    tty = FakeTty()
    bar = ProgressBar(tty)
    bar.update(status)
    bar.close()
    assert "50.0%" in tty.getvalue() and "framing 40%" in tty.getvalue()
    assert "#" * 15 in tty.getvalue()
    pipe = io.StringIO()
    quiet = ProgressBar(pipe)
    quiet.update(status)
    quiet.close()
    assert pipe.getvalue() == ""


def test_long_values_are_bounded_and_say_what_was_cut() -> None:
    """A hostile input echoed into a log field is cut at 2 KB, with a count of the rest."""
    out = io.StringIO()
    configure_logging(stream=out)
    structlog.get_logger("t").error("job_failed", message="x" * 10_000)
    line = json.loads(out.getvalue().strip())
    assert len(line["message"]) < 2_100
    assert line["message"].endswith("... [7952 more characters cut]")
