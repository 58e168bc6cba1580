"""Reading request bodies with a hard size limit, so one huge upload cannot exhaust a worker's memory."""

from __future__ import annotations

from typing import Any

import pydantic_core
from fastapi import HTTPException, Request
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope


class BodyTooLarge(Exception):
    pass


def _check_declared(declared: bytes | None, limit: int) -> None:
    """A declared Content-Length over the limit is refused before a byte of the body is read."""
    if declared and declared.isdigit() and int(declared) > limit:
        size = declared.decode("latin-1")
        raise BodyTooLarge(f"body of {size} bytes is over the {limit}-byte limit; split it into batches")


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"body is over the {limit}-byte limit; split it into batches")


async def read_asgi_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The body, refused with BodyTooLarge as soon as it is over `limit` (declared or received).

    Reads the ASGI channel itself, so the report routes served as plain ASGI (services.ingest.reports) need no
    Request and no stream per report; FastAPI routes call it through `read_body`."""
    declared = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            declared = value
            break
    _check_declared(declared, limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """pydantic-core's parser, the one the report routes validate with in one pass (services.ingest.reports):
    a body then parses, or not, the same on both of their paths (NaN and Infinity included, which the schemas'
    number fields refuse on their own)."""
    try:
        return pydantic_core.from_json(raw)
    except ValueError as err:
        raise HTTPException(400, f"body is not valid JSON: {err}") from err


async def read_body(request: Request, limit: int) -> bytes:
    """`read_asgi_body` for a FastAPI route. The body is read once: nothing may read it from `request` after."""
    return await read_asgi_body(request.scope, request.receive, limit)


async def read_json_body(request: Request, limit: int) -> Any:
    return parse_json(await read_body(request, limit))
