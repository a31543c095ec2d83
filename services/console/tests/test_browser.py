"""End to end in Debian's Chromium: the console and the real services behind it, on real ports.

Sign in with the dev login, define a schema, create a dataset, upload the retail sample (progress
bar), see its statistics, create a model from the generated form, train it twice (live status by
htmx polling), compare the runs on the chart, publish the best as a service, predict, make an API
key, add a retraining schedule. Screenshots of the main pages go to ``build/screenshots/`` at the
repository root. Scoring is not part of this stack: its page must show "service unavailable".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from dsw_console.app import create_app

from dsw_catalog.app import create_app as create_catalog_app
from dsw_catalog.settings import CatalogSettings
from dsw_kit.broker import free_port
from dsw_kit.settings import PlatformSettings
from dsw_recipes.app import create_app as create_recipes_app
from dsw_recipes.settings import RecipesSettings
from dsw_serving.app import create_app as create_serving_app
from dsw_serving.settings import ServingSettings
from dsw_training.app import create_app as create_training_app
from dsw_training.settings import TrainingSettings

from .conftest import _database, console_settings
from .helpers import RETAIL_CSV, RETAIL_DATE_FORMAT, RETAIL_SCHEMA
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


@pytest.fixture
def console_url(platform: PlatformSettings, tmp_path: Path) -> Iterator[str]:
    servers: list[Server] = []
    try:
        for catalog_db in _database("catalog", tmp_path):
            for recipes_db in _database("recipes", tmp_path):
                for training_db, serving_db in zip(
                    _database("training", tmp_path), _database("serving", tmp_path), strict=True
                ):
                    catalog = Server(
                        create_catalog_app(
                            CatalogSettings(
                                database_url=catalog_db, platform=platform, ingest_poll_seconds=0.2
                            )
                        )
                    ).start()
                    servers.append(catalog)
                    recipes = Server(
                        create_recipes_app(
                            RecipesSettings(
                                database_url=recipes_db,
                                platform=platform,
                                smoke_builtins=False,
                                embedded_workers=False,
                            )
                        )
                    ).start()
                    servers.append(recipes)
                    training_settings = TrainingSettings(
                        database_url=training_db,
                        platform=platform,
                        catalog_url=catalog.url,
                        recipes_url=recipes.url,
                        run_poll_seconds=0.2,
                        progress_write_seconds=0.2,
                        log_sync_seconds=0.5,
                    )
                    training = Server(create_training_app(training_settings)).start()
                    servers.append(training)
                    serving = Server(
                        create_serving_app(
                            ServingSettings(
                                database_url=serving_db,
                                platform=platform,
                                training_url=training.url,
                            )
                        )
                    ).start()
                    servers.append(serving)
                    settings = console_settings(
                        platform,
                        catalog_url=catalog.url,
                        recipes_url=recipes.url,
                        training_url=training.url,
                        serving_url=serving.url,
                    )
                    console = Server(create_app(settings)).start()
                    servers.append(console)
                    yield console.url
                    for server in reversed(servers):
                        server.stop()
                    servers.clear()
    finally:
        for server in reversed(servers):
            server.stop()


def _fits_1280(page: Any) -> bool:
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    assert _fits_1280(page), f"{name} scrolls horizontally at 1280 px"


def _failure_shot(page: Any) -> None:
    """Where the journey stopped, for the CI artifacts."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(SCREENSHOTS / "failure.png"), full_page=True)
    except Exception:  # the page itself may be what broke
        return


def test_from_upload_to_compared_runs_in_chromium(console_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    csv = tmp_path / "retail.csv"
    csv.write_bytes(RETAIL_CSV.read_bytes())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            # Generous: four engineers share two cores; these are ceilings, not expectations.
            page.set_default_timeout(90_000)
            try:
                _journey(page, console_url, csv)
            except Exception:
                _failure_shot(page)
                raise
        finally:
            browser.close()


def _journey(page: Any, base: str, csv: Path) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/datasets")
    expect(page).to_have_url(f"{base}/login?next=/datasets")
    _shot(page, "01-sign-in")
    page.keyboard.press("Tab")  # the first stop is the skip link (keyboard users)
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.get_by_label("Organisation").fill("acme")
    page.get_by_role("button", name="Dev login").click()
    expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
    expect(page.get_by_text("No datasets in this sandbox yet")).to_be_visible()

    page.get_by_role("link", name="Manage schemas").click()
    page.get_by_label("Definition").fill(json.dumps(RETAIL_SCHEMA, indent=2))
    page.get_by_role("button", name="Create schema").click()
    expect(page.get_by_role("cell", name="Retail sales")).to_be_visible()

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Datasets").click()
    page.get_by_label("Name", exact=True).fill("retail")
    page.get_by_label("Schema").select_option(label="Retail sales")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.get_by_role("heading", name="retail", exact=True)).to_be_visible()

    page.get_by_label("File", exact=True).set_input_files(str(csv))
    page.get_by_label("Date formats (optional)").fill(RETAIL_DATE_FORMAT)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("Uploaded", timeout=120_000)
    # htmx polls the batch table until ingestion ends.
    expect(page.locator("#batches .state-success")).to_be_visible(timeout=120_000)
    page.reload()
    expect(page.locator("svg.histogram").first).to_be_visible()
    _shot(page, "02-dataset")

    page.get_by_role("link", name="Recipes").click()
    _shot(page, "03-recipes")
    page.get_by_role("link", name="retail-sales").click()
    page.get_by_role("link", name="Create a model").first.click()
    page.get_by_label("Name", exact=True).fill("retail-forecast")
    for name, value in (("n_estimators", "15"), ("num_leaves", "8"), ("num_threads", "1")):
        page.get_by_label(name, exact=True).fill(value)
    _shot(page, "04-new-model")
    page.get_by_role("button", name="Create model").click()
    expect(page.get_by_role("heading", name="retail-forecast")).to_be_visible()
    model_url = page.url

    for _ in range(2):
        page.goto(model_url)
        page.get_by_role("button", name="Train now").click()
        expect(page.get_by_role("heading", name="Training run")).to_be_visible()
    # The run page polls its status; when the run ends it reloads with metrics and actions.
    expect(page.get_by_role("button", name="Publish as a service")).to_be_visible(timeout=120_000)
    expect(page.locator(".state-succeeded").first).to_be_visible()
    _shot(page, "05-run")

    page.goto(model_url)
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
    page.locator("th:has-text('best') a").click()
    page.get_by_role("button", name="Publish as a service").click()
    expect(page.get_by_text("live", exact=True)).to_be_visible()
    example = json.loads(page.get_by_label("Request body (JSON)").input_value())
    page.get_by_label("Request body (JSON)").fill(_retail_records(example))
    page.get_by_role("button", name="Predict").click()
    expect(page.get_by_role("heading", name="Answer")).to_be_visible()
    page.get_by_label("Application name").fill("shop")
    page.get_by_role("button", name="Create API key").click()
    expect(page.locator("#new-key")).to_be_visible()
    _shot(page, "07-service")

    page.get_by_role("link", name="Schedules").click()
    page.get_by_label("Cron expression").fill("0 3 * * 1")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_text("0 3 * * 1", exact=True)).to_be_visible()
    _shot(page, "08-schedules")
    page.get_by_role("link", name="Scoring runs").click()
    expect(page.get_by_text("service unavailable").first).to_be_visible()
