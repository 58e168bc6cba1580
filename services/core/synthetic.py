"""Synthetic Sites at real admin units, for the API's benchmark and tests (never for figures anyone reads).

Sites are built directly (no consolidation run) so that 100,000 of them take seconds: each sits at a real
village centroid (Indonesia) or suco point (Timor-Leste) with real codes and names, 1-3 timeline reports
and plausible figures. Deterministic for a given seed.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from schemas.common import FIGURE_NAMES, Figures, Hazard, Need
from schemas.geo import GeoTag
from schemas.site import Site
from services.core.clustering import figures_version
from services.core.scenario import data_file, load_names

T0 = datetime(2018, 9, 28, 10, 0, tzinfo=UTC)
HAZARDS = [h.value for h in Hazard if h is not Hazard.other]
NEEDS = [n.value for n in Need]


@lru_cache(maxsize=1)
def _places() -> tuple[tuple[GeoTag, dict, float, float], ...]:
    names, _ = load_names()
    out: list[tuple[GeoTag, dict, float, float]] = []
    with data_file("idn_desa_kel_centroids.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if not row["lat"] or not row["lng"]:
                continue
            parts = row["kode"].split(".")
            kw: dict = {"country": "ID", "geotag_method": "village_polygon"}
            for i in range(1, 5):
                c = ".".join(parts[:i])
                kw[f"adm{i}"] = c
                kw[f"adm{i}_name"] = names.get(c)
            geo = GeoTag(**kw)
            out.append((geo, geo.model_dump(exclude_defaults=True), float(row["lat"]), float(row["lng"])))
    from services.core import admin_data

    tl = admin_data.read_tl_gazetteer()
    for r in tl.itertuples(index=False):
        geo = GeoTag(country="TL", adm1=r.ADM1_PCODE, adm1_name=r.ADM1_EN, adm2=r.ADM2_PCODE, adm2_name=r.ADM2_EN,
                     adm3=r.ADM3_PCODE, adm3_name=r.ADM3_EN, geotag_method="village_polygon")
        out.append((geo, geo.model_dump(exclude_defaults=True), float(r.lat), float(r.lon)))
    return tuple(out)


def synthetic_site_dicts(n: int, seed: int = 7, prefixes: tuple[str, ...] = ()) -> Iterator[dict]:
    """`n` Site bodies as JSON-ready dicts (fast to serialise with orjson)."""
    rng = random.Random(seed)
    places = _places()
    if prefixes:
        places = tuple(p for p in places if any((p[0].adm3 or "").startswith(x) for x in prefixes))
    for i in range(n):
        geo, geo_dict, lat, lon = places[rng.randrange(len(places))]
        hazard = rng.choice(HAZARDS)
        k = rng.choice((1, 1, 2, 3))
        first = T0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 20))
        timeline = []
        figs: dict = {}
        lo: dict = {}
        hi: dict = {}
        for j in range(k):
            figs = {name: rng.randrange(0, 500 if name in ("affected", "displaced", "houses_damaged") else 8)
                    for name in FIGURE_NAMES if rng.random() < 0.7}
            for name, v in figs.items():
                lo[name] = min(lo.get(name, v), v)
                hi[name] = max(hi.get(name, v), v)
            t = first + timedelta(hours=6 * j)
            timeline.append({
                "report_id": f"syn-{seed}-{i}-{j}", "content_hash": f"{i:016x}{j:016x}", "submitted_at": t,
                "reporter": {"id": f"vol-{rng.randrange(5000)}", "org": "PMI"}, "lat": lat, "lon": lon,
                "figures": figs, "needs": rng.sample(NEEDS, rng.randrange(0, 3)), "geotag_method": geo.geotag_method,
            })
        last = first + timedelta(hours=6 * (k - 1))
        status = rng.choices(("unverified", "verified", "needs_review", "rejected"), (6, 3, 1, 0.5))[0]
        yield {
            "schema_version": 1, "site_id": f"{hazard}~{geo.adm2}~{geo.adm4 or geo.adm3}~{i:010x}",
            "hazard": hazard, "geo": geo_dict, "lat": lat, "lon": lon,
            "figures": figs, "figures_min": lo, "figures_max": hi,
            "figures_version": figures_version(Figures(**figs)),
            "needs": sorted({n for r in timeline for n in r["needs"]}),
            "reports": k, "reporters": len({r["reporter"]["id"] for r in timeline}),
            "first_seen": first, "last_seen": last, "updated_at": last, "status": status,
            "reviews": [] if status == "unverified" else [
                {"review_id": f"rev-{i}", "decision": "verified", "reviewer": "coord-1", "decided_at": last}],
            "timeline": timeline, "mentions": [], "mention_count": rng.randrange(0, 3),
        }


def synthetic_sites(n: int, seed: int = 7, prefixes: tuple[str, ...] = ()) -> list[Site]:
    return [Site.model_validate(d) for d in synthetic_site_dicts(n, seed, prefixes)]
