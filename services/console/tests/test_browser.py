"""End to end in Debian's Chromium: the console and the real services behind it, on real ports.

One stack (catalog, recipes, training, scoring, serving, console) and one Chromium serve the whole
module; the tests run in file order. The journey signs in with the dev login, defines a schema,
creates a dataset, uploads the retail sample (progress bar), sees its statistics, creates a model
from the generated form, trains it twice (live status by htmx polling), compares the runs on the
chart, publishes the best as a service, predicts and watches the live metrics charts. The tests
after it reuse what it made (no more training runs, except the one a sweep may start before it is
cancelled): traffic promote and rollback, an API key shown once, schedules, scoring runs, sweeps.
Every photographed page is checked for horizontal scrolling at 1280 px and unlabelled controls.
Screenshots go to ``build/screenshots/`` at the repository root.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from dsw_console.app import create_app

from dsw_catalog.app import create_app as create_catalog_app
from dsw_catalog.settings import CatalogSettings
from dsw_kit.broker import TansuBroker, free_port
from dsw_kit.settings import PlatformSettings
from dsw_kit.testing.samples import RETAIL_SCHEMA
from dsw_recipes.app import create_app as create_recipes_app
from dsw_recipes.settings import RecipesSettings
from dsw_scoring.app import create_app as create_scoring_app
from dsw_scoring.settings import ScoringSettings
from dsw_serving.app import create_app as create_serving_app
from dsw_serving.settings import ServingSettings
from dsw_training.app import create_app as create_training_app
from dsw_training.settings import TrainingSettings

from .conftest import _database, console_settings
from .helpers import RETAIL_CSV, RETAIL_DATE_FORMAT
from .test_training import _retail_records

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


class Server:
    """An ASGI app served by uvicorn on a free port, in a thread of the test process."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@dataclass
class Journey:
    """What the journey made, for the tests after it."""

    csv: Path
    model_url: str = ""
    service_url: str = ""
    run_ids: list[str] = field(default_factory=list)
    best_run_id: str = ""


def _start_stack(platform: PlatformSettings, tmp: Path, stack: contextlib.ExitStack) -> str:
    """Every service on a free port; the console's URL (``stack`` stops them, newest first)."""

    def database(prefix: str) -> str:
        return str(stack.enter_context(contextlib.contextmanager(_database)(prefix, tmp)))

    def serve(app: Any) -> Server:
        server = Server(app).start()
        stack.callback(server.stop)
        return server

    catalog = serve(
        create_catalog_app(
            CatalogSettings(
                database_url=database("catalog"), platform=platform, ingest_poll_seconds=0.2
            )
        )
    )
    recipes = serve(
        create_recipes_app(
            RecipesSettings(
                database_url=database("recipes"),
                platform=platform,
                smoke_builtins=False,
                embedded_workers=False,
            )
        )
    )
    training = serve(
        create_training_app(
            TrainingSettings(
                database_url=database("training"),
                platform=platform,
                catalog_url=catalog.url,
                recipes_url=recipes.url,
                run_poll_seconds=0.2,
                progress_write_seconds=0.2,
                log_sync_seconds=0.5,
                cancel_poll_seconds=0.2,
                sweep_poll_seconds=0.2,
            )
        )
    )
    scoring = serve(
        create_scoring_app(
            ScoringSettings(
                database_url=database("scoring"),
                platform=platform,
                catalog_url=catalog.url,
                training_url=training.url,
                run_poll_seconds=0.2,
                register_poll_seconds=0.2,
            )
        )
    )
    serving = serve(
        create_serving_app(
            ServingSettings(
                database_url=database("serving"),
                platform=platform,
                training_url=training.url,
                scoring_url=scoring.url,
            )
        )
    )
    settings = console_settings(
        platform,
        catalog_url=catalog.url,
        recipes_url=recipes.url,
        training_url=training.url,
        scoring_url=scoring.url,
        serving_url=serving.url,
    )
    return serve(create_app(settings)).url


@pytest.fixture(scope="module")
def console_url(tansu: TansuBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("console-browser")
    home = tmp / "home"
    home.mkdir()
    platform = PlatformSettings(
        home=home,
        kafka_bootstrap=tansu.bootstrap,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}.",
        log_json=False,
    )
    with contextlib.ExitStack() as stack:
        yield _start_stack(platform, tmp, stack)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Journey:
    csv = tmp_path_factory.mktemp("upload") / "retail.csv"
    csv.write_bytes(RETAIL_CSV.read_bytes())
    return Journey(csv)


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (no cookies) at 1280 px; a screenshot of where a failure stopped."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    # Generous: several engineers share two cores; these are ceilings, not expectations.
    tab.set_default_timeout(90_000)
    failed_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failed_before:
        _failure_shot(tab, request.node.name)
    context.close()


# Unlabelled form controls: neither a <label>, nor aria-label(ledby), nor a button's own text.
UNLABELLED = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby') && !(e.textContent || '').trim())
  .map(e => e.outerHTML.slice(0, 80))"""


def _check_layout(page: Any, name: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280, f"{name} scrolls horizontally at 1280 px ({width} px wide)"
    assert page.evaluate(UNLABELLED) == [], f"{name} has unlabelled controls"


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    _check_layout(page, name)


def _failure_shot(page: Any, test: str) -> None:
    """Where a test stopped, for the CI artifacts."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(SCREENSHOTS / f"failure-{test}.png"), full_page=True)
    except Exception:  # the page itself may be what broke
        return


def _sign_in(page: Any, base: str, org: str = "acme", start: str = "/datasets") -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}{start}")
    expect(page).to_have_url(f"{base}/login?next={start}")
    page.get_by_label("Organisation").fill(org)
    page.get_by_role("button", name="Dev login").click()
    expect(page).to_have_url(f"{base}{start}")


def test_empty_states_keyboard_and_problems_in_a_new_organisation(
    console_url: str, page: Any
) -> None:
    from playwright.sync_api import expect

    base = console_url
    page.goto(f"{base}/datasets")
    _shot(page, "00-sign-in")
    page.keyboard.press("Tab")  # the first stop is the skip link (keyboard users)
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    _sign_in(page, base, org="empty-org")
    # Keyboard only: the skip link moves focus to the content, past the header and navigation.
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    empty_states = {
        "/datasets": "No datasets in this sandbox yet",
        "/models": "No models yet",
        "/scoring": "No scoring runs yet",
        "/services": "No services yet",
        "/schedules": "No retraining schedules",
    }
    for path, text in empty_states.items():
        page.goto(f"{base}{path}")
        expect(page.get_by_text(text).first).to_be_visible()
        expect(page.locator(".problem")).to_have_count(0)
        _check_layout(page, path)
    # The navigation is reachable by keyboard and says where we are.
    current = page.get_by_role("navigation", name="Sections").locator("[aria-current=page]")
    expect(current).to_have_text("Schedules")
    # An API's problem+json is shown as a readable message (a bad scoring run id).
    page.goto(f"{base}/scoring/new")
    page.get_by_label("Training run id").fill("not-a-run")
    page.get_by_label("Output dataset name (new)").fill("nowhere")
    page.evaluate("document.querySelector('#scoring-input').removeAttribute('required')")
    page.get_by_role("button", name="Start scoring").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Unprocessable Entity")
    expect(alert).to_contain_text("/body/")
    _shot(page, "00-problem")


def test_from_upload_to_compared_runs_in_chromium(
    console_url: str, page: Any, journey: Journey
) -> None:
    from playwright.sync_api import expect

    base = console_url
    _sign_in(page, base)
    expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
    expect(page.get_by_text("No datasets in this sandbox yet")).to_be_visible()
    _shot(page, "01-datasets")

    page.get_by_role("link", name="Manage schemas").click()
    page.get_by_label("Definition").fill(json.dumps(RETAIL_SCHEMA, indent=2))
    page.get_by_role("button", name="Create schema").click()
    expect(page.get_by_role("cell", name="Retail sales")).to_be_visible()
    _check_layout(page, "schemas")

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Datasets").click()
    page.get_by_label("Name", exact=True).fill("retail")
    page.get_by_label("Schema").select_option(label="Retail sales")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.get_by_role("heading", name="retail", exact=True)).to_be_visible()

    page.get_by_label("File", exact=True).set_input_files(str(journey.csv))
    page.get_by_label("Date formats (optional)").fill(RETAIL_DATE_FORMAT)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("Uploaded", timeout=120_000)
    # htmx polls the batch table until ingestion ends.
    expect(page.locator("#batches .state-success")).to_be_visible(timeout=120_000)
    page.reload()
    expect(page.locator("svg.histogram").first).to_be_visible()
    expect(page.locator("#histogram-sample")).to_contain_text("the first rows of the dataset")
    _shot(page, "02-dataset")

    page.get_by_role("link", name="Recipes").click()
    _shot(page, "03-recipes")
    page.get_by_role("link", name="retail-sales").click()
    expect(page.get_by_role("heading", name="retail-sales", exact=True)).to_be_visible()
    _check_layout(page, "recipe")
    page.get_by_role("link", name="Create a model").first.click()
    page.get_by_label("Name", exact=True).fill("retail-forecast")
    for name, value in (("n_estimators", "15"), ("num_leaves", "8"), ("num_threads", "1")):
        page.get_by_label(name, exact=True).fill(value)
    _shot(page, "04-new-model")
    page.get_by_role("button", name="Create model").click()
    expect(page.get_by_role("heading", name="retail-forecast")).to_be_visible()
    journey.model_url = page.url

    for _ in range(2):
        page.goto(journey.model_url)
        page.get_by_role("button", name="Train now").click()
        expect(page.get_by_role("heading", name="Training run")).to_be_visible()
        journey.run_ids.append(page.url.rsplit("/", 1)[1])
    # The run page polls its status; when the run ends it reloads with metrics and actions.
    expect(page.get_by_role("button", name="Publish as a service")).to_be_visible(timeout=120_000)
    expect(page.locator(".state-succeeded").first).to_be_visible()
    _shot(page, "05-run")

    page.goto(journey.model_url)
    expect(page.locator("#runs .state-succeeded")).to_have_count(2, timeout=120_000)
    page.reload()
    page.get_by_label("Metric", exact=True).select_option("mape")
    page.get_by_role("button", name="Compare").click()
    chart = page.locator("figure.chart img")
    expect(chart).to_be_visible()
    page.wait_for_function(
        "document.querySelector('figure.chart img').complete"
        " && document.querySelector('figure.chart img').naturalWidth > 0"
    )
    expect(page.get_by_text("★ best")).to_be_visible()
    _shot(page, "06-model-compare")

    # Publish the best run in one click and call it from the try-it form.
    best = page.locator("th:has-text('best') a")
    journey.best_run_id = best.get_attribute("href").rsplit("/", 1)[1]
    best.click()
    page.get_by_role("button", name="Publish as a service").click()
    expect(page.get_by_text("live", exact=True)).to_be_visible()
    journey.service_url = page.url
    example = json.loads(page.get_by_label("Request body (JSON)").input_value())
    for _ in range(2):
        page.get_by_label("Request body (JSON)").fill(_retail_records(example))
        page.get_by_role("button", name="Predict").click()
        expect(page.get_by_role("heading", name="Answer")).to_be_visible()
    # The live metrics panel refreshes every 5 s; its second sample gives the first rates. The
    # predictions were made before the page that shows the panel, so keep predicting from
    # another tab while it samples.
    _predict_from(page, journey.service_url, _retail_records(example))
    expect(page.locator("#service-metrics svg[aria-label^='Requests per second']")).to_be_visible()
    expect(page.locator("#service-metrics svg[aria-label^='Mean latency']")).to_be_visible()
    _shot(page, "07-service")


def _predict_from(page: Any, service_url: str, records: str) -> None:
    """Predict through the console's try-it form from a second tab of the same session."""
    from playwright.sync_api import expect

    other = page.context.new_page()
    try:
        other.goto(service_url)
        other.get_by_label("Request body (JSON)").fill(records)
        other.get_by_role("button", name="Predict").click()
        expect(other.get_by_role("heading", name="Answer")).to_be_visible()
    finally:
        other.close()


def _journey_made(journey: Journey) -> None:
    assert journey.service_url, "the journey test published no service"
    assert len(journey.run_ids) == 2, "the journey test trained no runs"


def test_traffic_moves_to_a_new_revision_and_rolls_back(
    console_url: str, page: Any, journey: Journey
) -> None:
    from playwright.sync_api import expect

    _journey_made(journey)
    _sign_in(page, console_url, start=journey.service_url.removeprefix(console_url))
    other_run = next(run for run in journey.run_ids if run != journey.best_run_id)
    page.get_by_label("Training run id").fill(other_run)
    page.get_by_role("button", name="Add revision").click()
    rows = page.locator("table:has(th:text-is('Revision')) tbody tr")
    expect(rows).to_have_count(2)
    # Revisions are newest first: the new one (2) waits for traffic, 1 is live.
    expect(rows.nth(1).get_by_text("live", exact=True)).to_be_visible()
    rows.nth(0).get_by_role("button", name="Send all traffic").click()
    expect(rows.nth(0).get_by_text("live", exact=True)).to_be_visible()
    expect(page.get_by_text("single: revision 2")).to_be_visible()
    _shot(page, "08-service-promoted")
    page.get_by_role("button", name="Roll back to revision 1").click()
    expect(rows.nth(1).get_by_text("live", exact=True)).to_be_visible()
    expect(page.get_by_text("single: revision 1")).to_be_visible()
    # A run that does not exist: the serving API's problem is shown, the page stays usable.
    page.get_by_label("Training run id").fill(str(uuid.uuid4()))
    page.get_by_role("button", name="Add revision").click()
    expect(page.get_by_role("alert")).to_be_visible()
    _check_layout(page, "service with a problem")


def test_an_api_key_is_shown_once(console_url: str, page: Any, journey: Journey) -> None:
    from playwright.sync_api import expect

    _journey_made(journey)
    _sign_in(page, console_url, start=journey.service_url.removeprefix(console_url))
    page.get_by_label("Application name").fill("billing")
    page.get_by_role("button", name="Create API key").click()
    secret = page.locator("#new-key").inner_text()
    assert len(secret) > 20
    expect(page.get_by_role("status")).to_contain_text("it is not shown again")
    _shot(page, "09-api-key")
    page.goto(journey.service_url)  # the same page again: the secret is gone, its prefix stays
    expect(page.get_by_role("cell", name="billing")).to_be_visible()
    expect(page.locator("#new-key")).to_have_count(0)
    assert secret not in page.content()
    row = page.locator("tr", has_text="billing")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("tr", has_text="billing")).to_contain_text("revoked")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Services").click()
    expect(page.get_by_role("link", name=re.compile("retail-forecast"))).to_be_visible()
    _shot(page, "09-services")


def test_schedules_are_created_disabled_and_refused_readably(
    console_url: str, page: Any, journey: Journey
) -> None:
    from playwright.sync_api import expect

    _journey_made(journey)
    _sign_in(page, console_url, start="/schedules")
    page.get_by_label("Name", exact=True).fill("weekly")
    page.get_by_label("Cron expression").fill("every monday")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_role("alert")).to_contain_text("Unprocessable Entity")
    page.get_by_label("Name", exact=True).fill("weekly")
    page.get_by_label("Cron expression").fill("0 3 * * 1")
    page.get_by_label("Retrain when new data arrives").check()
    page.get_by_role("button", name="Create schedule").click()
    row = page.locator("tr", has_text="weekly")
    expect(row.get_by_text("0 3 * * 1", exact=True)).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    _shot(page, "10-schedules")
    row.get_by_role("button", name="Disable").click()
    expect(
        page.locator("tr", has_text="weekly").get_by_role("button", name="Enable")
    ).to_be_visible()


def test_a_scoring_run_from_a_training_run(console_url: str, page: Any, journey: Journey) -> None:
    from playwright.sync_api import expect

    _journey_made(journey)
    _sign_in(page, console_url, start=f"/runs/{journey.best_run_id}")
    page.get_by_role("link", name="Score a dataset").click()
    expect(page.get_by_label("Training run id")).to_have_value(journey.best_run_id)
    page.get_by_label("Input dataset").select_option(label="retail")
    page.get_by_label("Output dataset name (new)").fill("retail-scores")
    page.get_by_role("button", name="Start scoring").click()
    expect(page.get_by_role("heading", name=re.compile("Scoring run"))).to_be_visible()
    expect(page.locator(".state-succeeded").first).to_be_visible(timeout=120_000)
    _shot(page, "11-scoring-run")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Scoring runs").click()
    expect(page.locator("#scoring-list .state-succeeded")).to_have_count(1)
    _shot(page, "12-scoring-runs")


def test_a_sweep_is_started_and_cancelled(console_url: str, page: Any, journey: Journey) -> None:
    from playwright.sync_api import expect

    _journey_made(journey)
    _sign_in(page, console_url, start=journey.model_url.removeprefix(console_url))
    page.get_by_text("Start a sweep (hyperparameter tuning)").click()
    page.get_by_label("Objective metric").fill("mape")
    page.get_by_label("Most trials").fill("2")
    page.get_by_role("button", name="Start sweep").click()
    expect(page.get_by_role("heading", name=re.compile("Sweep"))).to_be_visible()
    expect(page.get_by_text("lower mape is better")).to_be_visible()
    _shot(page, "13-sweep")
    page.get_by_role("button", name="Cancel sweep").click()
    expect(page.locator("#sweep-body .state-cancelled").first).to_be_visible()
    page.goto(journey.model_url)
    expect(page.locator("tr", has_text="random").locator(".state-cancelled")).to_be_visible()
