"""Sign-in, datasets, schemas, uploads and statistics through the console's pages."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable

import jwt
from dsw_console.session import SANDBOX_COOKIE, TOKEN_COOKIE

from dsw_kit.testing.samples import RETAIL_SCHEMA

from .conftest import Console
from .helpers import RETAIL_CSV, RETAIL_DATE_FORMAT, wait_for


def _create_retail_dataset(
    console: Console, name: str = "retail", allow_partial: bool = False, timestamp_field: str = ""
) -> str:
    client = console.client
    created = client.post("/schemas", data={"definition": json.dumps(RETAIL_SCHEMA)})
    assert created.status_code == 200, created.text  # redirected to the schema list
    schema_id = re.search(r'<td class="mono">([0-9a-f-]{36})</td>', created.text)
    assert schema_id, "the new schema is listed"
    form = {"name": name, "schema_id": schema_id.group(1), "timestamp_field": timestamp_field}
    if allow_partial:
        form["allow_partial"] = "on"
        form["error_threshold_percent"] = "5"
    response = client.post("/datasets", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"].rsplit("/", 1)[1]


def _upload(console: Console, dataset_id: str, content: bytes, name: str = "retail.csv") -> str:
    response = console.client.post(
        f"/uploads/datasets/{dataset_id}",
        files={"file": (name, content, "text/csv")},
        data={"format": "csv", "formats": RETAIL_DATE_FORMAT},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["batch_id"])


def test_pages_need_a_session_and_dev_login_sets_strict_http_only_cookies(
    catalog_console: Console,
) -> None:
    console = catalog_console
    client = console.client
    redirected = client.get("/datasets", follow_redirects=False)
    assert redirected.status_code == 303
    assert redirected.headers["location"].startswith("/login")
    # htmx fragments are told to navigate instead of swapping a login page into a table.
    fragment = client.get("/datasets/x/batches", headers={"HX-Request": "true"})
    assert fragment.headers["HX-Redirect"].startswith("/login")

    login = client.get("/login")
    assert "Dev login" in login.text
    assert 'for="token"' in login.text
    response = client.post("/login/dev", data={"org": "acme"}, follow_redirects=False)
    assert response.status_code == 303
    cookies = response.headers.get_list("set-cookie")
    token_cookie = next(c for c in cookies if c.startswith(TOKEN_COOKIE + "="))
    assert "HttpOnly" in token_cookie
    assert "SameSite=strict" in token_cookie
    page = client.get("/datasets")
    assert page.status_code == 200
    assert "acme" in page.text
    assert "No datasets in this sandbox yet" in page.text


def test_a_pasted_token_is_checked_by_the_apis(
    catalog_console: Console, issue_token: Callable[..., str]
) -> None:
    console = catalog_console
    refused = console.client.post("/login", data={"token": "not-a-token"})
    assert refused.status_code == 400
    assert "Not a token" in refused.text
    # A well-formed token signed with another key: the catalog refuses it, and so does the console.
    other = jwt.encode({"sub": "mallory", "org": "org-a", "exp": 9999999999}, "x" * 40)
    refused = console.client.post("/login", data={"token": other})
    assert refused.status_code == 400
    assert "Unauthorized" in refused.text
    assert "token is not valid" in refused.text
    console.sign_in(issue_token())
    assert console.client.get("/datasets").status_code == 200


def test_upload_shows_statistics_histograms_schema_and_error_reports(
    catalog_console: Console, issue_token: Callable[..., str]
) -> None:
    console = catalog_console
    console.sign_in(issue_token())
    dataset_id = _create_retail_dataset(console, allow_partial=True, timestamp_field="_retail.date")
    # Two bad rows: a store type outside the enum and a negative sale.
    lines = RETAIL_CSV.read_text().splitlines()
    bad = [lines[1].replace(",A,", ",Z,", 1), lines[2].replace(",A,", ",A,-", 1)]
    content = "\n".join([*lines, *bad]).encode() + b"\n"
    batch_id = _upload(console, dataset_id, content)

    def ingested() -> str | None:
        html = console.client.get(f"/datasets/{dataset_id}/batches").text
        final = ("state-partial", "state-success", "state-failed")
        return html if any(state in html for state in final) else None

    batches = wait_for(ingested, "the batch to be ingested")
    assert "state-partial" in batches, batches
    assert f'href="/batches/{batch_id}/errors"' in batches
    report = console.client.get(f"/batches/{batch_id}/errors")
    assert report.status_code == 200
    rejected = [json.loads(line) for line in report.text.splitlines() if line.strip()]
    assert len(rejected) == 2

    page = console.client.get(f"/datasets/{dataset_id}").text
    assert "weeklySales" in page
    assert "storeType" in page
    assert page.count('<svg class="histogram"') >= 5  # one per numeric column
    assert 'aria-label="Histogram of _retail.weeklySales' in page
    # The sample is spread over the dates (the retail file's first rows are its first weeks)
    # and the page says it is a sample.
    assert "a <strong>sample</strong> of 1,000 rows" in page
    assert "read in 5 equal time slices of <code>_retail.date</code>" in page
    assert 'aria-describedby="histogram-sample"' in page
    listed = console.client.get("/datasets").text
    assert f'href="/datasets/{dataset_id}"' in listed
    assert '<td class="num">5,175</td>' in listed  # its rows, from the list API

    # A column the schema lacks is dropped (the default), and the batch list says so.
    extra = "\n".join(f"{line},{'color' if i == 0 else 'red'}" for i, line in enumerate(lines[:4]))
    _upload(console, dataset_id, extra.encode() + b"\n", name="extra.csv")

    def warned() -> str | None:
        html = console.client.get(f"/datasets/{dataset_id}/batches").text
        return html if "Columns not in the schema were dropped" in html else None

    assert "<code>color</code> (3 rows)" in wait_for(warned, "the dropped-column warning")


def test_upload_and_form_problems_are_readable(
    catalog_console: Console, issue_token: Callable[..., str]
) -> None:
    console = catalog_console
    console.sign_in(issue_token())
    dataset_id = _create_retail_dataset(console)
    empty = console.client.post(
        f"/uploads/datasets/{dataset_id}",
        files={"file": ("empty.csv", b"", "text/csv")},
        headers={"Accept": "application/json"},
    )
    assert empty.status_code == 422
    assert empty.headers["content-type"].startswith("application/problem+json")
    assert empty.json()["errors"][0]["pointer"] == "/form/file"
    # The catalog's own validation (a bad dataset name) comes back as a readable message.
    invalid = console.client.post("/datasets", data={"name": "!bad name"})
    assert invalid.status_code == 422
    assert "Unprocessable Entity" in invalid.text
    assert "/body/name" in invalid.text
    # Without script the upload form posts and the browser follows the redirect to the dataset.
    plain = console.client.post(
        f"/uploads/datasets/{dataset_id}",
        files={"file": ("retail.csv", RETAIL_CSV.read_bytes()[:2000], "text/csv")},
        data={"format": "csv", "formats": "no-equals-sign"},
        follow_redirects=False,
    )
    assert plain.status_code == 422
    assert "line 1: write field=format" in plain.text
    bad_schema = console.client.post("/schemas", data={"definition": "{nope"})
    assert bad_schema.status_code == 400
    assert "not valid JSON" in bad_schema.text


def test_another_tenants_dataset_is_not_found_and_sandboxes_switch(
    catalog_console: Console, issue_token: Callable[..., str]
) -> None:
    console = catalog_console
    console.sign_in(issue_token(org_id="org-a", sandboxes=("prod", "dev")))
    dataset_id = _create_retail_dataset(console)
    console.client.cookies.clear()
    console.sign_in(issue_token(org_id="org-b"))
    other = console.client.get(f"/datasets/{dataset_id}")
    assert other.status_code == 404
    assert "Not Found" in other.text
    assert "<h1>" in other.text

    console.client.cookies.clear()
    console.sign_in(issue_token(org_id="org-a", sandboxes=("prod", "dev")))
    switched = console.client.post(
        "/sandbox",
        data={"sandbox": "dev", "back": f"/datasets/{dataset_id}"},
        follow_redirects=False,
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/datasets"
    assert console.client.cookies.get(SANDBOX_COOKIE) == "dev"
    assert "No datasets in this sandbox yet" in console.client.get("/datasets").text
    refused = console.client.post("/sandbox", data={"sandbox": "staging"})
    assert refused.status_code == 403


def test_a_histogram_sample_spreads_over_whole_days_of_a_date_field() -> None:
    from datetime import UTC, datetime, timedelta

    from dsw_console.pages.datasets import _slices, _time_bounds

    bounds = _time_bounds({"type": "date", "min": "2010-02-05", "max": "2012-10-26"})
    assert bounds is not None
    start, end = bounds
    assert start == datetime(2010, 2, 5, tzinfo=UTC)
    assert end == datetime(2012, 10, 27, tzinfo=UTC)  # the last day is inside the last window
    slices = _slices(start, end, 5)
    assert len(slices) == 5
    assert slices[0][0] == start
    assert slices[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(slices))  # no gap, no overlap
    moment = _time_bounds({"type": "timestamp", "min": "2024-01-01T00:00:00Z", "max": "2024-01-02"})
    assert moment is not None
    assert moment[1] - moment[0] == timedelta(days=1, seconds=1)
    assert _time_bounds({"type": "number", "min": 1, "max": 2}) is None
    assert _time_bounds({"type": "date", "min": "not a date", "max": "2024-01-01"}) is None
