"""Shared pieces of the API's routes: roles, the status policy, area codes, freshness headers, responses."""

from __future__ import annotations

from datetime import datetime

from fastapi import HTTPException, Request
from fastapi.responses import Response

from services.api.cache import GZIP_MIN, Answer
from services.api.readmodel import ReadModel
from services.api.views import visible  # noqa: F401 - re-exported for routes
from services.common.auth import Principal, require

# Who may call what (admin may always). Volunteers submit through ingest and read nothing here.
READERS = ("manager", "coordinator", "comms")
REVIEWERS = ("coordinator",)
read_access = require(*READERS)
review_access = require(*REVIEWERS)

SITE_STATUSES = ("all", "any", "verified", "unverified", "needs_review", "needs_info", "rejected")
STATUS_HELP = ("`all`: every site except rejected ones (default); `verified`: verified sites only; `any`: "
               "rejected too; or one site status (`unverified`, `needs_review`, `needs_info`, `rejected`). "
               "Comms tokens always get `verified`.")


def effective_status(principal: Principal, requested: str | None) -> str:
    """Comms sees verified sites only: that is the default for them, and asking for more is a 403."""
    if principal.role == "comms":
        if requested not in (None, "verified"):
            raise HTTPException(403, "role 'comms' sees verified sites only: use status=verified (the default)")
        return "verified"
    return requested or "all"


def resolve_area(area: str | None) -> str | None:
    """Accept Kemendagri codes, Timor-Leste P-codes and HDX P-codes (ID + BPS code) for Indonesia."""
    if not area or not area.strip():
        return None
    from services.core.gazetteer import get_gazetteer

    code = get_gazetteer().to_kemendagri(area.strip())
    if code is None:
        raise HTTPException(422, f"unknown area code {area!r}: use a Kemendagri code (72.71), a Timor-Leste "
                                 "P-code (TL01) or an HDX P-code with a BPS crosswalk entry (ID7271)")
    return code


def model_of(request: Request) -> ReadModel:
    return request.app.state.model


def iso(t: datetime | None) -> str:
    return t.isoformat() if t is not None else ""


def freshness_headers(model: ReadModel, as_of: datetime | None, cache: str | None = None) -> dict[str, str]:
    h = {"X-Siaga-As-Of": iso(as_of), "X-Siaga-Ready": "true" if model.ready else "false",
         "X-Siaga-Version": str(model.version), "Cache-Control": "no-cache"}
    if cache:
        h["X-Siaga-Cache"] = cache
    return h


def answer_response(request: Request, answer: Answer, headers: dict[str, str]) -> Response:
    """Stored bytes as they are; gzip (compressed once per answer) when the client accepts it."""
    if len(answer.body) > GZIP_MIN and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(answer.gzipped(), media_type=answer.media_type,
                        headers={**headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return Response(answer.body, media_type=answer.media_type, headers={**headers, "Vary": "Accept-Encoding"})


COMMON_RESPONSES = {
    401: {"description": "No or unknown bearer token"},
    403: {"description": "The token's role may not do this (volunteers read nothing here; comms only verified)"},
}
