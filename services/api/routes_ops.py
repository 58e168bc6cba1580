"""/healthz, /readyz, /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.api.deps import iso, model_of
from services.common.metrics import metrics_response

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz(request: Request) -> dict:
    """Alive. Says how many sites are loaded, whether the read model caught up and the last Kafka error."""
    model = model_of(request)
    follower = request.app.state.follower
    return {"status": "ok", "sites": len(model.sites), "ready": model.ready, "version": model.version,
            "as_of": iso(model.newest) or None, "kafka_error": follower.error if follower else None}


@router.get("/readyz", responses={503: {"description": "Still replaying the `sites` topic"}})
async def readyz(request: Request) -> JSONResponse:
    """Ready (200) once the read model has replayed the `sites` topic up to where it ended at start; 503 until
    then, so a load balancer never sends a dashboard to a half-loaded replica."""
    model = model_of(request)
    body = {"ready": model.ready, "sites": len(model.sites), "as_of": iso(model.newest) or None}
    return JSONResponse(body, status_code=200 if model.ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics():  # noqa: ANN201
    return metrics_response()
