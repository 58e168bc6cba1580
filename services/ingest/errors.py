"""Turning pydantic errors into messages a phone app can show next to the right field."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from pydantic import ValidationError

RETRY_AFTER_S = "5"


def field_errors(err: ValidationError) -> list[dict[str, str]]:
    out = []
    for e in err.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in e["loc"]) or "(body)"
        out.append({"field": loc, "error": e["msg"], "type": e["type"]})
    return out


def unavailable(detail: str) -> JSONResponse:
    """503 with Retry-After: the only honest answer when the broker did not acknowledge."""
    return JSONResponse({"detail": f"Kafka cannot take the write right now; nothing was stored. Retry. ({detail})"},
                        status_code=503, headers={"Retry-After": RETRY_AFTER_S})
