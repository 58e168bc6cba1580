"""`POST /v1/reports` and `POST /v1/reports/batch`, served as plain ASGI.

These two routes are the hot path of the whole system: a phone's report, or an outbox of them, becomes a Kafka
record here. Under load, FastAPI's per-request machinery (dependency solving, two exit stacks, a Request object,
`jsonable_encoder` and a Response object for the answer) cost more CPU than everything the route itself does
with a report, so the routes are declared in FastAPI (OpenAPI, routing, middlewares and exception handlers all
apply as before) but served by a small ASGI callable (`AsgiRoute`).

What they answer is unchanged: 202 only after the broker acknowledged (acks=all, idempotent producer); 422 with
field errors; 400 for a body that is not JSON; 413 over the size limit; 401/403 from the same check as every
other route; 503 with Retry-After when Kafka cannot take the write. HTTPException and BodyTooLarge raised here
are answered by the app's exception handlers, exactly as from a FastAPI endpoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from schemas import FieldReport
from services.common.auth import Principal, allowed_roles, authenticate
from services.common.kafka_io import KafkaUnavailable, Message
from services.common.metrics import INGEST_REPORTS
from services.common.topics import REPORTS_RAW
from services.ingest.bodies import parse_json, read_asgi_body
from services.ingest.errors import RETRY_AFTER_S, field_errors, unavailable

SUBMITTERS = ("volunteer", "coordinator")
_JSON_HEADERS = ((b"content-type", b"application/json"),)

AsgiHandler = Callable[[Scope, Receive, Send], Awaitable[None]]


class AsgiRoute(APIRoute):
    """A route FastAPI documents and routes like any other, served by `handler` (a plain ASGI callable).

    The `endpoint` only carries the name and docstring for OpenAPI; it is never called.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], handler: AsgiHandler, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.app = handler


class ReportLane:
    """ASGI middleware, innermost of the app's own: `POST` to an `AsgiRoute` path goes straight to its handler.

    What it skips for these requests is the generic part of the stack below it: an AsyncExitStack per request,
    the exception middleware's wrappers around `send`, and trying the router's routes one by one. It sits inside
    the metrics and rate-limit middlewares (counted and limited as before) and inside FastAPI's server-error
    middleware (an unexpected exception is still a 500). Exceptions the app has handlers for (HTTPException for
    401/403/400, BodyTooLarge for 413) are answered by those same handlers; the report handlers raise them only
    before they start a response. Anything unusual (another method, a root_path) takes the normal route.
    """

    def __init__(self, app: Any, fastapi: FastAPI, routes: list[AsgiRoute]) -> None:
        self.app = app
        self.fastapi = fastapi
        self.routes = {route.path: route for route in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if route is None or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # what the router would set: metrics label requests by route template
        scope["endpoint"] = route.endpoint
        try:
            await route.app(scope, receive, send)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Callable[..., Awaitable[Any]] | None:
        handlers = self.fastapi.exception_handlers
        if isinstance(exc, StarletteHTTPException) and exc.status_code in handlers:
            return handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
        return None


async def send_json(send: Send, status: int, body: bytes, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def report_message(report: FieldReport, principal: Principal, received: bytes | None = None) -> Message:
    """The record on `reports.raw`: keyed by report_id so every version of one report meets on one partition."""
    received = received or datetime.now(UTC).isoformat().encode()
    return Message(
        topic=REPORTS_RAW.name,
        key=report.report_id.encode(),
        value=report.model_dump_json(exclude_none=True).encode(),
        headers=(("received_at", received), ("submitted_by", principal.name.encode()), ("source", b"json")),
    )


class _Outbox(BaseModel):
    """The `{"reports": [...]}` form of a batch (other keys, e.g. a device's own, are ignored)."""

    reports: list[FieldReport]


_REPORT_LIST = TypeAdapter(list[FieldReport])
_OUTBOX = TypeAdapter(_Outbox)


def all_valid(raw: bytes) -> list[FieldReport] | None:
    """Every report of a batch body, when all are valid, parsed and validated in one pass by pydantic-core
    (a third of the CPU a batch costs went to validating the reports one parsed dict at a time). None when
    anything is off; `validate_each` then says which items and why, exactly as before."""
    try:
        if raw.lstrip()[:1] == b"[":
            return _REPORT_LIST.validate_json(raw)
        return _OUTBOX.validate_json(raw).reports
    except ValidationError:
        return None


def validate_each(items: list[Any]) -> tuple[list[dict[str, Any]], list[tuple[int, FieldReport]]]:
    """Per item: the valid reports with their index, and a result slot per item (filled in for invalid ones)."""
    results: list[dict[str, Any]] = [{} for _ in items]
    valid: list[tuple[int, FieldReport]] = []
    for i, item in enumerate(items):
        try:
            valid.append((i, FieldReport.model_validate(item)))
        except ValidationError as err:
            rid = item.get("report_id") if isinstance(item, dict) else None
            results[i] = {"index": i, "report_id": rid, "status": "invalid", "errors": field_errors(err)}
    return results, valid


def _authorization(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return value.decode("latin-1")
    return ""


class ReportRoutes:
    """The two report routes of one ingest app (state read from `app.state` per request, as FastAPI routes do)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.allowed = allowed_roles(*SUBMITTERS)
        # Bound once: `.labels()` per report was a visible share of a batch request.
        self.accepted = INGEST_REPORTS.labels("accepted", "")
        self.invalid = INGEST_REPORTS.labels("rejected", "invalid")
        self.unavailable = INGEST_REPORTS.labels("unavailable", "kafka")

    async def _read_raw(self, scope: Scope, receive: Receive) -> tuple[Principal, bytes]:
        """Auth first (an unauthenticated client learns nothing about its body), then the size-capped body."""
        state = self.app.state
        principal = authenticate(state.tokens, _authorization(scope), self.allowed)
        return principal, await read_asgi_body(scope, receive, state.cfg.max_body_bytes)

    async def single(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal, raw = await self._read_raw(scope, receive)
        try:
            # Parsed and validated in one pass by pydantic-core, as enrich reads the record (no dict in between).
            report = FieldReport.model_validate_json(raw)
        except ValidationError:
            try:  # refused: the body parsed on its own, so that not-JSON is a 400, as in the batch route
                report = FieldReport.model_validate(parse_json(raw))
            except ValidationError as err:
                self.invalid.inc()
                response = JSONResponse({"detail": "invalid report", "errors": field_errors(err)}, status_code=422)
                await response(scope, receive, send)
                return
        try:
            await self.app.state.producer.send(report_message(report, principal))
        except KafkaUnavailable as err:
            self.unavailable.inc()
            await unavailable(str(err))(scope, receive, send)
            return
        self.accepted.inc()
        await send_json(send, 202, orjson.dumps({"status": "accepted", "report_id": report.report_id}))

    async def batch(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal, raw = await self._read_raw(scope, receive)
        cfg = self.app.state.cfg
        reports = all_valid(raw)
        if reports is not None and len(reports) <= cfg.batch_max:
            results: list[dict[str, Any]] = [{} for _ in reports]
            valid = list(enumerate(reports))
        else:  # something is off: item by item, so that every valid report is still stored
            items = parse_json(raw)
            items = items.get("reports") if isinstance(items, dict) else items
            if not isinstance(items, list):
                response = JSONResponse({"detail": "expected a JSON list of reports or {\"reports\": [...]}"},
                                        status_code=422)
                await response(scope, receive, send)
                return
            if len(items) > cfg.batch_max:
                INGEST_REPORTS.labels("rejected", "batch_too_large").inc(len(items))
                response = JSONResponse({"detail": f"at most {cfg.batch_max} reports per batch, got {len(items)}"},
                                        status_code=413)
                await response(scope, receive, send)
                return
            results, valid = validate_each(items)
        invalid = len(results) - len(valid)
        if invalid:
            self.invalid.inc(invalid)
        received = datetime.now(UTC).isoformat().encode()  # one request, one arrival time
        errors = await self.app.state.producer.send_many([report_message(r, principal, received) for _, r in valid])
        retry = 0
        for (i, report), err in zip(valid, errors, strict=True):
            if err is None:
                results[i] = {"index": i, "report_id": report.report_id, "status": "accepted"}
            else:
                results[i] = {"index": i, "report_id": report.report_id, "status": "retry", "error": str(err)}
                retry += 1
        accepted = len(valid) - retry
        if accepted:
            self.accepted.inc(accepted)
        if retry:
            self.unavailable.inc(retry)
        status = 503 if retry and not accepted else 200
        headers = ((b"retry-after", RETRY_AFTER_S.encode()),) if retry else ()
        out = {"accepted": accepted, "invalid": invalid, "retry": retry, "results": results}
        await send_json(send, status, orjson.dumps(out), headers)
