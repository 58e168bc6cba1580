"""Area geometries for /v1/situation.geojson: simplified for the web once, then held in memory per level.

Levels 1-3 come from the git-shipped GeoPackages (Indonesia `prov`/`kab`/`kec`, Timor-Leste
`adm1`/`adm2`/`adm3`), simplified (`TOLERANCE` degrees, topology preserved) and rounded to `DIGITS` decimals
(1e-4 deg is ~11 m: far below what a web map shows at those scales).

Level 4 (Indonesian villages; Timor-Leste has none) has no polygons in git. When the village polygons
GeoParquet is present (`services.core.admin_data.village_polygons_path`: `$SIAGA_VILLAGE_POLYGONS` or
`data/local/`), the polygons of the villages asked for are decoded, simplified and cached one by one (the
83,402 villages are never all converted). Otherwise a village is a Point at its centroid (the git-shipped
centroid CSV): a honest location without pretending to know its boundary. `village_mode` says which.
Any area without a polygon in the files (e.g. a unit created after the boundary release) falls back to its
gazetteer point; `unlocated` has a null geometry.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import orjson

from services.core import admin_data

log = logging.getLogger("siaga.api.geo")

TOLERANCE = {1: 0.005, 2: 0.005, 3: 0.001, 4: 0.0002}
DIGITS = {1: 4, 2: 4, 3: 4, 4: 5}
ID_LAYERS = {1: "prov", 2: "kab", 3: "kec"}
TL_LAYERS = {1: "adm1", 2: "adm2", 3: "adm3"}


def _to_json(geoms: np.ndarray, level: int) -> list[bytes]:
    import shapely

    simple = shapely.simplify(geoms, TOLERANCE[level], preserve_topology=True)
    digits = DIGITS[level]
    rounded = shapely.transform(simple, lambda c: np.round(c, digits))
    return [s.encode() if s is not None else None for s in shapely.to_geojson(rounded)]


def _point(lat: float | None, lon: float | None, digits: int = 5) -> bytes | None:
    if lat is None or lon is None or lat != lat or lon != lon:
        return None
    return orjson.dumps({"type": "Point", "coordinates": [round(lon, digits), round(lat, digits)]})


class AreaShapes:
    def __init__(self, base: Path | None = None, village_polygons: Path | None | bool = True) -> None:
        """`village_polygons`: True to look for the file, a path to use it, None/False to use centroids."""
        self.base = base
        self._village_path = admin_data.village_polygons_path() if village_polygons is True else (
            village_polygons or None)
        self._levels: dict[int, tuple[dict[str, bytes], dict[str, str]]] = {}
        self._lock = threading.Lock()
        self._village_index: dict[str, int] | None = None
        self._village_wkb: np.ndarray | None = None
        self._village_json: dict[str, bytes | None] = {}
        self._centroids: dict[str, bytes | None] | None = None

    @property
    def village_mode(self) -> str:
        return "polygons" if self._village_path is not None else "centroids"

    # ------------------------------------------------------------------ levels 1-3
    def layer(self, level: int) -> tuple[dict[str, bytes], dict[str, str]]:
        """(code -> geometry JSON, code -> name) of every area at level 1-3, loaded once."""
        got = self._levels.get(level)
        if got is not None:
            return got
        with self._lock:
            got = self._levels.get(level)
            if got is None:
                got = self._levels[level] = self._load(level)
        return got

    def _load(self, level: int) -> tuple[dict[str, bytes], dict[str, str]]:
        geoms: dict[str, bytes] = {}
        names: dict[str, str] = {}
        df, g = admin_data.read_admin_polygons(ID_LAYERS[level], self.base)
        for code, name, js in zip(df["kode"], df["nama"], _to_json(g, level), strict=True):
            if js is not None:
                geoms[code] = js
            names[code] = str(name).strip()
        try:
            tdf, tg = admin_data.read_tl_polygons(TL_LAYERS[level], self.base)
        except FileNotFoundError:
            log.warning("no Timor-Leste polygons", extra={"level": level})
        else:
            for code, name, js in zip(tdf["code"], tdf["name"], _to_json(tg, level), strict=True):
                if js is not None:
                    geoms[code] = js
                names[code] = str(name).strip()
        log.info("area polygons loaded", extra={"level": level, "areas": len(geoms)})
        return geoms, names

    # ------------------------------------------------------------------ level 4
    def _village_geoms(self, codes: list[str]) -> dict[str, bytes | None]:
        import shapely

        with self._lock:
            if self._village_index is None:
                import pyarrow.parquet as pq

                table = pq.read_table(self._village_path, columns=["kode", "geometry"])
                self._village_index = {c: i for i, c in enumerate(table.column("kode").to_pylist())}
                self._village_wkb = table.column("geometry").to_numpy(zero_copy_only=False)
            todo = [c for c in codes if c not in self._village_json]
            idx = [(c, self._village_index.get(c)) for c in todo]
            found = [(c, i) for c, i in idx if i is not None]
            if found:
                geoms = shapely.from_wkb(self._village_wkb[[i for _, i in found]])
                for (c, _), js in zip(found, _to_json(geoms, 4), strict=True):
                    self._village_json[c] = js
            for c, i in idx:
                if i is None:
                    self._village_json[c] = None
        return {c: self._village_json.get(c) for c in codes}

    def _centroid_points(self) -> dict[str, bytes | None]:
        if self._centroids is None:
            with self._lock:
                if self._centroids is None:
                    cent = admin_data.read_village_centroids(self.base)
                    self._centroids = {k: _point(la, lo) for k, la, lo in
                                       zip(cent["kode"], cent["lat"], cent["lng"], strict=True)}
        return self._centroids

    # ------------------------------------------------------------------ lookups
    def geometries(self, level: int, codes: list[str]) -> dict[str, bytes | None]:
        """Geometry JSON per code (None when there is none: `unlocated`, or an unknown code)."""
        out: dict[str, bytes | None] = {}
        if level in ID_LAYERS:
            geoms, _ = self.layer(level)
            out = {c: geoms.get(c) for c in codes}
        else:
            wanted = [c for c in codes if c != "unlocated"]
            if self._village_path is not None:
                out = self._village_geoms(wanted)
            cent = self._centroid_points()
            for c in wanted:
                if out.get(c) is None:
                    out[c] = cent.get(c)
        missing = [c for c in codes if out.get(c) is None and c != "unlocated"]
        if missing:  # fall back to the gazetteer's point of the unit
            from services.core.gazetteer import get_gazetteer

            places = get_gazetteer().places
            for c in missing:
                p = places.get(c)
                out[c] = _point(p.lat, p.lon) if p is not None else None
        return out

    def codes(self, level: int, prefix: str | None) -> dict[str, str]:
        """Every area (code -> name) at level 1-3 under `prefix` (an admin code of a higher level)."""
        _, names = self.layer(level)
        if not prefix:
            return dict(names)
        dotted = prefix + "."
        return {c: n for c, n in names.items() if c == prefix or c.startswith(dotted)
                or (prefix.startswith("TL") and c.startswith(prefix))}

    def warm(self, levels: tuple[int, ...] = (1, 2, 3)) -> threading.Thread:
        def run() -> None:
            try:
                from services.core.gazetteer import get_gazetteer

                get_gazetteer()  # area names and HDX codes: the first request must not load it
            except Exception as err:
                log.warning("could not load the gazetteer", extra={"error": str(err)})
            for level in levels:
                try:
                    self.layer(level)
                except Exception as err:
                    log.warning("could not load area polygons", extra={"level": level, "error": str(err)})

        t = threading.Thread(target=run, name="geo-warm", daemon=True)
        t.start()
        return t
