"""The dashboard in a real browser: ``reelpipe serve`` on its embedded store with three jobs
(one running, one succeeded with a poster, one failed), opened in headless Chromium from the
link serve prints (its generated API token in ``#token=``).

Skipped only when no Chromium is installed (``scripts/bootstrap --dev`` installs Debian's).
Screenshots go to ``test-artifacts/`` (1280x800 and a phone's width)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from pipeline.client.app_client import ReelpipeClient
from pipeline.core.settings import Settings
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.storage.bucket import open_bucket
from tests.factories import job_manifest, make_clip
from tests.faults import announcement, assert_running, free_ports, reaped, spawn, wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium installed (scripts/bootstrap --dev installs it)"
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, ReelpipeClient, dict[str, str]]]:
    """``reelpipe serve`` with a succeeded, a failed and a running job; the dashboard's link."""
    port, web_port = free_ports(2)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "REELPIPE_SCRATCH_DIR": str(tmp_path / "scratch"),
        "REELPIPE_INPUT_WAIT_S": "0",  # a missing clip fails at once
        "REELPIPE_X264_PRESET": "placebo",  # the long job stays running while we look
        "REELPIPE_SCAN_PERIOD_S": "0.5",
        "REELPIPE_PROGRESS_INTERVAL_S": "0.2",
    }
    with reaped(
        spawn("serve", "--in-memory", "--port", str(port), "--webhook-port", str(web_port), env=env)
    ) as server:
        announced = announcement(server, "dashboard")
        settings = Settings(
            endpoint_url=f"http://127.0.0.1:{port}",
            access_key_id=SecretStr(announced["access key"]),
            secret_access_key=SecretStr(announced["secret key"]),
        )
        bucket = open_bucket(settings)
        wait_until(lambda: _up(bucket, server), timeout_s=60, what="serve to start")
        link = announced["dashboard"]
        client = ReelpipeClient(bucket, "coach")
        small, truth = make_clip(tmp_path, "small.mp4", duration_s=1.0)
        big, big_truth = make_clip(tmp_path, "big.mp4", width=640, height=360, duration_s=20.0)
        boxes = {"highlight": {"boxes": truth.keyframes(0, every=10)}}
        ids = {
            "succeeded": client.submit(small, job_manifest(overlay=boxes), request_id="a").job_id
        }
        _wait_state(client, ids["succeeded"], JobState.SUCCEEDED)
        missing = {"input_key": "clips/never-uploaded.mp4", **job_manifest(overlay=boxes)}
        ids["failed"] = client.submit(None, missing, request_id="b").job_id
        _wait_state(client, ids["failed"], JobState.FAILED)
        long_boxes = {"highlight": {"boxes": big_truth.keyframes(0, every=30)}}
        ids["running"] = client.submit(big, job_manifest(overlay=long_boxes), request_id="c").job_id
        wait_until(
            lambda: _progressing(client.status(ids["running"])), timeout_s=120, what="a running job"
        )
        assert link.startswith(f"http://127.0.0.1:{web_port}/#token=")
        yield link, client, ids
        assert server.poll() is None, "serve died during the test"


def _up(bucket: object, server: subprocess.Popen[str]) -> bool:
    assert_running(server)
    try:
        bucket.exists("probe")  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - not listening yet
        return False
    return True


def _wait_state(client: ReelpipeClient, job_id: str, state: JobState) -> None:
    def reached() -> bool:
        status = client.status(job_id)
        return status is not None and status.state is state

    wait_until(reached, timeout_s=120, what=f"job {job_id} {state.value}")


def _progressing(status: StatusManifest | None) -> bool:
    return status is not None and status.state is JobState.RUNNING and status.progress.percent > 3


def test_the_dashboard_shows_follows_plays_and_cancels(
    served: tuple[str, ReelpipeClient, dict[str, str]],
) -> None:
    from playwright.sync_api import sync_playwright

    url, client, ids = served
    card = 'article[data-job-id="{}"]'.format
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url)
        for state, job_id in ids.items():
            page.wait_for_selector(f'{card(job_id)}[data-state="{state}"]', timeout=15_000)
        # Running first.
        order = page.eval_on_selector_all("article.job", "cards => cards.map(c => c.dataset.jobId)")
        assert order[0] == ids["running"]
        # The running job's bar moves between two reads.
        bar = f"{card(ids['running'])} progress.job-progress"
        first = page.eval_on_selector(bar, "e => e.value")
        time.sleep(3.0)
        second = page.eval_on_selector(bar, "e => e.value")
        assert second > first, (first, second)
        # The succeeded job's poster loads.
        poster = f"{card(ids['succeeded'])} img.poster"
        page.wait_for_function(
            "sel => { const img = document.querySelector(sel);"
            " return img && img.complete && img.naturalWidth > 0; }",
            arg=poster,
            timeout=15_000,
        )
        # The failed job shows its error.
        message = page.inner_text(f"{card(ids['failed'])} .error-message")
        assert "never-uploaded.mp4" in message
        assert "input_not_found" in page.inner_text(f"{card(ids['failed'])} .error")
        # The summary strip counts them.
        strip = page.inner_text("#summary")
        assert "running 1" in strip and "succeeded 24 h 1" in strip and "failed 24 h 1" in strip
        page.screenshot(path=str(ARTIFACTS / "dashboard-1280x800.png"))
        # Cancel the running job from the page.
        page.click(f"{card(ids['running'])} button.cancel")
        page.wait_for_selector(f'{card(ids["running"])}[data-state="cancelled"]', timeout=30_000)
        # The detail view plays the output and shows the status JSON.
        page.click(f"{card(ids['succeeded'])} button.details")
        page.wait_for_function(
            "() => document.getElementById('detail-video').readyState >= 2", timeout=15_000
        )
        assert ids["succeeded"] in page.inner_text("#detail-json")
        page.screenshot(path=str(ARTIFACTS / "dashboard-detail-1280x800.png"))
        # Without the token the page loads but the API answers nothing.
        bare = browser.new_page()
        bare.goto(url.split("#")[0])
        bare.wait_for_function(
            "() => document.getElementById('updated').textContent.includes('401')",
            timeout=15_000,
        )
        assert bare.query_selector("article.job") is None
        bare.close()
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.goto(url)
        phone.wait_for_selector(f'{card(ids["running"])}[data-state="cancelled"]')
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
        phone.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
        browser.close()
    final = client.status(ids["running"])
    assert final is not None and final.state is JobState.CANCELLED
