"""Live metrics as series: reading serving's counters, rates between samples, charts."""

from __future__ import annotations

import pytest
from dsw_console.charts import Series, line_chart_svg
from dsw_console.live import (
    MAX_SAMPLES,
    Sample,
    accuracy_series,
    decode_samples,
    drift_series,
    encode_samples,
    rate_series,
    read_counters,
)
from dsw_console.upstream import ApiError

SHOP = 'org="acme",sandbox="prod",service="shop"'
EXPOSITION = f"""\
# TYPE dsw_serving_requests_total counter
dsw_serving_requests_total{{{SHOP},revision="1",outcome="ok"}} 10.0
dsw_serving_requests_total{{{SHOP},revision="2",outcome="ok"}} 4.0
dsw_serving_requests_total{{org="other",sandbox="prod",service="shop",revision="1",outcome="ok"}} 99
dsw_serving_requests_total{{org="acme",sandbox="dev",service="shop",revision="1",outcome="ok"}} 77
# TYPE dsw_serving_errors_total counter
dsw_serving_errors_total{{{SHOP},status="422"}} 3.0
dsw_serving_errors_total{{{SHOP},status="shadow"}} 5.0
dsw_serving_errors_total{{org="acme",sandbox="prod",service="other",status="422"}} 8.0
# TYPE dsw_serving_predict_seconds histogram
dsw_serving_predict_seconds_bucket{{{SHOP},revision="1",le="+Inf"}} 10.0
dsw_serving_predict_seconds_count{{{SHOP},revision="1"}} 10.0
dsw_serving_predict_seconds_sum{{{SHOP},revision="1"}} 0.05
"""


def test_counters_of_one_service_of_one_tenant_only() -> None:
    sample = read_counters(EXPOSITION, "acme", "prod", "shop", at=100.0)
    assert sample.ok == {"1": 10.0, "2": 4.0}  # not the other org's nor the dev sandbox's
    assert sample.err == 3.0  # a shadow's failure is not the caller's error
    assert sample.lat_n == {"1": 10.0}
    assert sample.lat_s == {"1": 0.05}
    assert read_counters(EXPOSITION, "nobody", "prod", "shop", at=1.0).ok == {}


def test_rates_between_samples_and_a_restart_of_serving() -> None:
    samples = [
        Sample(t=0, ok={"1": 10}, lat_s={"1": 0.05}, lat_n={"1": 10}, err=1),
        Sample(t=5, ok={"1": 20, "2": 5}, lat_s={"1": 0.10, "2": 0.05}, lat_n={"1": 20, "2": 5}),
        # serving restarted: counters went back down, that interval is left out
        Sample(t=10, ok={"1": 2}, lat_s={"1": 0.01}, lat_n={"1": 2}, err=0),
        Sample(t=15, ok={"1": 12}, lat_s={"1": 0.03}, lat_n={"1": 12}, err=2),
    ]
    rates = rate_series(samples)
    requests = {line.label: line.points for line in rates["requests"]}
    assert requests == {"revision 1": [(5, 2.0), (15, 2.0)], "revision 2": [(5, 1.0)]}
    latency = {line.label: line.points for line in rates["latency"]}
    assert latency["revision 1"] == [(5, pytest.approx(5.0)), (15, pytest.approx(2.0))]
    assert latency["revision 2"] == [(5, pytest.approx(10.0))]
    assert rates["errors"][0].points == [(10, 0.0), (15, 24.0)]  # per minute; t=5 went down
    assert rate_series(samples[:1]) == {"requests": [], "latency": [], "errors": []}


def test_samples_travel_with_the_page_and_bad_ones_are_a_problem() -> None:
    samples = [
        Sample(t=float(t), ok={"1": float(t)}, psi=0.1 if t % 2 else None) for t in range(70)
    ]
    text = encode_samples(samples)
    assert len(text) < 4000  # small enough for a query string
    decoded = decode_samples(text)
    assert len(decoded) == MAX_SAMPLES
    assert decoded[-1] == samples[-1]
    assert drift_series(decoded)[0].points[-1] == (69.0, 0.1)
    assert decode_samples("") == []
    with pytest.raises(ApiError) as refused:
        decode_samples('[{"t": "yesterday"}]')
    assert refused.value.problem.status == 422
    assert refused.value.problem.errors[0]["pointer"] == "/query/samples"


def test_accuracy_windows_become_one_line_per_revision_and_metric() -> None:
    windows = [
        {
            "revision": 1,
            "window_start": "2026-11-29T10:00:00Z",
            "window_seconds": 300,
            "rows": 12,
            "metrics": {"rmse": 3.5, "mape": 0.2},
        },
        {
            "revision": 2,
            "window_start": "2026-11-29T10:05:00+00:00",
            "window_seconds": 300,
            "rows": 4,
            "metrics": {"rmse": 2.5},
        },
    ]
    series = accuracy_series(windows)
    assert sorted(series) == ["feedback rows", "mape", "rmse"]
    rmse = {line.label: line.points for line in series["rmse"]}
    assert list(rmse) == ["revision 1", "revision 2"]
    assert rmse["revision 2"][0][1] == 2.5
    assert rmse["revision 2"][0][0] - rmse["revision 1"][0][0] == 300


def test_line_chart_has_a_text_alternative_and_a_legend() -> None:
    svg = line_chart_svg(
        "Requests per second",
        [Series("revision 1", [(0, 1.0), (5, 3.0)]), Series("revision 2", [(5, 0.5)])],
        " req/s",
    )
    assert svg.startswith('<svg class="line-chart" role="img"')
    assert "revision 1: latest 3 req/s, from 1 to 3 req/s over 2 point(s)" in svg
    assert svg.count("<polyline") == 2
    assert ">revision 2</text>" in svg
    assert "no data" in line_chart_svg("Empty", [])
