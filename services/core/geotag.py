"""Point (and place-text) geotagging to official admin codes, in batches.

Why batched: the enrich stage takes reports in batches from Kafka; one STRtree bulk query over a batch of
points costs about what a handful of per-point queries do, so throughput is bound by GEOS, not Python.

Rules, in order, per point:
1. Inside a village polygon (Indonesia) or suco polygon (Timor-Leste): every level from that one code, so
   levels never disagree (`village_polygon`).
2. Inside a district (kecamatan) polygon but no village polygon (gaps, or the village file absent): the
   nearest village centroid of that district (`nearest_village`), or the district alone (`district_polygon`).
3. Within 5 km of a district/suco (offshore GPS, slivers between polygons): the nearest one, with the
   distance (`offshore_snap`, flag `offshore`); for Indonesia the nearest village centroid of that district.
4. Still nowhere but somewhere once latitude and longitude are swapped: tag the swapped point, flag
   `latlon_swapped`.
5. Otherwise `none`, with the reason.
Distances are metres on a local equirectangular projection around each point: exact enough within 5 km.
"""

from __future__ import annotations

import gc
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from schemas.geo import GeoTag
from schemas.report import FieldReport
from services.core import admin_data
from services.core.gazetteer import Gazetteer, get_gazetteer

EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
SNAP_MAX_M = 5_000.0
_AUTO = object()


def _metres(lon0: np.ndarray, lat0: np.ndarray, lon1: np.ndarray, lat1: np.ndarray) -> np.ndarray:
    """Equirectangular distance in metres (broadcasting); fine for the few km this module ever measures."""
    coslat = np.cos(np.radians((lat0 + lat1) / 2.0))
    return np.hypot((lon1 - lon0) * coslat, lat1 - lat0) * M_PER_DEG


class Geotagger:
    """Holds the polygon indexes; build once per process (see `get_geotagger`)."""

    def __init__(self, gazetteer: Gazetteer | None = None, village_polygons: Any = _AUTO,
                 base: Path | None = None) -> None:
        """`village_polygons`: a path, None/False for district polygons only, default: found automatically."""
        self.gazetteer = gazetteer or get_gazetteer()
        if village_polygons is _AUTO:
            village_polygons = admin_data.village_polygons_path()
        tl_attrs, tl_geoms = admin_data.read_tl_polygons("adm3", base)
        tl_codes = tl_attrs["code"].to_numpy(dtype=object)
        kec_attrs, kec_geoms = admin_data.read_admin_polygons("kec", base)

        if village_polygons:
            v_codes, v_geoms = admin_data.read_village_polygons(Path(village_polygons))
        else:
            v_codes, v_geoms = np.empty(0, dtype=object), np.empty(0, dtype=object)
        self.has_village_polygons = len(v_codes) > 0
        self.village_polygons_source = str(village_polygons) if self.has_village_polygons else None
        # Leaf units: villages and sucos. District units: kecamatan and sucos (the lowest TL level).
        self._leaf_codes = np.concatenate([v_codes, tl_codes])
        self._leaf_tree = shapely.STRtree(np.concatenate([v_geoms, tl_geoms]))
        self._district_codes = np.concatenate([kec_attrs["kode"].to_numpy(dtype=object), tl_codes])
        self._district_geoms = np.concatenate([kec_geoms, tl_geoms])
        self._district_tree = shapely.STRtree(self._district_geoms)
        self._villages_by_district = self._village_centroids()

    def _village_centroids(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per district code: village codes, lons, lats (villages that have a centroid)."""
        rows = [(p.adm3, p.code, p.lon, p.lat) for p in self.gazetteer.places.values()
                if p.country == "ID" and p.level == 4 and p.lat is not None and p.adm3]
        rows.sort()
        out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        if not rows:
            return out
        districts = np.array([r[0] for r in rows], dtype=object)
        codes = np.array([r[1] for r in rows], dtype=object)
        lons = np.array([r[2] for r in rows], dtype=float)
        lats = np.array([r[3] for r in rows], dtype=float)
        starts = np.flatnonzero(np.r_[True, districts[1:] != districts[:-1]])
        ends = np.r_[starts[1:], len(rows)]
        for s, e in zip(starts, ends, strict=True):
            out[districts[s]] = (codes[s:e], lons[s:e], lats[s:e])
        return out

    # ------------------------------------------------------------------ public
    def tag_points(self, lons: np.ndarray, lats: np.ndarray) -> list[GeoTag]:
        """One GeoTag per (lon, lat), vectorised over the whole batch."""
        lons = np.asarray(lons, dtype=float).ravel()
        lats = np.asarray(lats, dtype=float).ravel()
        if lons.shape != lats.shape:
            raise ValueError(f"lons and lats differ in length: {lons.size} != {lats.size}")
        res = _Result(len(lons))
        self._tag(lons, lats, res, allow_swap=True)
        return res.build(self.gazetteer, lons, lats)

    def tag_place(self, text: str) -> GeoTag:
        """Place text ("Desa X, Kec. Y, Kab. Z") through the gazetteer."""
        return self.gazetteer.resolve(text)

    def tag_reports(self, reports: Sequence[FieldReport]) -> list[GeoTag]:
        """Tags in report order: located reports in one batch, the others by their place text."""
        located = [i for i, r in enumerate(reports) if r.location is not None]
        out: list[GeoTag | None] = [None] * len(reports)
        if located:
            lons = np.array([reports[i].location.lon for i in located], dtype=float)
            lats = np.array([reports[i].location.lat for i in located], dtype=float)
            for i, tag in zip(located, self.tag_points(lons, lats), strict=True):
                out[i] = tag
        for i, report in enumerate(reports):
            if out[i] is None:
                out[i] = self.tag_place(report.place_text or "")
            elif out[i].geotag_method == "none" and report.place_text:
                # A point that lands nowhere but text that names a place: the text is the better answer.
                tag = self.tag_place(report.place_text)
                if tag.geotag_method != "none":
                    tag.flags.append("point_unusable")
                    tag.reason = f"point: {out[i].reason}" + (f"; {tag.reason}" if tag.reason else "")
                    out[i] = tag
        return out  # type: ignore[return-value]

    # ------------------------------------------------------------------ steps
    def _tag(self, lons: np.ndarray, lats: np.ndarray, res: _Result, allow_swap: bool) -> None:
        valid = np.isfinite(lons) & np.isfinite(lats) & (np.abs(lats) <= 90) & (np.abs(lons) <= 180)
        res.invalid |= ~valid
        todo = np.flatnonzero(valid & (res.method == ""))
        if todo.size:
            self._in_leaf(todo, lons, lats, res)
        todo = todo[res.method[todo] == ""]
        if todo.size:
            self._in_district(todo, lons, lats, res)
        todo = todo[res.method[todo] == ""]
        if todo.size:
            self._snap(todo, lons, lats, res)
        if allow_swap:
            self._swapped(lons, lats, res)

    def _in_leaf(self, idx: np.ndarray, lons: np.ndarray, lats: np.ndarray, res: _Result) -> None:
        hit, tree_i = _first_hits(self._leaf_tree, shapely.points(lons[idx], lats[idx]))
        res.set(idx[hit], self._leaf_codes[tree_i], "village_polygon")

    def _in_district(self, idx: np.ndarray, lons: np.ndarray, lats: np.ndarray, res: _Result) -> None:
        hit, tree_i = _first_hits(self._district_tree, shapely.points(lons[idx], lats[idx]))
        codes = self._district_codes[tree_i]
        is_tl = np.array([c.startswith("TL") for c in codes], dtype=bool)
        res.set(idx[hit[is_tl]], codes[is_tl], "village_polygon")  # a suco is Timor-Leste's lowest unit
        pts, districts = idx[hit[~is_tl]], codes[~is_tl]
        village, dist = self._nearest_village(pts, districts, lons, lats)
        has = village != None  # noqa: E711 - elementwise on an object array
        res.set(pts[has], village[has], "nearest_village", dist[has])
        res.set(pts[~has], districts[~has], "district_polygon")

    def _nearest_village(self, idx: np.ndarray, districts: np.ndarray, lons: np.ndarray, lats: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest village centroid of each point's own district: a loop over districts, not points."""
        village = np.full(idx.size, None, dtype=object)
        dist = np.full(idx.size, np.nan)
        for d in np.unique(districts) if idx.size else []:
            group = np.flatnonzero(districts == d)
            cand = self._villages_by_district.get(d)
            if cand is None:
                continue
            vcodes, vlon, vlat = cand
            p = idx[group]
            m = _metres(lons[p][:, None], lats[p][:, None], vlon[None, :], vlat[None, :])
            best = m.argmin(axis=1)
            village[group] = vcodes[best]
            dist[group] = m[np.arange(group.size), best]
        return village, dist

    def _snap(self, idx: np.ndarray, lons: np.ndarray, lats: np.ndarray, res: _Result) -> None:
        """Nearest district/suco within SNAP_MAX_M, measured in metres around each point."""
        lon, lat = lons[idx], lats[idx]
        dlat = SNAP_MAX_M / M_PER_DEG
        dlon = dlat / np.maximum(np.cos(np.radians(lat)), 0.01)
        boxes = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        q, t = self._district_tree.query(boxes, predicate="intersects")
        if q.size == 0:
            return
        # Clip each candidate to the point's search box, then measure in a local metric frame.
        clipped = shapely.intersection(self._district_geoms[t], boxes[q])
        coords, owner = shapely.get_coordinates(clipped, return_index=True)
        qo = q[owner]
        local = np.column_stack([(coords[:, 0] - lon[qo]) * np.cos(np.radians(lat[qo])) * M_PER_DEG,
                                 (coords[:, 1] - lat[qo]) * M_PER_DEG])
        shapely.set_coordinates(clipped, local)
        d = shapely.distance(shapely.points(np.zeros(q.size), np.zeros(q.size)), clipped)
        d = np.where(np.isnan(d), np.inf, d)
        order = np.lexsort((d, q))
        first = order[np.r_[True, q[order][1:] != q[order][:-1]]]
        near = first[d[first] <= SNAP_MAX_M]
        pts, codes, dist = idx[q[near]], self._district_codes[t[near]], d[near]
        is_tl = np.array([c.startswith("TL") for c in codes], dtype=bool)
        village, _ = self._nearest_village(pts[~is_tl], codes[~is_tl], lons, lats)
        codes = codes.copy()
        codes[~is_tl] = np.where(village != None, village, codes[~is_tl])  # noqa: E711
        res.set(pts, codes, "offshore_snap", dist, flag="offshore")

    def _swapped(self, lons: np.ndarray, lats: np.ndarray, res: _Result) -> None:
        """Points found nowhere, retried as (lat, lon): a common data-entry mix-up."""
        lost = np.flatnonzero(res.method == "")
        if lost.size == 0:
            return
        sub = _Result(lost.size)
        self._tag(lats[lost], lons[lost], sub, allow_swap=False)
        found = sub.method != ""
        for j in np.flatnonzero(found):
            i = lost[j]
            res.code[i], res.method[i], res.dist[i] = sub.code[j], sub.method[j], sub.dist[j]
            res.flags[i] = [*sub.flags.get(j, []), "latlon_swapped"]
            res.invalid[i] = False
        res.swapped[lost[found]] = True


class _Result:
    """Column-wise results of one batch, turned into GeoTags at the end."""

    def __init__(self, n: int) -> None:
        self.code = np.full(n, None, dtype=object)
        self.method = np.full(n, "", dtype=object)
        self.dist = np.full(n, np.nan)
        self.invalid = np.zeros(n, dtype=bool)
        self.swapped = np.zeros(n, dtype=bool)
        self.flags: dict[int, list[str]] = {}

    def set(self, idx: np.ndarray, codes: np.ndarray, method: str, dist: np.ndarray | None = None,
            flag: str | None = None) -> None:
        self.code[idx] = codes
        self.method[idx] = method
        if dist is not None:
            self.dist[idx] = dist
        if flag:
            for i in idx.tolist():
                self.flags.setdefault(i, []).append(flag)

    def build(self, gaz: Gazetteer, lons: np.ndarray, lats: np.ndarray) -> list[GeoTag]:
        # Hundreds of thousands of small objects: the cyclic GC would rescan them again and again (it
        # tripled build time). None of them form cycles, so collection is paused while building.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._build(gaz, lons, lats)
        finally:
            if was_enabled:
                gc.enable()

    def _build(self, gaz: Gazetteer, lons: np.ndarray, lats: np.ndarray) -> list[GeoTag]:
        out: list[GeoTag] = []
        fields = gaz.tag_fields
        for i, (code, method, dist) in enumerate(zip(self.code.tolist(), self.method.tolist(),
                                                     self.dist.tolist(), strict=True)):
            if method:
                values = fields(code).copy()
                values["geotag_method"] = method
                values["distance_m"] = None if dist != dist else round(dist, 1)
                values["flags"] = list(self.flags.get(i, ()))
                values["reason"] = None
                out.append(_trusted_geotag(values))
            elif self.invalid[i]:
                out.append(GeoTag(reason=f"invalid coordinates (lat {lats[i]}, lon {lons[i]})",
                                  flags=["invalid_coordinates"]))
            else:
                out.append(GeoTag(reason=f"outside Indonesia and Timor-Leste: no district within "
                                         f"{SNAP_MAX_M / 1000:g} km"))
        return out


_GEOTAG_FIELDS = frozenset(GeoTag.model_fields)


def _trusted_geotag(values: dict[str, Any]) -> GeoTag:
    """A GeoTag from values this module built itself (codes from the gazetteer), without validation.

    What `model_construct` does, minus its per-field Python loop: result building was 80% of the batch time.
    `values` must hold every field; the tests compare these against validated GeoTags.
    """
    tag = GeoTag.__new__(GeoTag)
    object.__setattr__(tag, "__dict__", values)
    object.__setattr__(tag, "__pydantic_fields_set__", set(_GEOTAG_FIELDS))
    object.__setattr__(tag, "__pydantic_extra__", None)
    object.__setattr__(tag, "__pydantic_private__", None)
    return tag


def _first_hits(tree: shapely.STRtree, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(point index, tree index) of the first polygon (lowest tree index) containing each point."""
    q, t = tree.query(points, predicate="intersects")
    if q.size == 0:
        return q, t
    order = np.lexsort((t, q))
    q, t = q[order], t[order]
    keep = np.r_[True, q[1:] != q[:-1]]
    return q[keep], t[keep]


_lock = threading.Lock()
_instance: Geotagger | None = None


def get_geotagger() -> Geotagger:
    """The process-wide geotagger (village polygons when present), built on first use."""
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                _instance = Geotagger()
    return _instance
