"""Prometheus metrics shared by the services (names documented in docs/metrics.md) and HTTP instrumentation."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response

HTTP_REQUESTS = Counter("siaga_http_requests_total", "HTTP requests", ["service", "route", "method", "status"])
HTTP_SECONDS = Histogram("siaga_http_request_seconds", "HTTP request latency", ["service", "route"],
                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
INGEST_REPORTS = Counter("siaga_ingest_reports_total", "Reports/mentions seen by ingest", ["outcome", "reason"])
PRODUCE_SECONDS = Histogram("siaga_ingest_produce_seconds", "Time from send to broker acknowledgement",
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
ENRICH_REPORTS = Counter("siaga_enrich_reports_total", "Reports processed by enrich", ["outcome"])
GEOTAG = Counter("siaga_geotag_total", "Geotag results by method", ["method"])
GEOTAG_FAILURES = Counter("siaga_geotag_failures_total", "Reports that could not be geotagged", ["reason"])
# An input offset skipped inside one assignment: a message the worker never saw (docs/metrics.md). Must stay 0.
ENRICH_OFFSET_GAPS = Counter("siaga_enrich_offset_gaps_total", "Input offsets a stream skipped", ["topic"])
DEADLETTER = Counter("siaga_deadletter_total", "Records sent to the dead-letter topic", ["source", "reason"])
CONSUMER_LAG = Gauge("siaga_consumer_lag", "Messages behind the end of the topic", ["service", "topic", "partition"])
API_SITES = Gauge("siaga_api_sites", "Sites in the API read model")
READMODEL_LAG = Gauge("siaga_api_readmodel_lag_seconds", "Age of the newest event applied to the read model")
MENTIONS = Counter("siaga_mentions_total", "Mentions by outcome", ["outcome"])
RATE_LIMITED = Counter("siaga_rate_limited_total", "Requests refused with 429 by the per-token limit", ["service"])


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def instrument(app, service: str) -> None:  # noqa: ANN001 - a FastAPI app
    """Count and time every request by its route template (not raw path: ids would explode cardinality).

    A plain ASGI middleware: Starlette's `@app.middleware("http")` costs a task and a stream per request,
    which showed up as a third of the ingest service's time under load.
    """
    app.add_middleware(_MetricsMiddleware, service=service)


class _MetricsMiddleware:
    def __init__(self, app, service: str) -> None:  # noqa: ANN001
        self.app = app
        self.service = service
        # Label children by (route, method, status) and by route: `.labels()` takes a lock and builds a tuple
        # key on every call, which at thousands of requests a second was a measurable share of the request.
        # Bounded: routes are templates (or "unmatched"), methods and statuses are few.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[str, Any] = {}

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message) -> None:  # noqa: ANN001
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            key = (path, scope["method"], status)
            counter = self._counters.get(key)
            if counter is None:
                counter = self._counters[key] = HTTP_REQUESTS.labels(self.service, path, key[1], str(status))
            counter.inc()
            timer = self._timers.get(path)
            if timer is None:
                timer = self._timers[path] = HTTP_SECONDS.labels(self.service, path)
            timer.observe(elapsed)
