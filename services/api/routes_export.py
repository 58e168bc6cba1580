"""GET /v1/export/sites.csv (with an HXL hashtag row) and /v1/export/sites.geojson."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from services.api.deps import COMMON_RESPONSES, freshness_headers, model_of, read_access
from services.api.routes_sites import BBoxQ, UpdatedSince, filtered_ids, site_filter
from services.api.routes_situation import Area, HazardQ, Since, StatusQ, Until
from services.api.views import sites_for
from services.common.auth import Principal
from services.core.geojson import site_feature
from services.core.hxl import csv_chunks

router = APIRouter(tags=["exports"])


def _filename(ext: str) -> str:
    return f"siaga-sites-{datetime.now(UTC):%Y%m%dT%H%MZ}.{ext}"


@router.get("/v1/export/sites.csv", responses={**COMMON_RESPONSES, 200: {
    "description": "CSV: row 1 column names, row 2 HXL hashtags (#adm1+code, #affected+killed, #geo+lat, ...), "
                   "then one row per site",
    "content": {"text/csv": {"example": "site_id,hazard,status,...\r\n#meta+id,#event+type,#status,...\r\n"}}}})
async def export_csv(request: Request, bbox: BBoxQ = None, area: Area = None, hazard: HazardQ = None,
                     status: StatusQ = None, since: Since = None, until: Until = None,
                     updated_since: UpdatedSince = None, principal: Principal = Depends(read_access)):  # noqa: ANN201
    """Every site matching the filters (same filters and permissions as `/v1/sites`; comms: verified only),
    as HXL-tagged CSV for spreadsheets and HDX tools. Contact columns exist for coordinators only."""
    model = model_of(request)
    f = site_filter(principal, bbox, area, hazard, status, since, until, updated_since)
    ids = await filtered_ids(request, f)
    chunks = csv_chunks(sites_for(model, ids, principal), personal=principal.sees_personal_data)
    headers = {**freshness_headers(model, model.newest), "X-Siaga-Count": str(len(ids)),
               "Content-Disposition": f'attachment; filename="{_filename("csv")}"'}
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/v1/export/sites.geojson", responses={**COMMON_RESPONSES, 200: {
    "description": "A FeatureCollection of the sites as points (null geometry when a site has no point)",
    "content": {"application/geo+json": {}}}})
async def export_geojson(request: Request, bbox: BBoxQ = None, area: Area = None, hazard: HazardQ = None,
                         status: StatusQ = None, since: Since = None, until: Until = None,
                         updated_since: UpdatedSince = None, principal: Principal = Depends(read_access)):  # noqa: ANN201
    """The same sites as the CSV export, as GeoJSON points with the same (flat) properties."""
    model = model_of(request)
    f = site_filter(principal, bbox, area, hazard, status, since, until, updated_since)
    ids = await filtered_ids(request, f)
    personal = principal.sees_personal_data
    as_of = model.newest

    def body() -> Iterator[bytes]:
        head = b'{"type":"FeatureCollection","as_of":' + (f'"{as_of.isoformat()}"'.encode() if as_of else b"null")
        yield head + b',"features":['
        sep = b""
        buf: list[bytes] = []
        for site in sites_for(model, ids, principal):
            buf.append(sep + site_feature(site, personal))
            sep = b","
            if len(buf) >= 500:
                yield b"".join(buf)
                buf = []
        yield b"".join(buf) + b"]}"

    headers = {**freshness_headers(model, as_of), "X-Siaga-Count": str(len(ids)),
               "Content-Disposition": f'attachment; filename="{_filename("geojson")}"'}
    return StreamingResponse(body(), media_type="application/geo+json", headers=headers)
