"""The situation API: aggregated views for disaster managers, built from the `sites` topic.

Routes only translate HTTP into calls of the pure core (services.core.aggregate); the read model is a
replica of Kafka, rebuilt at every start.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse

from schemas import Hazard
from schemas.api import SituationResponse
from services.api.consumer import SitesFollower
from services.api.readmodel import ReadModel
from services.common.auth import Principal, TokenStore, require
from services.common.config import Settings, settings
from services.common.logs import setup_logging
from services.common.metrics import instrument, metrics_response
from services.common.topics import ensure_topics_in_background
from services.core.aggregate import situation

log = logging.getLogger("siaga.api")
READERS = ("manager", "coordinator")


def create_app(cfg: Settings | None = None, follow: bool = True) -> FastAPI:
    cfg = cfg or settings()
    model = ReadModel()

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        follower = None
        if follow:
            ensure_topics_in_background(cfg)
            follower = SitesFollower(cfg.kafka, model)
            follower.start()
        app.state.follower = follower
        yield
        if follower is not None:
            follower.stop()

    app = FastAPI(title="Siaga situation API", version="1", lifespan=lifespan,
                  description="Aggregated rapid-assessment figures by admin area, for PMI and CVTL.")
    app.state.cfg = cfg
    app.state.model = model
    app.state.tokens = TokenStore.from_file(cfg.auth_file)
    instrument(app, "api")

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict:
        follower = app.state.follower
        return {"status": "ok", "sites": len(model.sites), "ready": model.ready,
                "kafka_error": follower.error if follower else None}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        """Ready once the read model has replayed the `sites` topic up to where it ended at start."""
        body = {"ready": model.ready, "sites": len(model.sites)}
        return JSONResponse(body, status_code=200 if model.ready else 503)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics():  # noqa: ANN202
        return metrics_response()

    @app.get("/v1/situation", response_model=SituationResponse, tags=["situation"])
    async def get_situation(
        level: Annotated[int, Query(ge=1, le=4, description="1 province, 2 regency/city, 3 district, 4 village")] = 2,
        hazard: Hazard | None = None,
        since: datetime | None = Query(None, description="Only sites seen at or after this time (RFC 3339)"),
        until: datetime | None = Query(None, description="Only sites first seen before this time"),
        status: Literal["all", "verified"] = "all",
        area: str | None = Query(None, description="Code prefix: Kemendagri (72.71), TL P-code or HDX (ID7271)"),
        principal: Principal = Depends(require(*READERS)),
    ) -> SituationResponse:
        """Per area at `level`: sites, reports, summed figures with min–max ranges; `as_of` says how fresh."""
        prefix = resolve_area(area)
        return situation(model.snapshot(), level, hazard=hazard, since=since, until=until, status=status,
                         area_prefix=prefix)

    return app


def resolve_area(area: str | None) -> str | None:
    """Accept Kemendagri codes, Timor-Leste P-codes and HDX P-codes (ID + BPS code) for Indonesia."""
    if not area:
        return None
    from services.core.gazetteer import get_gazetteer

    code = get_gazetteer().to_kemendagri(area.strip())
    if code is None:
        raise HTTPException(422, f"unknown area code {area!r}: use a Kemendagri code (72.71), a Timor-Leste "
                                 "P-code (TL01) or an HDX P-code with a BPS crosswalk entry (ID7271)")
    return code


def build() -> FastAPI:
    """Entry point for `uvicorn --factory services.api.app:build` (and `python -m services.api`)."""
    setup_logging("api")
    return create_app()
