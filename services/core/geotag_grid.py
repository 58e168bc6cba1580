"""The exact two-level cell grid in front of GEOS for point-in-leaf-polygon lookups, and its on-disk cache.

Why: an STRtree query (GEOS) costs several microseconds a point, a grid lookup under 0.1 us. A grid
answer is exact, not an approximation, wherever no polygon edge touches the cell: such a cell lies wholly
inside or wholly outside each polygon, so one GEOS answer (at any point of it) holds for every point in it.

Level 1: cells of `cell_deg` (~430 m at 1/256 degree). Cells no edge touches (~70% of real points) get their
answer from the connected region of such cells they belong to (one GEOS query per region).
Level 2: each level-1 cell an edge touches (~2.4 million of them for Indonesia's villages) is cut into
`sub` x `sub` sub-cells (8 x 8: ~54 m); sub-cells no edge touches get their answer the same way, regions now
being joined across sub-cells, across neighbouring edge cells, and to neighbouring edge-free level-1 cells
(which hand over their answer without a GEOS query). Only points in sub-cells an edge touches (a few percent)
go to GEOS.

Edge marking is a superset of the cells (at either level) any edge passes through or touches: every vertex's
cell, and for each segment between cells, pieces at most half a cell long whose bounding boxes, padded by
1e-6 cell, are marked (at most 2 x 2 cells each). Cell sizes are powers of two in degrees, so the level-2 cell
of a point is exactly the level-1 cell's sub-cell (the scalings are exact in binary floating point).

Building takes ~15-20 s of CPU for Indonesia (numpy passes over ~6 million vertices and ~4 million sub-cell
regions, ~50,000 GEOS point queries; peak RSS ~1.6 GB with the polygons); `load_or_build` caches the arrays
(~0.23 GB, `.npz`, uncompressed) under
`$SIAGA_GEOTAG_CACHE` (default `~/.cache/siaga/geotag`, `off` to disable), keyed on a fingerprint of the
source files (size, mtime), of the geometries themselves (count, vertices, bounds) and of this module's
source; any change rebuilds it, and only the three most recently used grids are kept. Loading the cache
takes well under a second (from the page cache; ~1-2 s from disk).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import shapely

FORMAT = 2  # bump when the build or the arrays change: old cache files are then ignored
_ARRAYS = ("blocks", "dense", "fine", "first", "answers")
KEEP_GRIDS = 3  # cached grids kept (most recently used): e.g. the service's file, the tests' copy, no villages


def cache_dir() -> Path | None:
    """Where built grids are kept: `$SIAGA_GEOTAG_CACHE`, default `~/.cache/siaga/geotag`; None when `off`."""
    env = os.environ.get("SIAGA_GEOTAG_CACHE")
    if env and env.lower() in {"off", "0", "none", "false"}:
        return None
    return Path(env) if env else Path.home() / ".cache" / "siaga" / "geotag"


def fingerprint(sources: Sequence[Path | str | None], geoms: np.ndarray, cell_deg: float, sub: int) -> str:
    """Cache key: the source files' size and mtime, and a cheap summary of the geometries.

    The summary (count, vertex count, bounds) catches a changed file whose mtime was preserved (cp -p, git)
    in all but contrived cases; size + mtime catches every ordinary edit.
    """
    # This module's own source too: a change in how grids are built never meets a grid built the old way.
    parts: list[object] = [FORMAT, hashlib.sha256(Path(__file__).read_bytes()).hexdigest(), cell_deg, sub, len(geoms)]
    for src in sources:
        if src is None:
            parts.append(None)
            continue
        st = Path(src).stat()
        parts.append([st.st_size, st.st_mtime_ns])
    if len(geoms):
        parts.append(int(shapely.get_num_coordinates(geoms).sum()))
        parts.append([float(v).hex() for v in shapely.total_bounds(geoms)])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]


class CellGrid:
    """Leaf polygon per point wherever a grid cell answers exactly; EDGE where GEOS must be asked."""

    EDGE = -2
    NONE = -1
    BLOCK = 16  # level-1 cells are stored in blocks of 16 x 16: a block of one value keeps only that value

    def __init__(self, x0: float, y0: float, nx: int, ny: int, cell_deg: float, sub: int,
                 arrays: dict[str, np.ndarray], from_cache: bool = False) -> None:
        """Arrays (see `build`): level-1 `blocks` and `dense` rows, level-2 `fine`, `first`, `answers`."""
        self.x0, self.y0, self.nx, self.ny = float(x0), float(y0), int(nx), int(ny)
        self.cell_deg, self.sub = float(cell_deg), int(sub)
        self.fine_deg = self.cell_deg / self.sub  # a power of two when cell_deg is: exact scalings
        # blocks: per block, a value >= -1 (uniform: leaf index or NONE) or -2 - row of `dense`.
        # dense: per cell, a value >= -1, or -2 - rank of the edge cell (its row of `fine` and `first`).
        # fine: per edge cell and sub-cell, 0 (an edge touches it: GEOS) or 1 + its region's slot from `first`.
        # answers: per level-2 region, a value >= -1, or EDGE when undecided.
        self.blocks, self.dense = arrays["blocks"], arrays["dense"]
        self.fine, self.first, self.answers = arrays["fine"], arrays["first"], arrays["answers"]
        self.from_cache = from_cache
        if self.sub & (self.sub - 1) or self.BLOCK & (self.BLOCK - 1):
            raise ValueError("sub-cells and blocks per side must be powers of two")
        self._sub_shift, self._block_shift = self.sub.bit_length() - 1, self.BLOCK.bit_length() - 1

    # ------------------------------------------------------------------ lookup
    def lookup(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Per point: the leaf tree index, NONE (in no polygon) or EDGE (ask GEOS). Points must be finite."""
        out = np.full(lons.shape, self.NONE, dtype=np.int32)
        if self.nx == 0 or lons.size == 0:
            return out
        s, b = self.sub, self.BLOCK
        # The same arithmetic as for the polygons' vertices: (coordinate - origin) scaled by a power of two.
        fx = np.floor((lons - self.x0) / self.fine_deg)
        fy = np.floor((lats - self.y0) / self.fine_deg)
        if fx.min() >= 0 and fx.max() < self.nx * s and fy.min() >= 0 and fy.max() < self.ny * s:
            inside = None  # all inside the grid (the usual case): no filtering copies
        else:
            inside = np.flatnonzero((fx >= 0) & (fx < self.nx * s) & (fy >= 0) & (fy < self.ny * s))
            fx, fy = fx[inside], fy[inside]
        fx, fy = fx.astype(np.int32), fy.astype(np.int32)  # < 2**31: the grid has ~10**6 sub-cells a side
        ix, iy = fx >> self._sub_shift, fy >> self._sub_shift
        ref = self.blocks[(iy >> self._block_shift) * (self.nx // b) + (ix >> self._block_shift)]
        d = np.flatnonzero(ref <= -2)
        ref[d] = self.dense[-2 - ref[d], (iy[d] & (b - 1)) * b + (ix[d] & (b - 1))]
        e = np.flatnonzero(ref <= -2)
        if e.size:
            rank = -2 - ref[e]
            slot = self.fine[rank, (fy[e] & (s - 1)) * s + (fx[e] & (s - 1))].astype(np.int32)
            val = np.full(e.size, self.EDGE, dtype=np.int32)
            known = np.flatnonzero(slot > 0)
            val[known] = self.answers[self.first[rank[known]] + slot[known] - 1]
            ref[e] = val
        if inside is None:
            return ref
        out[inside] = ref
        return out

    # ------------------------------------------------------------------ cache
    @classmethod
    def load_or_build(cls, tree: shapely.STRtree, cell_deg: float, sub: int, key: str | None,
                      directory: Path | None) -> CellGrid:
        """The cached grid for `key` if there is one, else built (and cached when `directory` is given)."""
        path = directory / f"leaf-grid-{key}.npz" if directory is not None and key else None
        if path is not None and path.is_file():
            with contextlib.suppress(OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # rebuilt
                grid = cls._load(path, key)  # type: ignore[arg-type]
                with contextlib.suppress(OSError):
                    os.utime(path)  # mtime = last used, for pruning
                return grid
        grid = cls.build(tree, cell_deg, sub)
        if path is not None:
            with contextlib.suppress(OSError):
                grid._save(path, key)  # type: ignore[arg-type]
                _prune(path.parent)
        return grid

    def _save(self, path: Path, key: str) -> None:
        """Written to a temp file and renamed: a reader never sees half a file, concurrent builders don't clash."""
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = np.array([self.x0, self.y0, self.nx, self.ny, self.cell_deg, self.sub], dtype=np.float64)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, meta=meta, key=np.array(key), **{n: getattr(self, n) for n in _ARRAYS})
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @classmethod
    def _load(cls, path: Path, key: str) -> CellGrid:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                raise ValueError("cache key mismatch")
            x0, y0, nx, ny, cell_deg, sub = z["meta"].tolist()
            arrays = {n: z[n] for n in _ARRAYS}
        return cls(x0, y0, int(nx), int(ny), cell_deg, int(sub), arrays, from_cache=True)

    # ------------------------------------------------------------------ build
    @classmethod
    def build(cls, tree: shapely.STRtree, cell_deg: float, sub: int) -> CellGrid:
        """Both levels from the tree's polygons (see the module docstring)."""
        from scipy import ndimage

        geoms = tree.geometries
        b = cls.BLOCK
        if len(geoms) == 0:
            empty = {"blocks": np.empty(0, np.int32), "dense": np.empty((0, b * b), np.int32),
                     "fine": np.empty((0, sub * sub), np.uint8), "first": np.empty(0, np.int32),
                     "answers": np.empty(0, np.int32)}
            return cls(0.0, 0.0, 0, 0, cell_deg, sub, empty)
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
        x0, y0 = xmin - 2 * cell_deg, ymin - 2 * cell_deg
        nx = (int((xmax - x0) / cell_deg) + 3 + b - 1) // b * b
        ny = (int((ymax - y0) / cell_deg) + 3 + b - 1) // b * b
        coords, ring = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(geoms)), return_index=True)
        gx = (coords[:, 0] - x0) / cell_deg  # in level-1 cell units
        gy = (coords[:, 1] - y0) / cell_deg
        del coords

        # Level 1: edge cells, then regions of edge-free cells, one GEOS query per region.
        edge = np.zeros(ny * nx, dtype=bool)
        for cx, cy in _touched_cells(gx, gy, ring):
            edge[cy * nx + cx] = True
        edge_ids = np.flatnonzero(edge).astype(np.int64)
        region = np.empty((ny, nx), dtype=np.int32)
        n = ndimage.label(~edge.reshape(ny, nx), output=region)
        del edge
        region = region.ravel()
        rep = np.zeros(n + 1, dtype=np.int64)  # one cell per region (the last written wins)
        step = 1 << 22
        for s in range(0, region.size, step):
            rep[region[s:s + step]] = np.arange(s, min(s + step, region.size))
        cy, cx = np.divmod(rep[1:], nx)
        hit, tree_i = first_hits(tree, shapely.points(x0 + (cx + 0.5) * cell_deg, y0 + (cy + 0.5) * cell_deg))
        answer = np.full(n + 1, cls.NONE, dtype=np.int32)
        answer[hit + 1] = tree_i
        np.take(answer, region, out=region)  # region now holds each cell's value; edge cells: NONE, fixed below
        del answer, rep
        rank = np.full(ny * nx, -1, dtype=np.int32)
        rank[edge_ids] = np.arange(edge_ids.size, dtype=np.int32)
        region[edge_ids] = -2 - np.arange(edge_ids.size, dtype=np.int32)

        # Level 2: sub-cells the edges touch, inside edge cells.
        ss = sub * sub
        fine_edge = np.zeros((edge_ids.size, ss), dtype=bool)
        for fx, fy in _touched_cells(gx * sub, gy * sub, ring):
            r = rank[(fy // sub) * nx + fx // sub]
            ok = r >= 0  # always, up to rounding far below the padding
            fine_edge[r[ok], (fy[ok] % sub) * sub + fx[ok] % sub] = True
        del gx, gy, ring
        fine, first, n_labels = _label_sub_cells(fine_edge, sub)
        del fine_edge
        answers = cls._level2_answers(tree, fine, first, n_labels, edge_ids, rank, region, nx, x0, y0, cell_deg,
                                      sub)
        del rank

        # Level 1 stored by blocks: uniform blocks keep one value, the others their 256 cells.
        nbx = nx // b
        blocks = region.reshape(ny // b, b, nbx, b).swapaxes(1, 2).reshape(-1, b * b)
        del region
        lo, hi = blocks.min(axis=1), blocks.max(axis=1)
        mixed = np.flatnonzero((lo != hi) | (lo <= -2))
        dense = blocks[mixed]
        del blocks
        lo[mixed] = -2 - np.arange(mixed.size, dtype=np.int32)
        arrays = {"blocks": lo, "dense": dense, "fine": fine, "first": first, "answers": answers}
        return cls(x0, y0, nx, ny, cell_deg, sub, arrays)

    @classmethod
    def _level2_answers(cls, tree: shapely.STRtree, fine: np.ndarray, first: np.ndarray, n_labels: int,
                        edge_ids: np.ndarray, rank: np.ndarray, value: np.ndarray, nx: int, x0: float,
                        y0: float, cell_deg: float, sub: int) -> np.ndarray:
        """Per level-2 region, its answer: regions are joined into components across the sides of edge cells,
        and to a node per answer where they face an edge-free level-1 cell (whose answer they share); a
        component with one such node takes that answer, one with none gets one GEOS query inside it, one with
        two (never seen: it would take an edge the marking missed) stays EDGE, so GEOS answers its points."""
        from scipy import sparse
        from scipy.sparse import csgraph

        s = sub
        n_values = int(value.max()) + 2  # nodes n_labels + 1 + v for every value v >= -1
        left = np.arange(s) * s
        right = left + s - 1
        bottom = np.arange(s)
        top = bottom + (s - 1) * s
        ends_a: list[np.ndarray] = []
        ends_b: list[np.ndarray] = []
        for mine, theirs, step in ((right, left, 1), (left, right, -1), (top, bottom, nx), (bottom, top, -nx)):
            nb = edge_ids + step  # edge cells are never on the grid's rim (two cells of margin)
            lab_m = _labels(fine, first, np.arange(edge_ids.size), mine)
            r_nb = rank[nb]
            free = np.flatnonzero(r_nb < 0)  # facing an edge-free level-1 cell: link to its answer's node
            lm = lab_m[free]
            node = np.broadcast_to((n_labels + 1 + value[nb[free]])[:, None], lm.shape)
            keep = lm >= 0
            keep[:, 1:] &= lm[:, 1:] != lm[:, :-1]  # one link per region along the side
            ends_a.append(lm[keep])
            ends_b.append(node[keep])
            if step < 0:
                continue  # pairs of edge cells: each pair once
            both = np.flatnonzero(r_nb >= 0)
            la = lab_m[both]
            lt = _labels(fine, first, r_nb[both], theirs)
            keep = (la >= 0) & (lt >= 0)
            keep[:, 1:] &= (la[:, 1:] != la[:, :-1]) | (lt[:, 1:] != lt[:, :-1])
            ends_a.append(la[keep])
            ends_b.append(lt[keep])
            del lab_m, la, lt, lm, node, keep
        a, b = np.concatenate(ends_a), np.concatenate(ends_b)
        del ends_a, ends_b
        n_nodes = n_labels + n_values
        graph = sparse.coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(n_nodes, n_nodes)).tocsr()
        del a, b
        n_comp, comp = csgraph.connected_components(graph, directed=False)
        del graph
        value_comp = comp[n_labels:]
        n_answers = np.bincount(value_comp, minlength=n_comp)
        comp_val = np.full(n_comp, cls.EDGE, dtype=np.int32)
        single = n_answers[value_comp] == 1
        comp_val[value_comp[single]] = np.arange(-1, n_values - 1, dtype=np.int32)[single]
        # Components facing no edge-free cell: one GEOS query at the centre of one sub-cell of each.
        todo = np.flatnonzero(n_answers == 0)
        label = np.zeros(n_comp, dtype=np.int64)
        label[comp[:n_labels]] = np.arange(n_labels)  # any region of the component (the last wins)
        label = label[todo]
        cell = np.searchsorted(first, label, side="right") - 1  # `first` is non-decreasing
        sidx = np.argmax(fine[cell] == (label - first[cell] + 1)[:, None], axis=1)
        ecx, ecy = edge_ids[cell] % nx, edge_ids[cell] // nx
        px = x0 + (ecx + ((sidx % s) + 0.5) / s) * cell_deg
        py = y0 + (ecy + ((sidx // s) + 0.5) / s) * cell_deg
        hit, tree_i = first_hits(tree, shapely.points(px, py))
        got = np.full(todo.size, cls.NONE, dtype=np.int32)
        got[hit] = tree_i
        comp_val[todo] = got
        return comp_val[comp[:n_labels]]


def _labels(fine: np.ndarray, first: np.ndarray, cells: np.ndarray, subcells: np.ndarray) -> np.ndarray:
    """Region numbers of the given sub-cells of the given edge cells (cells x sub-cells), -1 on edges."""
    slot = fine[cells[:, None], subcells[None, :]].astype(np.int32)
    return np.where(slot > 0, first[cells, None] + slot - 1, -1)


def _prune(directory: Path, keep: int = KEEP_GRIDS) -> None:
    """Delete all but the `keep` most recently used grids (~0.23 GB each): sources and this module change."""
    grids = sorted(directory.glob("leaf-grid-*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in grids[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()


def _label_sub_cells(fine_edge: np.ndarray, sub: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Regions of edge-free sub-cells within each edge cell (4-neighbours), numbered across all cells.

    Returns per cell and sub-cell a slot (0: edge; k: the cell's k-th region), per cell its first region's
    number, and the number of regions. ndimage numbers regions in scan order, so each cell's are consecutive.
    """
    from scipy import ndimage

    n = fine_edge.shape[0]
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]  # within one cell only
    fine = np.zeros((n, sub * sub), dtype=np.uint8)
    first = np.zeros(n, dtype=np.int32)
    total = 0
    step = 1 << 16
    for c0 in range(0, n, step):
        lab, k = ndimage.label(~fine_edge[c0:c0 + step].reshape(-1, sub, sub), structure=structure)
        lab = lab.reshape(-1, sub * sub)
        low = np.where(lab > 0, lab, np.iinfo(lab.dtype).max).min(axis=1)
        slot = np.where(lab > 0, lab - low[:, None] + 1, 0)
        count = slot.max(axis=1)
        before = np.cumsum(count) - count
        # Scan order numbers each cell's regions 1..count, following the previous cell's: relied on below.
        if count.max(initial=0) > 255 or not np.array_equal(low[count > 0] - 1, before[count > 0]):
            raise RuntimeError("sub-cell regions are not numbered in scan order")
        fine[c0:c0 + step] = slot
        first[c0:c0 + step] = total + before
        total += k
    return fine, first, total


def _touched_cells(gx: np.ndarray, gy: np.ndarray, ring: np.ndarray, chunk: int = 1 << 20
                   ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Cells (x, y as int64) touched by the rings' vertices and segments, coordinates in cell units; repeats.

    Every vertex's cell; a segment whose two ends share a cell stays in it (cells are convex). A segment
    between cells is cut into pieces at most half a cell long, and each piece's box, padded by 1e-6 cell
    against rounding, is marked: at most 2 x 2 cells, a superset of the cells the piece touches.
    """
    pad = 1e-6
    ix, iy = np.floor(gx).astype(np.int64), np.floor(gy).astype(np.int64)
    for s in range(0, ix.size, chunk):
        yield ix[s:s + chunk], iy[s:s + chunk]
    cross = np.flatnonzero((ring[1:] == ring[:-1]) & ((ix[1:] != ix[:-1]) | (iy[1:] != iy[:-1])))
    del ix, iy
    k = np.maximum(np.ceil(2 * np.maximum(np.abs(gx[cross + 1] - gx[cross]), np.abs(gy[cross + 1] - gy[cross]))),
                   1).astype(np.int64)
    ends = np.cumsum(k)
    start = 0
    while start < cross.size:
        # Segments [start, stop) with about `chunk` pieces in all.
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + chunk, side="right")), start + 1)
        seg_i, kk = cross[start:stop], k[start:stop]
        seg = np.repeat(np.arange(seg_i.size), kk)
        kseg = kk[seg]
        f0 = (np.arange(seg.size) - np.repeat(np.cumsum(kk) - kk, kk)) / kseg
        f1 = f0 + 1 / kseg
        ax, ay = gx[seg_i][seg], gy[seg_i][seg]
        dx, dy = gx[seg_i + 1][seg] - ax, gy[seg_i + 1][seg] - ay
        px0, py0, px1, py1 = ax + dx * f0, ay + dy * f0, ax + dx * f1, ay + dy * f1
        x_lo = np.floor(np.minimum(px0, px1) - pad).astype(np.int64)
        x_hi = np.floor(np.maximum(px0, px1) + pad).astype(np.int64)
        y_lo = np.floor(np.minimum(py0, py1) - pad).astype(np.int64)
        y_hi = np.floor(np.maximum(py0, py1) + pad).astype(np.int64)
        yield x_lo, y_lo
        wide, tall = np.flatnonzero(x_hi != x_lo), np.flatnonzero(y_hi != y_lo)
        yield x_hi[wide], y_lo[wide]
        yield x_lo[tall], y_hi[tall]
        both = np.flatnonzero((x_hi != x_lo) & (y_hi != y_lo))
        yield x_hi[both], y_hi[both]
        start = stop


def first_hits(tree: shapely.STRtree, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(point index, tree index) of the first polygon (lowest tree index) containing each point."""
    q, t = tree.query(points, predicate="intersects")
    return _first_per_point(q, t)


def _first_per_point(q: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of (point, polygon) hit pairs, each point's pair with the lowest polygon index: a point on a shared edge
    belongs to one polygon, the same one whichever path found it."""
    if q.size == 0:
        return q, t
    order = np.lexsort((t, q))
    q, t = q[order], t[order]
    keep = np.r_[True, q[1:] != q[:-1]]
    return q[keep], t[keep]


def first_hits_xy(tree: shapely.STRtree, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As `first_hits` for points given as coordinates: candidates by bounding box, then GEOS's point test
    (`intersects_xy`, the same predicate), ~10% faster than the tree's predicate query."""
    q, t = tree.query(shapely.points(x, y))
    if q.size == 0:
        return q, t
    inside = shapely.intersects_xy(tree.geometries[t], x[q], y[q])
    return _first_per_point(q[inside], t[inside])
