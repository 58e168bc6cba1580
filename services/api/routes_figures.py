"""GET /v1/figures: verified figures only, with their sources and ready-to-post text (id, en)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from schemas.api import FiguresResponse
from services.api.cache import Answer
from services.api.deps import COMMON_RESPONSES, answer_response, freshness_headers, model_of, read_access, resolve_area
from services.api.routes_situation import Area, HazardQ, Since, Until, _aware, _ts
from services.common.auth import Principal
from services.core.aggregate import select
from services.core.figures_text import ZONES, choose_zone, figure_sources, texts

router = APIRouter(tags=["figures"])


def area_label(code: str | None) -> tuple[dict | None, str | None]:
    """({code, name, level}, "Kota Palu, Sulawesi Tengah") for an area code; (None, None) without one."""
    if not code:
        return None, None
    from services.core.gazetteer import get_gazetteer

    places = get_gazetteer().places
    p = places.get(code)
    if p is None:
        return {"code": code, "name": None, "level": None}, code
    if p.country == "TL":
        parent = places.get(p.adm2 if p.level == 3 else p.adm1) if p.level > 1 else None
        label = f"{p.name}, {parent.name if parent else 'Timor-Leste'}"
    else:
        prov = places.get(p.adm1) if p.level > 1 else None
        label = f"{p.name}, {prov.name}" if prov else p.name
    return {"code": code, "name": p.name, "level": p.level}, label


@router.get("/v1/figures", response_model=FiguresResponse, responses={
    **COMMON_RESPONSES, 503: {"description": "The read model is still replaying Kafka: figures would be incomplete"}})
async def get_figures(
        request: Request, area: Area = None, hazard: HazardQ = None, since: Since = None, until: Until = None,
        tz: Annotated[Literal["WIB", "WITA", "WIT", "TLT"] | None, Query(
            description="Time zone of the text; default: the area's (WIB/WITA/WIT by province, TLT for "
                        "Timor-Leste), else the zone all sites share, else WIB")] = None,
        principal: Principal = Depends(read_access)) -> Response:
    """Totals from **verified sites only** (never an unverified number), how many sites and reports stand behind
    each figure, and sentences ready to post in Bahasa Indonesia and English with the date and local time of
    `as_of` (the newest verified update counted). Refused (503) until the read model has caught up at
    start-up, so that a partial replay is never published."""
    model = model_of(request)
    if not model.ready:
        raise HTTPException(503, "read model still catching up with Kafka; figures would be incomplete",
                            headers={"Retry-After": "5"})
    prefix = resolve_area(area)
    since, until = _aware(since), _aware(until)
    key = ("figures", prefix, hazard, _ts(since), _ts(until), tz)

    def compute() -> Answer:
        _, rows = model.row_snapshot()
        chosen = select(rows, hazard, since, until, "verified", prefix)
        sources = figure_sources(chosen)
        as_of = max((r.last_update for r in chosen), default=None) or datetime.now(UTC)
        zone = ZONES[tz] if tz else choose_zone(prefix, chosen)
        area_info, label = area_label(prefix)
        text_id, text_en = texts(chosen, sources, as_of, zone, label, hazard.value if hazard else None, prefix)
        body = {"as_of": as_of, "area": area_info, "hazard": hazard, "status": "verified", "sites": len(chosen),
                "reports": sum(r.reports for r in chosen),
                "figures": {n: {"value": s.value, "sites": s.sites, "reports": s.reports} for n, s in sources.items()},
                "time_zone": zone.abbr, "utc_offset": zone.utc_offset, "text": {"id": text_id, "en": text_en}}
        return Answer(orjson.dumps(body), as_of)

    answer, state = await request.app.state.cache.get(key, compute)
    return answer_response(request, answer, freshness_headers(model, answer.as_of, state))
