"""GeoJSON (RFC 7946) bodies: area totals over area polygons, and sites as points. Pure; bytes out.

Area geometries arrive as ready GeoJSON geometry bytes (simplified and rounded once per area by
services.api.geo_layers), so a FeatureCollection is assembled by concatenation rather than re-encoding
thousands of coordinates per request. Properties are flat (figures as `affected`, `affected_min`,
`affected_max`, ...) because web map styling expressions handle flat properties best.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson

from schemas.common import FIGURE_NAMES
from schemas.site import Site
from services.core.hxl import site_record

NULL = b"null"


def area_properties(area: Mapping) -> dict:
    props = {k: area[k] for k in ("code", "name", "level", "sites", "reports", "reporters", "mentions")}
    for suffix, key in (("", "figures"), ("_min", "figures_min"), ("_max", "figures_max")):
        figs = area[key]
        get = figs.get if isinstance(figs, dict) else (lambda n, f=figs: getattr(f, n))
        for name in FIGURE_NAMES:
            props[name + suffix] = get(name)
    props["last_update"] = area["last_update"]
    return props


def area_feature(area: Mapping, geometry: bytes | None) -> bytes:
    return (b'{"type":"Feature","id":' + orjson.dumps(area["code"]) + b',"geometry":' + (geometry or NULL)
            + b',"properties":' + orjson.dumps(area_properties(area)) + b"}")


def feature_collection(features: Iterable[bytes], members: Mapping[str, object] | None = None) -> bytes:
    """A FeatureCollection; `members` are written as foreign members (e.g. as_of, level), which RFC 7946
    allows and clients ignore when they do not know them."""
    head = b'{"type":"FeatureCollection"'
    for k, v in (members or {}).items():
        head += b"," + orjson.dumps(k) + b":" + orjson.dumps(v)
    return head + b',"features":[' + b",".join(features) + b"]}"


def site_feature(site: Site, personal: bool = False) -> bytes:
    rec = site_record(site, personal)
    lat, lon = rec.pop("lat"), rec.pop("lon")
    geometry = (orjson.dumps({"type": "Point", "coordinates": [lon, lat]})
                if lat is not None and lon is not None else NULL)
    return (b'{"type":"Feature","id":' + orjson.dumps(site.site_id) + b',"geometry":' + geometry
            + b',"properties":' + orjson.dumps(rec) + b"}")
