"""The dashboard in a real browser: Debian's Chromium driven by Playwright against the app
served by uvicorn on localhost. Every request to another host is aborted and recorded (the
network, as far as the page is concerned, is cut off); on failure a screenshot is saved and
its path printed.

Skips with its reason where Chromium or the playwright package is missing, unless
CORTEXRNN_REQUIRE_SERVICES=1 (CI), where that is an error."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import _missing
from tests.dashboard.conftest import finish_runs

CHROMIUM = Path(os.environ.get("CORTEXRNN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
]  # fmt: skip
LOCAL = {"127.0.0.1", "localhost"}
TIMEOUT_MS = 90_000  # generous: CI machines run training beside the tests


@pytest.fixture()
def live(dash):
    """The app on a free localhost port, served by uvicorn in a thread."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(dash.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture()
def browser(tmp_path, request):
    """(new_page, outside requests, console errors); screenshots of open pages on failure."""
    if not CHROMIUM.exists():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[dev]')")
    outside: list[str] = []
    errors: list[str] = []
    pages = []
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

        def new_page():
            context = chromium.new_context()
            context.set_default_timeout(TIMEOUT_MS)

            def guard(route) -> None:
                if urlsplit(route.request.url).hostname in LOCAL:
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort("internetdisconnected")

            context.route("**/*", guard)
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            pages.append(page)
            return page

        yield new_page, outside, errors
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            folder = Path(os.environ.get("CORTEXRNN_TEST_ARTIFACTS", tmp_path))
            folder.mkdir(parents=True, exist_ok=True)
            for i, page in enumerate(pages):
                shot = folder / f"{request.node.name}-{i}.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot of {page.url}: {shot}")
        chromium.close()


def log_in(page, base: str, token: str, path: str) -> None:
    page.goto(base + path)
    assert "/login" in page.url
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(base + path)


def painted_pixels(page, selector: str) -> int:
    return page.evaluate(
        """sel => Array.from(document.querySelectorAll(sel)).reduce((n, c) => {
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
             return n; }, 0)""",
        selector,
    )


def start_running(experiment_id: int) -> None:
    """One waiting run starts and reports half its steps (what a worker's heartbeat writes)."""
    from sqlalchemy import select

    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.models import Run, RunState

    with session_scope() as s:
        run = s.scalars(
            select(Run).where(Run.experiment_id == experiment_id, Run.state == "pending")
        ).first()
        assert run is not None
        run.transition(RunState.QUEUED)
        run.transition(RunState.RUNNING)
        run.progress, run.step, run.total_steps = 0.5, 15, 30


@pytest.mark.timeout(900)  # one long walk through every page; machines here also train
def test_dashboard_in_chromium_offline(dash, live, browser) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    new_page, outside, errors = browser
    artifacts = dash.home / "artifacts"
    watched = dash.submit("alice", name="watched", seeds=4)
    finish_runs(watched, artifacts, only=4)  # half the runs done: curves exist, the rest wait
    other = dash.submit("alice", name="other", seeds=2)
    finish_runs(other, artifacts)

    page = new_page()
    log_in(page, live, dash.tokens["alice"], f"/experiments/{watched}")
    page.wait_for_selector("#curves canvas")
    assert painted_pixels(page, "#curves canvas") > 500
    assert painted_pixels(page, "#finals canvas") > 100
    page.wait_for_selector("#stats table")  # statistics arrive after the first paint
    before = page.inner_text("#percent")

    # Progress arrives from the event stream without a reload.
    page.evaluate("window.__sameDocument = true")
    start_running(watched)
    # Locator assertions poll without eval, which the pages' CSP forbids.
    expect(page.locator("#percent")).not_to_have_text(before)
    expect(page.locator("#state")).to_have_text("running")
    # The remaining runs finish: their curves join the chart, the state says so.
    legend = page.locator("#curves .legend")
    legend_before = legend.inner_text()
    finish_runs(watched, artifacts)
    expect(page.locator("#state")).to_have_text("succeeded")
    expect(legend).not_to_have_text(legend_before)
    assert page.evaluate("window.__sameDocument") is True  # live updates, never a reload
    assert "(n=4)" in legend.inner_text()

    # A run's weights as heatmaps.
    page.click(".cell.s-succeeded")
    page.wait_for_selector("#heatmaps canvas.matrix")

    # Find an experiment by a spec field, then compare the two.
    page.goto(live + "/experiments")
    page.fill("input[name=spec]", "seeds=2")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#experiments")
    assert "other" in page.inner_text("#experiments")
    assert "watched" not in page.inner_text("#experiments")
    page.goto(f"{live}/compare?ids={watched},{other}")
    page.wait_for_selector("#compare-finals canvas")
    page.wait_for_selector("#compare-curves canvas")
    assert painted_pixels(page, "#compare-finals canvas") > 200

    # A dataset's neurons and matrices.
    page.goto(live + "/datasets/tiny")
    page.wait_for_selector("#neurons canvas")
    page.wait_for_selector("#matrices canvas.matrix")
    assert painted_pixels(page, "#neurons canvas") > 100

    # Another user sees no cancel button, and the server refuses a forged one.
    running = dash.submit("alice", name="still-running", force=True)  # no cached answers
    page.goto(live + "/")  # the queue says why it waits
    expect(page.locator("#waiting")).to_contain_text("no live worker")
    bob = new_page()
    log_in(bob, live, dash.tokens["bob"], f"/experiments/{running}")
    assert bob.locator("#cancel").count() == 0
    status = bob.evaluate(
        """id => fetch(`/experiments/${id}/cancel`, {method: 'POST', headers: {
             'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}})
           .then(r => r.status)""",
        running,
    )
    assert status == 403
    page.goto(f"{live}/experiments/{running}")
    page.once("dialog", lambda d: d.accept())
    page.click("#cancel")
    page.wait_for_selector(".notice")
    expect(page.locator("#state")).to_have_text("cancelled")

    # The API docs render from the packaged Swagger UI and ReDoc.
    page.goto(live + "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "CortexRNN" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".swagger-ui .opblock")
    assert "/v1/experiments/{experiment_id}/cancel" in page.inner_text(".swagger-ui")
    page.goto(live + "/redoc")
    expect(page.locator("redoc")).to_contain_text("CortexRNN")

    assert outside == [], f"requests to other hosts: {outside}"
    refused = [e for e in errors if "status of 403" in e]
    assert len(refused) == 1, errors  # bob's forged cancel, refused on purpose
    assert [e for e in errors if e not in refused] == [], f"browser errors: {errors}"
