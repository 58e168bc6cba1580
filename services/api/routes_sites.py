"""GET /v1/sites (filtered, cursor pages) and GET /v1/sites/{site_id} (timeline, mentions, reviews)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Annotated

import anyio
import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from schemas.api import SiteDetail, SitesPage
from services.api.deps import (
    COMMON_RESPONSES,
    effective_status,
    freshness_headers,
    model_of,
    read_access,
    resolve_area,
    visible,
)
from services.api.routes_situation import Area, HazardQ, Since, StatusQ, Until, _aware
from services.api.views import site_for, sites_for, summary
from services.common.auth import Principal
from services.core.site_query import SiteFilter, matching_ids, page, parse_bbox

router = APIRouter(tags=["sites"])

BBoxQ = Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat (WGS84) around the sites' points",
                                    examples=["119.7,-1.1,120.1,-0.7"])]
UpdatedSince = Annotated[datetime | None, Query(description="Only sites changed at or after this time (for "
                                                            "incremental syncs)", examples=["2018-09-29T00:00:00Z"])]


def site_filter(principal: Principal, bbox: str | None, area: str | None, hazard, status: str | None,  # noqa: ANN001
                since: datetime | None, until: datetime | None, updated_since: datetime | None) -> SiteFilter:
    try:
        box = parse_bbox(bbox)
    except ValueError as err:
        raise HTTPException(422, str(err)) from err
    return SiteFilter(hazard=hazard.value if hazard else None, status=effective_status(principal, status),
                      since=_aware(since), until=_aware(until), area_prefix=resolve_area(area), bbox=box,
                      updated_since=_aware(updated_since))


async def filtered_ids(request: Request, f: SiteFilter) -> list[str]:
    """Matching ids in stable order, cached per (read-model version, filter)."""
    model = model_of(request)
    cache: OrderedDict = request.app.state.id_cache
    key = f.key()
    hit = cache.get(key)
    if hit is not None and hit[0] == model.version:
        return hit[1]

    def compute() -> tuple[int, list[str]]:
        version, rows = model.row_snapshot()
        return version, matching_ids(rows, model.points, f)

    version, ids = await anyio.to_thread.run_sync(compute)
    cache[key] = (version, ids)
    cache.move_to_end(key)
    while len(cache) > 64:
        cache.popitem(last=False)
    return ids


@router.get("/v1/sites", response_model=SitesPage, responses=COMMON_RESPONSES)
async def list_sites(
        request: Request, bbox: BBoxQ = None, area: Area = None, hazard: HazardQ = None, status: StatusQ = None,
        since: Since = None, until: Until = None, updated_since: UpdatedSince = None,
        cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="Sites per page")] = 100,
        principal: Principal = Depends(read_access)) -> Response:
    """Sites matching the filters, in ascending `site_id` order (ids never change, so pages stay stable while
    sites update; follow `/v1/stream` or use `updated_since` for changes). Items have no timeline: fetch
    `/v1/sites/{site_id}` for it. Reporters' names and phones are only ever shown to coordinators."""
    model = model_of(request)
    f = site_filter(principal, bbox, area, hazard, status, since, until, updated_since)
    ids = await filtered_ids(request, f)
    try:
        chunk, next_cursor = page(ids, cursor, limit)
    except ValueError as err:
        raise HTTPException(422, str(err)) from err
    items = [summary(s) for s in sites_for(model, chunk, principal)]
    body = {"as_of": model.newest, "ready": model.ready, "total": len(ids), "next_cursor": next_cursor,
            "items": items}
    return Response(orjson.dumps(body), media_type="application/json",
                    headers=freshness_headers(model, model.newest))


@router.get("/v1/sites/{site_id}", response_model=SiteDetail,
            responses={**COMMON_RESPONSES, 404: {"description": "No such site (or, for comms, not verified)"}})
async def get_site(request: Request, site_id: str, principal: Principal = Depends(read_access)) -> Response:
    """One site with its reports' timeline, its attached social media mentions and every review decision
    (who decided is shown to coordinators only). `figures_version` is what a review should send back."""
    model = model_of(request)
    site = site_for(model, site_id, principal)
    if site is None or not visible(site.status, principal):
        raise HTTPException(404, f"no site {site_id!r}" + (" that is verified" if principal.role == "comms" else ""))
    body = {"as_of": model.newest, "site": site.model_dump(mode="json")}
    return Response(orjson.dumps(body), media_type="application/json",
                    headers=freshness_headers(model, model.newest))
