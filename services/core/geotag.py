"""Point (and place-text) geotagging to official admin codes, in batches.

Why batched: the enrich stage takes reports in batches from Kafka; every step below is one vectorised pass
over the batch (grid lookups, one GEOS bulk query for the few points the grid cannot answer), so a point costs
about a microsecond, most of it building its result object.

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

Speed (issue 3): rule 1 is answered for almost all points by an exact two-level cell grid
(`geotag_grid.CellGrid`: ~430 m cells, and 8 x 8 sub-cells of ~54 m inside the cells polygon edges cross) that
knows, for every (sub-)cell no polygon edge touches, the one leaf polygon it lies in (or that it lies in none);
only points in sub-cells an edge touches (~4% of real points) go to GEOS. The answers are GEOS's own, not
approximations. The grid is built once (~15-20 s of CPU) and cached on disk (see `geotag_grid`). Tags are built
from per-polygon template dicts in C-level loops (`map`), one GeoTag per polygon and call (see `_Result.build`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import sys
from collections import deque
from collections.abc import Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pydantic import BaseModel

from schemas.geo import GeoTag
from schemas.report import FieldReport
from services.core import admin_data
from services.core.gazetteer import Gazetteer, get_gazetteer
from services.core.geotag_grid import CellGrid, cache_dir, fingerprint, first_hits_xy
from services.core.geotag_grid import first_hits as _first_hits
from services.core.shared import Shared

EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
SNAP_MAX_M = 5_000.0
GRID_CELL_DEG = 1 / 256  # ~430 m: ~70% of real points land in a cell no village edge crosses
GRID_SUB = 8  # edge cells cut into 8 x 8 sub-cells (~54 m): ~96% of real points answered without GEOS
_AUTO = object()


def _metres(lon0: np.ndarray, lat0: np.ndarray, lon1: np.ndarray, lat1: np.ndarray) -> np.ndarray:
    """Equirectangular distance in metres (broadcasting); fine for the few km this module ever measures."""
    coslat = np.cos(np.radians((lat0 + lat1) / 2.0))
    return np.hypot((lon1 - lon0) * coslat, lat1 - lat0) * M_PER_DEG


class Geotagger:
    """Holds the polygon indexes; build once per process (see `get_geotagger`)."""

    def __init__(self, gazetteer: Gazetteer | None = None, village_polygons: Any = _AUTO,
                 base: Path | None = None, grid_cache: Path | None | object = _AUTO) -> None:
        """`village_polygons`: a path, None/False for district polygons only, default: found automatically.

        `grid_cache`: directory for the built cell grid, None for no cache, default `geotag_grid.cache_dir()`.
        """
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
        leaf_geoms = np.concatenate([v_geoms, tl_geoms])
        self._leaf_tree = shapely.STRtree(leaf_geoms)
        sources = [village_polygons if self.has_village_polygons else None,
                   (base or admin_data.data_dir()) / admin_data.TL_GPKG]
        key = fingerprint(sources, leaf_geoms, GRID_CELL_DEG, GRID_SUB)
        del leaf_geoms
        self._leaf_grid = CellGrid.load_or_build(self._leaf_tree, GRID_CELL_DEG, GRID_SUB, key,
                                                 cache_dir() if grid_cache is _AUTO else grid_cache)  # type: ignore[arg-type]
        self._district_codes = np.concatenate([kec_attrs["kode"].to_numpy(dtype=object), tl_codes])
        self._district_geoms = np.concatenate([kec_geoms, tl_geoms])
        self._district_tree = shapely.STRtree(self._district_geoms)
        self._villages_by_district = self._village_centroids()
        self._templates: dict[str, dict[str, Any]] = {}  # code -> every GeoTag field; copied, never handed out
        # Per leaf polygon, its complete `village_polygon` GeoTag dict (built on first use); copied, never handed out.
        self._leaf_templates = np.full(len(self._leaf_codes), None, dtype=object)
        _release_freed_memory()

    def _village_centroids(self) -> dict[str, tuple[int, int]]:
        """Villages with a centroid, sorted by district into flat arrays (`_v_codes`, `_v_lon`, `_v_lat`); per
        district code, its villages' (start, end) in them."""
        rows = [(p.adm3, p.code, p.lon, p.lat) for p in self.gazetteer.places.values()
                if p.country == "ID" and p.level == 4 and p.lat is not None and p.adm3]
        rows.sort()
        self._v_codes = np.array([r[1] for r in rows], dtype=object)
        self._v_lon = np.array([r[2] for r in rows], dtype=float)
        self._v_lat = np.array([r[3] for r in rows], dtype=float)
        if not rows:
            return {}
        districts = np.array([r[0] for r in rows], dtype=object)
        starts = np.flatnonzero(np.r_[True, districts[1:] != districts[:-1]])
        ends = np.r_[starts[1:], len(rows)]
        return {districts[s]: (int(s), int(e)) for s, e in zip(starts, ends, strict=True)}

    # ------------------------------------------------------------------ public
    def tag_points(self, lons: np.ndarray, lats: np.ndarray) -> list[GeoTag]:
        """One GeoTag per (lon, lat), vectorised over the whole batch.

        Points of one call inside the same village (or suco) polygon share one GeoTag object: treat tags as
        read-only, and copy one (`model_copy(deep=True)`) before changing it. Calls never share tags.
        """
        lons = np.asarray(lons, dtype=float).ravel()
        lats = np.asarray(lats, dtype=float).ravel()
        if lons.shape != lats.shape:
            raise ValueError(f"lons and lats differ in length: {lons.size} != {lats.size}")
        # Hundreds of thousands of small objects (points, tags): the cyclic GC would rescan the process's large
        # heap again and again (it tripled the time). None of them form cycles, so collection is paused.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            res = _Result(len(lons))
            self._tag(lons, lats, res, allow_swap=True)
            return res.build(self._templates, self._leaf_templates, self._leaf_codes, self.gazetteer, lons, lats)
        finally:
            if was_enabled:
                gc.enable()

    def tag_place(self, text: str) -> GeoTag:
        """Place text ("Desa X, Kec. Y, Kab. Z") through the gazetteer."""
        return self.gazetteer.resolve(text)

    def tag_reports(self, reports: Sequence[FieldReport]) -> list[GeoTag]:
        """Tags in report order: located reports in one batch, the others by their place text."""
        located = [i for i, r in enumerate(reports) if r.location is not None]
        points = [reports[i].location for i in located]
        tags = self.tag_points(np.fromiter((p.lon for p in points), dtype=float, count=len(points)),
                               np.fromiter((p.lat for p in points), dtype=float, count=len(points))
                               ) if located else []
        if len(located) == len(reports):
            out: list[GeoTag | None] = tags  # type: ignore[assignment]
        else:
            out = [None] * len(reports)
            for i, tag in zip(located, tags, strict=True):
                out[i] = tag
        for i, tag in enumerate(out):
            if tag is None:
                out[i] = self.tag_place(reports[i].place_text or "")
            elif tag.geotag_method == "none" and reports[i].place_text:
                # A point that lands nowhere but text that names a place: the text is the better answer.
                by_text = self.tag_place(reports[i].place_text)
                if by_text.geotag_method != "none":
                    by_text.flags.append("point_unusable")
                    by_text.reason = f"point: {tag.reason}" + (f"; {by_text.reason}" if by_text.reason else "")
                    out[i] = by_text
        return out  # type: ignore[return-value]

    # ------------------------------------------------------------------ steps
    def _tag(self, lons: np.ndarray, lats: np.ndarray, res: _Result, allow_swap: bool) -> None:
        valid = np.isfinite(lons) & np.isfinite(lats) & (np.abs(lats) <= 90) & (np.abs(lons) <= 180)
        res.invalid |= ~valid
        todo = np.flatnonzero(valid & ~res.done)
        if todo.size:
            self._in_leaf(todo, lons, lats, res)
        todo = todo[~res.done[todo]]
        if todo.size:
            self._in_district(todo, lons, lats, res)
        todo = todo[~res.done[todo]]
        if todo.size:
            self._snap(todo, lons, lats, res)
        if allow_swap:
            self._swapped(lons, lats, res)

    def _in_leaf(self, idx: np.ndarray, lons: np.ndarray, lats: np.ndarray, res: _Result) -> None:
        cell = self._leaf_grid.lookup(lons[idx], lats[idx])
        known = cell >= 0
        res.set_leaf(idx[known], cell[known])
        edge = idx[cell == CellGrid.EDGE]  # a polygon edge touches the sub-cell: ask GEOS
        if edge.size:
            hit, tree_i = first_hits_xy(self._leaf_tree, lons[edge], lats[edge])
            res.set_leaf(edge[hit], tree_i)

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
        """Nearest village centroid of each point's own district, for all points at once.

        Every (point, village of its district) pair in flat arrays; per point the first closest village in the
        district's order, as an argmin over the district's villages would pick.
        """
        village = np.full(idx.size, None, dtype=object)
        dist = np.full(idx.size, np.nan)
        spans = [self._villages_by_district.get(d, (0, 0)) for d in districts.tolist()]
        start = np.fromiter((sp[0] for sp in spans), dtype=np.int64, count=idx.size)
        count = np.fromiter((sp[1] - sp[0] for sp in spans), dtype=np.int64, count=idx.size)
        if count.sum() == 0:
            return village, dist
        point = np.repeat(np.arange(idx.size), count)  # pair -> point
        cand = np.arange(point.size) - np.repeat(np.cumsum(count) - count, count) + start[point]  # -> village
        p = idx[point]
        m = _metres(lons[p], lats[p], self._v_lon[cand], self._v_lat[cand])
        order = np.lexsort((cand, m, point))
        best = order[np.r_[True, point[order][1:] != point[order][:-1]]]
        has = point[best]
        village[has] = self._v_codes[cand[best]]
        dist[has] = m[best]
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
        # clip_by_rect: far cheaper than a full overlay with the box on big coastal districts, same area.
        # Called as shapely's underlying ufunc, which takes a rectangle per geometry (the public wrapper takes
        # one rectangle for all, so it would need a Python loop over the candidates).
        clipped = shapely.lib.clip_by_rect(self._district_geoms[t], lon[q] - dlon[q], lat[q] - dlat,
                                           lon[q] + dlon[q], lat[q] + dlat)
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
        lost = np.flatnonzero(~res.done)
        if lost.size == 0:
            return
        sub = _Result(lost.size)
        self._tag(lats[lost], lons[lost], sub, allow_swap=False)
        found = sub.done
        for j in np.flatnonzero(found):
            i = lost[j]
            (res.code[i], res.method[i]), res.dist[i] = sub.code_method(j, self._leaf_codes), sub.dist[j]
            res.done[i] = True
            res.flags[i] = [*sub.flags.get(j, []), "latlon_swapped"]
            res.invalid[i] = False


class _Result:
    """Column-wise results of one batch, turned into GeoTags at the end."""

    def __init__(self, n: int) -> None:
        self.code = np.full(n, None, dtype=object)
        self.method = np.full(n, "", dtype=object)
        self.done = np.zeros(n, dtype=bool)  # method set: a bool test, not n string comparisons
        self.dist = np.full(n, np.nan)
        self.invalid = np.zeros(n, dtype=bool)
        self.flags: dict[int, list[str]] = {}
        # Leaf polygon index of points inside one (`village_polygon`, nothing else to say): their code and
        # method are implied and left unset, so the bulk of a batch never touches the object arrays.
        self.key = np.full(n, -1, dtype=np.int64)

    def set(self, idx: np.ndarray, codes: np.ndarray, method: str, dist: np.ndarray | None = None,
            flag: str | None = None) -> None:
        self.code[idx] = codes
        self.method[idx] = method
        self.done[idx] = True
        if dist is not None:
            self.dist[idx] = dist
        if flag:
            for i in idx.tolist():
                self.flags.setdefault(i, []).append(flag)

    def set_leaf(self, idx: np.ndarray, leaf: np.ndarray) -> None:
        """Points inside leaf polygons (tree indexes `leaf`): `village_polygon`, code implied by the index."""
        self.key[idx] = leaf
        self.done[idx] = True

    def code_method(self, i: int, leaf_codes: np.ndarray) -> tuple[str, str]:
        """Point i's code and method, implied ones included."""
        k = int(self.key[i])
        return (leaf_codes[k], "village_polygon") if k >= 0 else (self.code[i], self.method[i])

    def build(self, templates: dict[str, dict[str, Any]], leaf_templates: np.ndarray, leaf_codes: np.ndarray,
              gaz: Gazetteer, lons: np.ndarray, lats: np.ndarray) -> list[GeoTag]:
        """One GeoTag per point; points of one call in the same leaf polygon share one GeoTag object.

        Why shared: building and freeing a pydantic object with its dict and flags list is most of the cost of
        a batch once GEOS is mostly skipped; one per polygon and call instead of one per point costs a fraction.
        Callers treat tags as read-only (nothing in Siaga changes a point's tag; `tag_reports` only changes the
        fresh tags `tag_place` returns); copy one (`model_copy(deep=True)`) before changing it. Tags are never
        shared between calls, nor those with a distance, flags or no answer.

        Built in C-level loops (`map`): a copy of the polygon's template dict with a fresh flags list becomes a
        new GeoTag's `__dict__`, without validation (see `_unvalidated`). The rest one by one.
        """
        n = len(self.method)
        out = np.empty(n, dtype=object)
        fast = np.flatnonzero(self.key >= 0)
        if fast.size:
            keys = self.key[fast]
            if fast.size * 8 >= leaf_codes.size:  # big batch: mark the polygons hit, in polygon order, no sort
                present = np.zeros(leaf_codes.size, dtype=bool)
                present[keys] = True
                used = np.flatnonzero(present)
                per_point = (np.cumsum(present) - 1)[keys]
            else:  # small batch: sorting its few keys beats a pass over every polygon
                used, per_point = np.unique(keys, return_inverse=True)
            for k in used[leaf_templates[used] == None].tolist():  # noqa: E711 - elementwise on an object array
                leaf_templates[k] = _template(gaz, leaf_codes[k], "village_polygon")
            m = used.size
            dicts = list(map(dict.copy, leaf_templates[used].tolist()))
            deque(map(dict.__setitem__, dicts, repeat("flags"), map(list, repeat((), m))), maxlen=0)
            tags = list(map(object.__new__, repeat(GeoTag, m)))
            deque(map(_SET_DICT, tags, dicts), maxlen=0)
            deque(map(_SET_FIELDS_SET, tags, repeat(_ALL_FIELDS_SET)), maxlen=0)
            deque(map(_SET_EXTRA, tags, repeat(None)), maxlen=0)
            deque(map(_SET_PRIVATE, tags, repeat(None)), maxlen=0)
            out[fast] = np.fromiter(tags, dtype=object, count=m)[per_point]
        rest = np.flatnonzero(self.key < 0).tolist()
        for i in rest:
            method = self.method[i]
            if not method:
                if self.invalid[i]:
                    out[i] = GeoTag(reason=f"invalid coordinates (lat {lats[i]}, lon {lons[i]})",
                                    flags=["invalid_coordinates"])
                else:
                    out[i] = GeoTag(reason=f"outside Indonesia and Timor-Leste: no district within "
                                           f"{SNAP_MAX_M / 1000:g} km")
                continue
            code = self.code[i]
            template = templates.get(code)
            if template is None:
                template = templates[code] = _template(gaz, code, "none")
            values = template.copy()
            values["geotag_method"] = method
            values["flags"] = list(self.flags.get(i, ()))
            if not np.isnan(self.dist[i]):
                values["distance_m"] = round(float(self.dist[i]), 1)
            out[i] = _unvalidated(values)
        return out.tolist()


class _Fields:
    """A plain object whose instance dicts all share one key table (CPython's key-sharing "split" dicts)."""


def _template(gaz: Gazetteer, code: str, method: str) -> dict[str, Any]:
    """Every GeoTag field for a code, in field order; flags None (each tag gets its own list).

    Returned as the `__dict__` of a `_Fields` object: the same keys in the same order every time make it a
    key-sharing dict, whose copies copy 13 values, not a table of keys and values (a third cheaper to copy and
    free, a third of the memory). Any dict would be as correct.
    """
    # Unwrapped: the templates are the cache here, no need to keep a second copy in tag_fields'.
    holder = _Fields()
    fields = {**Gazetteer.tag_fields.__wrapped__(gaz, code), "geotag_method": method, "distance_m": None,
              "flags": None, "reason": None}
    for name, value in fields.items():  # as attributes, not dict updates: only these add keys to the shared table
        setattr(holder, name, value)
    return holder.__dict__


def _unvalidated(values: dict[str, Any]) -> GeoTag:
    """A GeoTag whose `__dict__` is `values` (every field present), without validation: see below."""
    tag = GeoTag.__new__(GeoTag)
    _SET_DICT(tag, values)
    _SET_FIELDS_SET(tag, _ALL_FIELDS_SET)
    _SET_EXTRA(tag, None)
    _SET_PRIVATE(tag, None)
    return tag


# A GeoTag from values this module built itself (codes from the gazetteer), without validation: what
# `model_construct` does, minus its per-field Python loop, through pydantic's own slots. The values must hold
# every field; the tests compare these against validated GeoTags. Every field counts as set, so all tags share
# one fields-set: pydantic only ever adds names to it on assignment, and they are all in it already.
_SET_DICT = BaseModel.__dict__["__dict__"].__set__
_SET_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_SET_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_SET_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__
_ALL_FIELDS_SET = set(GeoTag.model_fields)


def _release_freed_memory() -> None:
    """Hand the heap freed while loading (WKB buffers, grid temporaries: hundreds of MB) back to the OS.

    glibc keeps freed small blocks for reuse, so without this the process's RSS stays that much higher. So does
    pyarrow's own allocator (mimalloc) with the Parquet buffers of the village file: ~300 MB, more than the index.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    pa = sys.modules.get("pyarrow")  # only if something loaded it
    if pa is not None:
        with contextlib.suppress(Exception):  # best effort: an allocator without the call keeps its memory
            pa.default_memory_pool().release_unused()


_shared: Shared[Geotagger] = Shared(lambda: Geotagger())


def get_geotagger() -> Geotagger:
    """The process-wide geotagger (village polygons when present), built on first use."""
    return _shared.get()
