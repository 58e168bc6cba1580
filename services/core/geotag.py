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

Speed (issue 3): rule 1 is answered for most points by a cell grid (`_CellGrid`, ~430 m cells) that knows,
for every cell no polygon edge touches, the one leaf polygon it lies in (or that it lies in none); only points
in cells an edge crosses go to GEOS. The answers are the same as GEOS's, not approximations: a cell without
edges lies wholly inside or wholly outside each polygon. Result objects are built from per-code templates.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pydantic import BaseModel

from schemas.geo import GeoTag
from schemas.report import FieldReport
from services.core import admin_data
from services.core.gazetteer import Gazetteer, get_gazetteer
from services.core.shared import Shared

EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
SNAP_MAX_M = 5_000.0
GRID_CELL_DEG = 1 / 256  # ~430 m: ~70% of real points land in a cell no village edge crosses; 206 MB of int32
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
        self._leaf_grid = _CellGrid(self._leaf_tree, GRID_CELL_DEG)
        self._district_codes = np.concatenate([kec_attrs["kode"].to_numpy(dtype=object), tl_codes])
        self._district_geoms = np.concatenate([kec_geoms, tl_geoms])
        self._district_tree = shapely.STRtree(self._district_geoms)
        self._villages_by_district = self._village_centroids()
        self._templates: dict[str, dict[str, Any]] = {}  # code -> every GeoTag field; copied, never handed out
        _release_freed_memory()

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
        # Hundreds of thousands of small objects (points, tags): the cyclic GC would rescan the process's large
        # heap again and again (it tripled the time). None of them form cycles, so collection is paused.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            res = _Result(len(lons))
            self._tag(lons, lats, res, allow_swap=True)
            return res.build(self._templates, self.gazetteer, lons, lats)
        finally:
            if was_enabled:
                gc.enable()

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
        cell = self._leaf_grid.lookup(lons[idx], lats[idx])
        known = cell >= 0
        res.set(idx[known], self._leaf_codes[cell[known]], "village_polygon", key=cell[known])
        edge = idx[cell == _CellGrid.EDGE]  # a polygon edge crosses the cell: ask GEOS
        if edge.size:
            hit, tree_i = _first_hits(self._leaf_tree, shapely.points(lons[edge], lats[edge]))
            res.set(edge[hit], self._leaf_codes[tree_i], "village_polygon", key=tree_i)

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
        # clip_by_rect: far cheaper than a full overlay with the box on big coastal districts, same area.
        x0, y0, x1, y1 = lon[q] - dlon[q], lat[q] - dlat, lon[q] + dlon[q], lat[q] + dlat
        clipped = np.array([shapely.clip_by_rect(g, a, b, c, d) for g, a, b, c, d in
                            zip(self._district_geoms[t], x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist(),
                                strict=True)], dtype=object)
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
        self.key = np.full(n, -1, dtype=np.int64)  # leaf index where known: tags are built in this order

    def set(self, idx: np.ndarray, codes: np.ndarray, method: str, dist: np.ndarray | None = None,
            flag: str | None = None, key: np.ndarray | None = None) -> None:
        self.code[idx] = codes
        self.key[idx] = -1 if key is None else key
        self.method[idx] = method
        if dist is not None:
            self.dist[idx] = dist
        if flag:
            for i in idx.tolist():
                self.flags.setdefault(i, []).append(flag)

    def build(self, templates: dict[str, dict[str, Any]], gaz: Gazetteer, lons: np.ndarray, lats: np.ndarray
              ) -> list[GeoTag]:
        """One GeoTag per point: a copy of its code's template, then the few per-point fields."""
        codes, methods = self.code.tolist(), self.method.tolist()
        for code in set(codes).difference(templates):
            if code is not None:
                # Unwrapped: the templates are the cache here, no need to keep a second copy in tag_fields'.
                templates[code] = {**Gazetteer.tag_fields.__wrapped__(gaz, code), "geotag_method": "none",
                                   "distance_m": None,
                                   "flags": None, "reason": None}
        new, set_dict, set_fields = GeoTag.__new__, _SET_DICT, _SET_FIELDS_SET
        set_extra, set_private, all_fields = _SET_EXTRA, _SET_PRIVATE, _ALL_FIELDS_SET
        out: list[GeoTag] = [None] * len(codes)  # type: ignore[list-item]
        get = templates.get
        # Built grouped by polygon, not in point order: copies of one template follow each other while it is
        # in the CPU cache (twice as fast on 200k points spread over 83k villages).
        for i in np.argsort(self.key, kind="stable").tolist():
            method = methods[i]
            if method:
                values = get(codes[i]).copy()  # type: ignore[union-attr]
                values["geotag_method"] = method
                values["flags"] = []
                tag = new(GeoTag)
                set_dict(tag, values)
                set_fields(tag, all_fields)
                set_extra(tag, None)
                set_private(tag, None)
                out[i] = tag
        # The few points with a distance, flags or no answer.
        for i in np.flatnonzero(~np.isnan(self.dist)).tolist():
            out[i].__dict__["distance_m"] = round(float(self.dist[i]), 1)
        for i, flags in self.flags.items():
            if methods[i]:
                out[i].__dict__["flags"] = list(flags)
        for i in np.flatnonzero(self.method == "").tolist():
            if self.invalid[i]:
                out[i] = GeoTag(reason=f"invalid coordinates (lat {lats[i]}, lon {lons[i]})",
                                flags=["invalid_coordinates"])
            else:
                out[i] = GeoTag(reason=f"outside Indonesia and Timor-Leste: no district within "
                                       f"{SNAP_MAX_M / 1000:g} km")
        return out


# A GeoTag from values this module built itself (codes from the gazetteer), without validation: what
# `model_construct` does, minus its per-field Python loop, through pydantic's own slots. The values must hold
# every field; the tests compare these against validated GeoTags. Every field counts as set, so all tags share
# one fields-set: pydantic only ever adds names to it on assignment, and they are all in it already.
_SET_DICT = BaseModel.__dict__["__dict__"].__set__
_SET_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_SET_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_SET_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__
_ALL_FIELDS_SET = set(GeoTag.model_fields)


class _CellGrid:
    """Leaf polygon per grid cell, for the cells no polygon edge touches; exact, not an approximation.

    Built from the polygons' edges: every cell an edge (padded by a hair) touches is marked EDGE. The other
    cells fall into connected regions (4-neighbours) that no edge crosses, so each region lies wholly inside
    the same polygons: one GEOS query at one cell centre per region gives the first polygon containing it
    (lowest tree index, as `_first_hits`) or NONE. Points outside the grid are outside every polygon.
    """

    EDGE = -2
    NONE = -1
    BLOCK = 16

    def __init__(self, tree: shapely.STRtree, cell_deg: float) -> None:
        from scipy import ndimage

        geoms = tree.geometries
        self.cell_deg = cell_deg
        if len(geoms) == 0:
            self.x0 = self.y0 = 0.0
            self.nx = self.ny = 0
            self.blocks = np.empty(0, dtype=np.int32)
            self.dense = np.empty((0, self.BLOCK ** 2), dtype=np.int32)
            return
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
        self.x0, self.y0 = xmin - 2 * cell_deg, ymin - 2 * cell_deg
        b = self.BLOCK
        self.nx = (int((xmax - self.x0) / cell_deg) + 3 + b - 1) // b * b
        self.ny = (int((ymax - self.y0) / cell_deg) + 3 + b - 1) // b * b
        edge = np.zeros(self.ny * self.nx, dtype=bool)
        coords, ring = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(geoms)), return_index=True)
        gx = (coords[:, 0] - self.x0) / cell_deg  # in cell units
        gy = (coords[:, 1] - self.y0) / cell_deg
        del coords
        # The cell of every vertex. A segment whose two ends share a cell stays in it (cells are convex).
        ix, iy = np.floor(gx).astype(np.int32), np.floor(gy).astype(np.int32)
        edge[iy * self.nx + ix] = True
        # Segments (vertex k to k + 1 of one ring) between cells: cut into pieces at most half a cell long,
        # and mark each piece's box of cells, padded by a hair against rounding: at most 2x2 cells, a superset
        # of the cells the piece crosses.
        cross = np.flatnonzero((ring[1:] == ring[:-1]) & ((ix[1:] != ix[:-1]) | (iy[1:] != iy[:-1])))
        del ring, ix, iy
        ax, ay, bx, by = gx[cross], gy[cross], gx[cross + 1], gy[cross + 1]
        del gx, gy, cross
        k = np.maximum(np.ceil(2 * np.maximum(np.abs(bx - ax), np.abs(by - ay))), 1).astype(np.int64)
        seg = np.repeat(np.arange(k.size), k)
        kk = k[seg]
        f0 = (np.arange(seg.size) - np.repeat(np.cumsum(k) - k, k)) / kk
        f1 = f0 + 1 / kk
        del k, kk
        ax, ay, dx, dy = ax[seg], ay[seg], bx[seg] - ax[seg], by[seg] - ay[seg]
        del bx, by, seg
        self._mark(edge, ax + dx * f0, ay + dy * f0, ax + dx * f1, ay + dy * f1)
        del ax, ay, dx, dy, f0, f1
        region = np.empty((self.ny, self.nx), dtype=np.int32)
        n = ndimage.label(~edge.reshape(self.ny, self.nx), output=region)
        del edge
        region = region.ravel()
        # One cell per region (any will do: the last written wins), in row chunks to bound memory.
        rep = np.zeros(n + 1, dtype=np.int64)
        step = 1 << 22
        for s in range(0, region.size, step):
            rep[region[s:s + step]] = np.arange(s, min(s + step, region.size))
        cy, cx = np.divmod(rep[1:], self.nx)
        centres = shapely.points(self.x0 + (cx + 0.5) * cell_deg, self.y0 + (cy + 0.5) * cell_deg)
        hit, tree_i = _first_hits(tree, centres)
        answer = np.full(n + 1, self.NONE, dtype=np.int32)
        answer[0] = self.EDGE
        answer[hit + 1] = tree_i
        np.take(answer, region, out=region)
        # Stored by blocks of BLOCK x BLOCK cells: a block of one value (open sea, inland) keeps only that value,
        # the others keep their cells (a quarter of the full grid's memory at 1/256 degree).
        b, nbx = self.BLOCK, self.nx // self.BLOCK
        blocks = region.reshape(self.ny // b, b, nbx, b).swapaxes(1, 2).reshape(-1, b * b)
        del region
        lo, hi = blocks.min(axis=1), blocks.max(axis=1)
        mixed = np.flatnonzero(lo != hi)
        self.dense = blocks[mixed]
        del blocks
        self.blocks = lo
        self.blocks[mixed] = -3 - np.arange(mixed.size, dtype=np.int32)  # -3 - row of `dense`

    def _mark(self, edge: np.ndarray, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray) -> None:
        pad = 1e-6  # cells (~0.4 mm): an edge on or next to a cell's side marks the cells on both sides
        x_lo = np.floor(np.minimum(ax, bx) - pad).astype(np.int32)
        x_hi = np.floor(np.maximum(ax, bx) + pad).astype(np.int32)
        y_lo = np.floor(np.minimum(ay, by) - pad).astype(np.int32) * np.int32(self.nx)
        y_hi = np.floor(np.maximum(ay, by) + pad).astype(np.int32) * np.int32(self.nx)
        for x in (x_lo, x_hi):
            for y in (y_lo, y_hi):
                edge[y + x] = True

    def lookup(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Per point: the leaf tree index, NONE (in no polygon) or EDGE (ask GEOS). Points must be finite."""
        ix = np.floor((lons - self.x0) / self.cell_deg)  # the same arithmetic as for the polygons' vertices
        iy = np.floor((lats - self.y0) / self.cell_deg)
        inside = np.flatnonzero((ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny))
        out = np.full(lons.shape, self.NONE, dtype=np.int32)
        ix, iy, b = ix[inside].astype(np.int64), iy[inside].astype(np.int64), self.BLOCK
        ref = self.blocks[(iy // b) * (self.nx // b) + ix // b]
        in_dense = np.flatnonzero(ref <= -3)
        ref[in_dense] = self.dense[-3 - ref[in_dense], (iy[in_dense] % b) * b + ix[in_dense] % b]
        out[inside] = ref
        return out


def _release_freed_memory() -> None:
    """Hand the heap freed while loading (WKB buffers, grid temporaries: hundreds of MB) back to the OS.

    glibc keeps freed small blocks for reuse, so without this the process's RSS stays that much higher.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _first_hits(tree: shapely.STRtree, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(point index, tree index) of the first polygon (lowest tree index) containing each point."""
    q, t = tree.query(points, predicate="intersects")
    if q.size == 0:
        return q, t
    order = np.lexsort((t, q))
    q, t = q[order], t[order]
    keep = np.r_[True, q[1:] != q[:-1]]
    return q[keep], t[keep]


_shared: Shared[Geotagger] = Shared(lambda: Geotagger())


def get_geotagger() -> Geotagger:
    """The process-wide geotagger (village polygons when present), built on first use."""
    return _shared.get()
