"""GET /v1/situation and /v1/situation.geojson: area totals, as JSON and over the area polygons."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from schemas import Hazard
from schemas.api import SituationResponse
from services.api.cache import Answer
from services.api.deps import (
    COMMON_RESPONSES,
    SITE_STATUSES,
    STATUS_HELP,
    answer_response,
    effective_status,
    freshness_headers,
    model_of,
    read_access,
    resolve_area,
)
from services.common.auth import Principal
from services.core.aggregate import UNLOCATED
from services.core.geojson import area_feature, feature_collection
from services.core.signals import counts_by_area

router = APIRouter(tags=["situation"])

Level = Annotated[int, Query(ge=1, le=4, description="1 province, 2 regency/city (TL: municipality post), "
                                                     "3 district (kecamatan / suco), 4 village (desa/kelurahan)",
                             examples=[2])]
HazardQ = Annotated[Hazard | None, Query(description="Only this hazard", examples=["earthquake"])]
Since = Annotated[datetime | None, Query(description="Only sites still active at or after this time (RFC 3339): "
                                                     "last report at or after it", examples=["2018-09-28T00:00:00Z"])]
Until = Annotated[datetime | None, Query(description="Only sites that started at or before this time (RFC 3339)",
                                         examples=["2018-10-05T00:00:00+08:00"])]
StatusQ = Annotated[Literal[SITE_STATUSES] | None, Query(description=STATUS_HELP, examples=["verified"])]  # type: ignore[valid-type]
Area = Annotated[str | None, Query(description="An admin code: the sites inside it. Kemendagri (72.71), Timor-Leste "
                                               "P-code (TL01) or HDX P-code (ID7271)", examples=["72.71"])]


def _aware(t: datetime | None) -> datetime | None:
    if t is not None and t.tzinfo is None:
        raise HTTPException(422, "times need a UTC offset (RFC 3339), e.g. 2018-09-29T14:00:00+08:00")
    return t


def _ts(t: datetime | None) -> float | None:
    return t.timestamp() if t is not None else None


def _areas(request: Request, level: int, hazard: Hazard | None, since: datetime | None, until: datetime | None,
           status: str, prefix: str | None) -> tuple[list[dict], datetime]:
    model = model_of(request)
    areas = model.area_totals(level, hazard, since, until, status, prefix)
    # Distinct posts per area: summing the sites' counts would count a post naming a regency once per site.
    distinct = counts_by_area(request.app.state.mentions.snapshot(), level, hazard.value if hazard else None,
                              _ts(since), _ts(until))
    for a in areas:
        a["mentions"] = distinct.get(a["code"], 0)
    as_of = max((a["last_update"] for a in areas), default=None) or model.newest or datetime.now(UTC)
    return areas, as_of


@router.get("/v1/situation", response_model=SituationResponse, responses=COMMON_RESPONSES)
async def get_situation(request: Request, level: Level = 2, hazard: HazardQ = None, since: Since = None,
                        until: Until = None, status: StatusQ = None, area: Area = None,
                        principal: Principal = Depends(read_access)) -> Response:
    """Per area at `level`: sites, reports, distinct reporters, summed figures with min–max ranges, social
    mentions and the last update. Sites without a code at that level are grouped as `unlocated`, so every
    level adds up to the same total. `as_of` is the newest update included. Answers are cached per read-model
    version (header `X-Siaga-Cache`); `X-Siaga-As-Of` repeats `as_of`."""
    model = model_of(request)
    st = effective_status(principal, status)
    prefix = resolve_area(area)
    since, until = _aware(since), _aware(until)
    key = ("situation", level, hazard, _ts(since), _ts(until), st, prefix, model.ready,
           request.app.state.mentions.version)

    def compute() -> Answer:
        areas, as_of = _areas(request, level, hazard, since, until, st, prefix)
        body = {"as_of": as_of, "level": level, "status": st, "ready": model.ready, "areas": areas}
        return Answer(orjson.dumps(body), as_of)

    answer, state = await request.app.state.cache.get(key, compute)
    return answer_response(request, answer, freshness_headers(model, answer.as_of, state))


_GEOJSON_EXAMPLE = {"type": "FeatureCollection", "as_of": "2018-09-29T06:00:00+00:00", "level": 2,
                    "features": [{"type": "Feature", "id": "72.71",
                                  "geometry": {"type": "MultiPolygon", "coordinates": [[[[119.8, -0.9],
                                                                                         [119.9, -0.9],
                                                                                         [119.9, -0.8],
                                                                                         [119.8, -0.9]]]]},
                                  "properties": {"code": "72.71", "name": "Kota Palu", "level": 2, "sites": 12,
                                                 "reports": 31, "reporters": 9, "mentions": 4, "affected": 1234,
                                                 "affected_min": 1100, "affected_max": 1300, "dead": 4,
                                                 "last_update": "2018-09-29T06:00:00+00:00"}}]}


@router.get("/v1/situation.geojson", responses={
    **COMMON_RESPONSES,
    200: {"description": "A GeoJSON FeatureCollection (RFC 7946) of the areas, totals as flat properties",
          "content": {"application/geo+json": {"example": _GEOJSON_EXAMPLE}}}})
async def get_situation_geojson(
        request: Request, level: Level = 2, hazard: HazardQ = None, since: Since = None, until: Until = None,
        status: StatusQ = None, area: Area = None,
        include_empty: Annotated[bool, Query(description="Levels 1-3: also the areas without any matching site "
                                                         "(zero sites, null figures), for a full choropleth")] = False,
        principal: Principal = Depends(read_access)) -> Response:
    """The same totals as `/v1/situation`, one Feature per area with its polygon (simplified for the web:
    0.005° at levels 1-2, 0.001° at level 3; coordinates rounded to 4 decimals). Level 4 needs `area` (a
    country's villages are too many for one map); villages are polygons when the village polygon file is
    installed, else points at the village centroid (`village_geometry` says which). `unlocated` sites are a
    Feature with a null geometry so that the totals still add up."""
    model = model_of(request)
    st = effective_status(principal, status)
    prefix = resolve_area(area)
    since, until = _aware(since), _aware(until)
    if level == 4 and prefix is None:
        raise HTTPException(422, "level 4 (villages) needs an area, e.g. area=72.71 (a regency or a district)")
    if include_empty and level == 4:
        raise HTTPException(422, "include_empty is for levels 1-3")
    shapes = request.app.state.shapes
    key = ("geojson", level, hazard, _ts(since), _ts(until), st, prefix, include_empty, model.ready,
           request.app.state.mentions.version)

    def compute() -> Answer:
        areas, as_of = _areas(request, level, hazard, since, until, st, prefix)
        if include_empty:
            present = {a["code"] for a in areas}
            blank = dict.fromkeys(("affected", "dead", "injured", "missing", "displaced", "houses_damaged"))
            for code, name in shapes.codes(level, prefix).items():
                if code not in present:
                    areas.append({"code": code, "name": name, "level": level, "sites": 0, "reports": 0,
                                  "reporters": 0, "figures": blank, "figures_min": blank, "figures_max": blank,
                                  "mentions": 0, "last_update": None})
            areas.sort(key=lambda a: (a["code"] == UNLOCATED, a["code"]))
        geoms = shapes.geometries(level, [a["code"] for a in areas])
        members = {"as_of": as_of, "level": level, "status": st, "ready": model.ready}
        if level == 4:
            members["village_geometry"] = shapes.village_mode
        body = feature_collection((area_feature(a, geoms.get(a["code"])) for a in areas), members)
        return Answer(body, as_of, media_type="application/geo+json")

    answer, state = await request.app.state.cache.get(key, compute)
    return answer_response(request, answer, freshness_headers(model, answer.as_of, state))
