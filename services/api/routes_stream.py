"""GET /v1/stream: Server-Sent Events of site changes, for live dashboards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from schemas import Hazard
from services.api.deps import COMMON_RESPONSES, READERS, model_of, resolve_area
from services.api.stream import StreamClient, events_for, resume_event, sse
from services.common.auth import Principal, require

router = APIRouter(tags=["stream"])
_require_reader = require(*READERS)


async def stream_access(request: Request,
                  access_token: Annotated[str | None, Query(
                      description="The bearer token, for browsers' EventSource (which cannot send headers). "
                                  "Prefer the Authorization header where you can.")] = None) -> Principal:
    if access_token and not request.headers.get("authorization"):
        scope = dict(request.scope)
        scope["headers"] = [*request.scope["headers"], (b"authorization", f"Bearer {access_token}".encode())]
        request = Request(scope)
    return await _require_reader(request)


@router.get("/v1/stream", responses={**COMMON_RESPONSES, 200: {
    "description": "text/event-stream. Events: `hello` {as_of, version, ready}; `site` (a SiteSummary, as in "
                   "/v1/sites); `removed` {site_id} (gone, or for comms no longer verified); `reset` (you missed "
                   "changes: reload /v1/sites). Comment lines (`: ping`) are heartbeats. Each event's `id` is "
                   "the read-model version: reconnect with Last-Event-ID to receive what changed meanwhile.",
    "content": {"text/event-stream": {"example": "id: 1042\nevent: site\ndata: {\"site_id\": \"...\"}\n\n"}}}})
async def stream(
        request: Request,
        hazard: Annotated[Hazard | None, Query(description="Only this hazard")] = None,
        area: Annotated[str | None, Query(description="Only sites inside this admin code", examples=["72.71"])] = None,
        last_event_id: Annotated[str | None, Header(description="Resume after this event id (the read-model "
                                                                "version); sent by EventSource on reconnect")] = None,
        principal: Principal = Depends(stream_access)) -> StreamingResponse:
    """Site changes as they are applied to the read model, filtered by the caller's role (personal data is
    stripped for managers and comms; comms only see verified sites) and optionally by hazard and area."""
    model = model_of(request)
    hub = request.app.state.hub
    heartbeat_s = request.app.state.heartbeat_s
    try:
        resume = int(last_event_id) if last_event_id else None
    except ValueError as err:
        raise HTTPException(422, "Last-Event-ID must be an event id this stream sent") from err
    client = StreamClient(principal, asyncio.get_running_loop(), hazard.value if hazard else None,
                          resolve_area(area))

    async def events() -> AsyncIterator[bytes]:
        hub.connect(client)  # before reading the model: nothing that changes from here on can be missed
        try:
            yield b"retry: 3000\n\n"
            yield sse("hello", {"as_of": model.newest.isoformat() if model.newest else None,
                                "version": model.version, "ready": model.ready})
            if resume is not None:
                changed = model.changes_since(resume)
                if changed is None:
                    yield sse("reset", {"reason": "too far behind: reload /v1/sites"}, model.version)
                else:
                    version = model.version
                    for sid in changed:
                        out = resume_event(client, version, sid, model.get(sid))
                        if out:
                            yield out
            last_beat = time.monotonic()
            while True:
                try:
                    change = await asyncio.wait_for(client.queue.get(), timeout=heartbeat_s)
                except TimeoutError:
                    change = None
                if client.overflowed:
                    yield sse("reset", {"reason": "too slow to keep up: reload /v1/sites"}, model.version)
                    return
                if change is not None:
                    out = events_for(client, change)
                    if out:
                        yield out
                if time.monotonic() - last_beat >= heartbeat_s:
                    last_beat = time.monotonic()
                    yield b": ping\n\n"
        finally:
            hub.disconnect(client)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
