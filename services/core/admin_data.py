"""Where the admin-boundary data lives, and loading it into plain tables.

The small, shippable files sit in `<repo>/data` (or `$SIAGA_DATA_DIR`). The village polygons are too large
for git, so they are looked for at `$SIAGA_VILLAGE_POLYGONS`, then `<data>/local/`; when absent the geotagger
falls back to district polygons and village centroids. Everything here returns pandas/numpy, nothing
geotag-specific, so that the gazetteer can load without pulling in any geometry.

`python -m services.core.admin_data crosswalk SRC_DIR` rebuilds the derived BPS -> Kemendagri 2025 table
from the zakiego crosswalk CSVs (2020 codes) and the 2025 gazetteer.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]

ID_DIR = "indonesia"
TL_DIR = "timor-leste"
ADM_GPKG = f"{ID_DIR}/idn_adm_kemendagri_2025_validated.gpkg"
VILLAGE_CENTROIDS = f"{ID_DIR}/idn_desa_kel_centroids.csv"
GAZETTEER = f"{ID_DIR}/wilayah_2025_gazetteer.csv"
CROSSWALK = f"{ID_DIR}/bps_kemendagri_2025.csv"
TL_GPKG = f"{TL_DIR}/tls_adm_ocha_2020.gpkg"
TL_GAZETTEER = f"{TL_DIR}/tls_gazetteer_adm1-3.csv"
VILLAGE_POLYGONS = "idn_desa_kel_polygons.parquet"


def data_dir() -> Path:
    """The shippable data directory: `$SIAGA_DATA_DIR`, else `<repo>/data`."""
    return Path(os.environ.get("SIAGA_DATA_DIR") or REPO / "data")


def shared_data_dir() -> Path:
    """The read-only shared data beside the repo clone: tests and benchmarks only, never production."""
    return Path(os.environ.get("SIAGA_SHARED_DATA") or REPO.parent / "shared" / "data")


def village_polygons_path() -> Path | None:
    """The village polygons file if present: `$SIAGA_VILLAGE_POLYGONS`, else `<data>/local/...`; else None."""
    env = os.environ.get("SIAGA_VILLAGE_POLYGONS")
    candidates = [Path(env)] if env else []
    candidates.append(data_dir() / "local" / VILLAGE_POLYGONS)
    for path in candidates:
        if path.is_file():
            return path
    return None


def _require(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"admin data file missing: {path} (set SIAGA_DATA_DIR or run `make data`)")
    return path


def read_gazetteer(base: Path | None = None) -> pd.DataFrame:
    """Kemendagri 2025 units down to village: kode, nama, level (int), kode_prov/kab/kec, jenis."""
    df = pd.read_csv(_require((base or data_dir()) / GAZETTEER), dtype=str, keep_default_na=False)
    df["level"] = df["level"].astype(int)
    return df


def read_village_centroids(base: Path | None = None) -> pd.DataFrame:
    """Village centroids: kode, nama, lat, lng (359 villages have no geometry and are absent)."""
    return pd.read_csv(_require((base or data_dir()) / VILLAGE_CENTROIDS), dtype={"kode": str, "nama": str})


def read_admin_attributes(layer: str, base: Path | None = None) -> pd.DataFrame:
    """Attributes (kode, nama, lat, lng) of an Indonesian layer `prov`/`kab`/`kec`, without geometry."""
    import pyogrio

    return pyogrio.read_dataframe(_require((base or data_dir()) / ADM_GPKG), layer=layer, read_geometry=False)


def read_admin_polygons(layer: str, base: Path | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Attributes and shapely geometries (EPSG:4326) of an Indonesian layer `prov`/`kab`/`kec`."""
    import pyogrio

    df = pyogrio.read_dataframe(_require((base or data_dir()) / ADM_GPKG), layer=layer)
    geoms = np.asarray(df.geometry.values, dtype=object)
    return pd.DataFrame(df.drop(columns="geometry")), geoms


def read_tl_gazetteer(base: Path | None = None) -> pd.DataFrame:
    """Timor-Leste sucos with their post and municipality P-codes and names, and a point per suco."""
    return pd.read_csv(_require((base or data_dir()) / TL_GAZETTEER), dtype=str).astype(
        {"lat": float, "lon": float}
    )


def read_tl_polygons(layer: str, base: Path | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """A Timor-Leste OCHA layer (`adm1`, `adm2`, `adm3`) with a uniform `code`/`name` pair of columns."""
    import pyogrio

    df = pyogrio.read_dataframe(_require((base or data_dir()) / TL_GPKG), layer=layer)
    if layer != "adm3":
        df = df.rename(columns={f"{layer.upper()}_PCODE": "code", f"{layer.upper()}_EN": "name"})
    geoms = np.asarray(df.geometry.values, dtype=object)
    return pd.DataFrame(df[["code", "name"]]), geoms


def read_village_polygons(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Village codes and shapely polygons from the GeoParquet file.

    Read with pyarrow and decoded straight from WKB rather than through geopandas: it avoids a GeoDataFrame
    copy, which keeps load time and peak memory down for the long-lived geotagger.
    """
    import pyarrow.parquet as pq
    import shapely

    table = pq.read_table(path, columns=["kode", "geometry"])
    codes = np.asarray(table.column("kode").to_pylist(), dtype=object)
    geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    return codes, geoms


def read_crosswalk(base: Path | None = None) -> pd.DataFrame:
    """The derived HDX/BPS -> Kemendagri 2025 table (see `build_crosswalk`)."""
    return pd.read_csv(_require((base or data_dir()) / CROSSWALK), dtype=str, keep_default_na=False)


# ---------------------------------------------------------------------------------------------------------
# Building the derived crosswalk (run rarely, by hand; the result is committed as data/indonesia/...csv)
# ---------------------------------------------------------------------------------------------------------

# Provinces split since the 2020 crosswalk: the 2025 provinces that inherited their regencies.
PROVINCE_SUCCESSORS = {"91": ("91", "93", "94", "95"), "92": ("92", "96")}


@dataclass
class _Match:
    code: str | None
    how: str


def _dotted(undotted: str) -> str:
    parts = [undotted[:2], undotted[2:4], undotted[4:6]]
    return ".".join(p for p in parts if p)


def _kind_of(code: str) -> str:
    """Kemendagri regency numbers 71+ are cities (kota)."""
    return "kota" if int(code.split(".")[1]) >= 70 else "kabupaten"


def _similar(new: str, old: str, level: int, siblings: list[str]) -> bool:
    """Same unit under the same code, allowing the source's truncations and spelling drift.

    The 2020 names are often cut short ("KAB. BOLAANG MONGONDOW" for Bolaang Mongondow Utara) or spelt
    differently (Pahuwato/Pohuwato). A district whose old name only starts the new one is accepted only when
    no sibling starts the same way (Rumbai Pesisir was split into Rumbai, Rumbai Barat, Rumbai Timur).
    Regencies may also have been shortened by law (Toba Samosir -> Toba).
    """
    from difflib import SequenceMatcher

    if new == old or SequenceMatcher(None, new, old).ratio() >= 0.85:
        return True
    if min(len(new), len(old)) < 4:
        return False
    if level == 2 and (new.startswith(old) or old.startswith(new)):
        return True
    return new.startswith(old) and sum(s.startswith(old) for s in siblings) == 1


def build_crosswalk(src: Path, gazetteer: pd.DataFrame | None = None) -> pd.DataFrame:
    """HDX P-code (ID + BPS) -> Kemendagri 2025 code, for provinces, regencies and districts.

    The source pairs BPS codes with Kemendagri codes as of 2020; since then Papua was split into new
    provinces (93-96) and regencies renumbered (Sorong 92.01 -> 96.01), and districts were added. Each 2020
    code is therefore kept only when the 2025 gazetteer has the same code with the same name; otherwise the
    same name is looked for under the 2025 parent (or successor provinces). A unit whose area no longer
    matches one 2025 unit (old Papua, old Papua Barat) gets no code rather than a wrong one.
    """
    from services.core.gazetteer import normalise_name

    gaz = read_gazetteer() if gazetteer is None else gazetteer
    name_of = dict(zip(gaz["kode"], gaz["nama"], strict=True))

    def norm(s: str) -> str:
        return normalise_name(s).replace(" ", "")

    by_parent_name: dict[tuple[str, int, str], list[str]] = {}
    children: dict[str, list[str]] = {}
    for code, nama, level in zip(gaz["kode"], gaz["nama"], gaz["level"], strict=True):
        parent = code.rsplit(".", 1)[0] if level > 1 else ""
        by_parent_name.setdefault((parent, int(level), norm(nama)), []).append(code)
        children.setdefault(parent, []).append(norm(nama))

    def match(dagri: str, names: tuple[str, str], level: int, parents: tuple[str, ...]) -> _Match:
        nama = names[0]
        dotted = _dotted(dagri)
        siblings = children.get(dotted.rsplit(".", 1)[0], [])
        if dotted in name_of and any(
                _similar(norm(name_of[dotted]), norm(n), level, siblings) for n in names):
            return _Match(dotted, "same")
        found = sorted({c for p in parents for n in names
                        for c in by_parent_name.get((p, level, norm(n)), [])})
        if level == 2:  # a city and a regency may share a name (Kota/Kab. Sorong): keep the same kind
            kind = "kota" if nama.upper().startswith("KOTA") else "kabupaten"
            found = [c for c in found if _kind_of(c) == kind]
        if len(found) == 1:
            return _Match(found[0], "renumbered")
        return _Match(None, "ambiguous" if found else "not in 2025")

    rows: list[dict[str, str]] = []
    prov = pd.read_csv(src / "provinsi.csv", dtype=str)
    kab = pd.read_csv(src / "kabkota.csv", dtype=str)
    kec = pd.read_csv(src / "kecamatan.csv", dtype=str)

    kab_map: dict[str, _Match] = {}
    for r in kab.itertuples():
        parents = PROVINCE_SUCCESSORS.get(r.kode_dagri[:2], (r.kode_dagri[:2],))
        kab_map[r.kode_bps] = m = match(r.kode_dagri, (r.nama_dagri, r.nama_bps), 2, parents)
        rows.append({"hdx_pcode": "ID" + r.kode_bps, "level": "2", "kemendagri": m.code or "", "how": m.how})
    kec_by_kab: dict[str, list[str | None]] = {}
    for r in kec.itertuples():
        parent = kab_map.get(r.kode_bps[:4])
        if parent and parent.code:
            m = match(r.kode_dagri, (r.nama_dagri, r.nama_bps), 3, (parent.code,))
        else:
            m = _Match(None, "regency unmapped")
        kec_by_kab.setdefault(r.kode_bps[:4], []).append(m.code)
        rows.append({"hdx_pcode": "ID" + r.kode_bps, "level": "3", "kemendagri": m.code or "", "how": m.how})
    for r in prov.itertuples():
        children = [m.code for b, m in kab_map.items() if b[:2] == r.kode_bps]
        code = r.kode_dagri if r.kode_dagri in name_of else None
        how = "same" if code else "not in 2025"
        if code and any(c is not None and c[:2] != code for c in children):
            code, how = None, "split since 2020"
        rows.append({"hdx_pcode": "ID" + r.kode_bps, "level": "1", "kemendagri": code or "", "how": how})
    # A regency whose districts now sit in another regency changed its area: no single 2025 unit.
    for row in rows:
        if row["level"] == "2" and row["kemendagri"]:
            kids = [c for c in kec_by_kab.get(row["hdx_pcode"][2:], []) if c]
            if any(not c.startswith(row["kemendagri"] + ".") for c in kids):
                row["kemendagri"], row["how"] = "", "split since 2020"
    out = pd.DataFrame(rows).sort_values(["level", "hdx_pcode"]).reset_index(drop=True)
    out["kemendagri_name"] = out["kemendagri"].map(lambda c: name_of.get(c, ""))
    return out


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "crosswalk":
        print("usage: python -m services.core.admin_data crosswalk SRC_DIR", file=sys.stderr)
        return 2
    table = build_crosswalk(Path(argv[1]))
    out = data_dir() / CROSSWALK
    table.to_csv(out, index=False)
    print(f"{out}: {len(table)} rows, {int((table['kemendagri'] != '').sum())} mapped")
    print(table.groupby(["level", "how"]).size().to_string())
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
