"""Point geotagging on real boundaries and reports: villages, Jakarta floods, coasts, islands, sucos, CLI."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from schemas.geo import GeoTag
from schemas.report import FieldReport
from services.cli import geotag_cmd
from services.cli import main as cli_main
from services.core import geotag as geotag_module
from services.core import geotag_grid
from services.core.gazetteer import get_gazetteer
from services.core.geotag import GRID_CELL_DEG, GRID_SUB, Geotagger, _metres
from services.core.geotag_grid import CellGrid, first_hits, first_hits_xy

DKI_REGENCIES = {"31.01", "31.71", "31.72", "31.73", "31.74", "31.75"}
# Jabodetabek regencies around DKI that the PetaBencana Jakarta instance also covers.
JABODETABEK = DKI_REGENCIES | {"32.01", "32.16", "32.71", "32.75", "32.76", "36.03", "36.71", "36.74"}


@pytest.fixture(scope="session")
def geotagger(shared_data: Path) -> Geotagger:
    """Village polygons from the shared data: loaded once for the whole session."""
    path = shared_data / "indonesia" / "idn_desa_kel_polygons.parquet"
    return Geotagger(get_gazetteer(), village_polygons=path)


@pytest.fixture(scope="session")
def fallback() -> Geotagger:
    """No village polygons (as on a machine without `make data`): district polygons + village centroids."""
    return Geotagger(get_gazetteer(), village_polygons=None)


@pytest.fixture(scope="session")
def petabencana(shared_data: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(shared_data / "reports" / "petabencana_jakarta_2017-02.geojson")


def _consistent(tag) -> bool:  # noqa: ANN001
    """Each level's code is the next one's prefix, so levels can never disagree."""
    codes = [c for c in (tag.adm1, tag.adm2, tag.adm3, tag.adm4) if c]
    return all(b.startswith(a) for a, b in zip(codes, codes[1:], strict=False))


def _tag(gt: Geotagger, lon: float, lat: float):  # noqa: ANN202
    return gt.tag_points(np.array([lon]), np.array([lat]))[0]


def test_points_inside_villages_get_that_village(geotagger: Geotagger) -> None:
    rng = np.random.default_rng(7)
    n_villages = int((~np.char.startswith(geotagger._leaf_codes.astype(str), "TL")).sum())
    pick = rng.choice(n_villages, 3000, replace=False)
    inside = shapely.point_on_surface(geotagger._leaf_tree.geometries[pick])
    tags = geotagger.tag_points(shapely.get_x(inside), shapely.get_y(inside))
    expected = geotagger._leaf_codes[pick]
    # Simplified polygons may overlap by a hair: a point on the overlap may take the neighbour.
    agree = np.mean([t.adm4 == e for t, e in zip(tags, expected, strict=True)])
    assert agree > 0.995
    assert all(t.geotag_method == "village_polygon" and t.country == "ID" and _consistent(t) for t in tags)
    assert all(t.adm1_name and t.adm2_name and t.adm3_name and t.adm4_name for t in tags)


def test_petabencana_reports_land_in_jabodetabek(geotagger: Geotagger, petabencana: gpd.GeoDataFrame,
                                                 shared_data: Path) -> None:
    tags = geotagger.tag_points(petabencana.geometry.x.to_numpy(), petabencana.geometry.y.to_numpy())
    assert len(tags) == 675 and all(t.geotag_method != "none" and _consistent(t) for t in tags)
    assert {t.adm2 for t in tags} <= JABODETABEK
    in_dki = [t for t in tags if t.adm1 == "31"]
    assert len(in_dki) > 0.85 * len(tags)
    assert {t.adm2 for t in in_dki} <= DKI_REGENCIES and all(t.adm2 for t in in_dki)
    # Independent check: the separately published DKI village polygons agree wherever a report falls inside.
    dki = gpd.read_file(shared_data / "indonesia" / "idn_desa_kel_prov31.geojson")
    joined = gpd.sjoin(petabencana[["geometry"]], dki[["kode", "geometry"]], predicate="within", how="inner")
    joined = joined[~joined.index.duplicated()]
    assert len(joined) > 500
    agree = np.mean([tags[i].adm4 == kode for i, kode in zip(joined.index, joined["kode"], strict=True)])
    assert agree > 0.98


def test_timor_leste_sucos(geotagger: Geotagger, shared_data: Path) -> None:
    sucos = gpd.read_file(shared_data / "timor-leste" / "tls_adm_ocha_2020.gpkg", layer="adm3")
    inside = sucos.geometry.representative_point()
    tags = geotagger.tag_points(inside.x.to_numpy(), inside.y.to_numpy())
    assert [t.adm3 for t in tags] == sucos["code"].tolist()
    for t, code in zip(tags, sucos["code"], strict=True):
        assert (t.country, t.adm1, t.adm2, t.adm4) == ("TL", code[:4], code[:6], None)
        assert t.adm1_name and t.adm2_name and t.adm3_name
    dili = _tag(geotagger, 125.5736, -8.5569)
    assert (dili.adm1_name, dili.adm2_name, dili.adm3_name) == ("Dili", "Vera Cruz", "Colmera")
    atauro = _tag(geotagger, 125.60, -8.25)  # Atauro island, listed under Dili in this edition
    assert atauro.country == "TL" and atauro.adm1 == dili.adm1


def test_islands_and_coast(geotagger: Geotagger) -> None:
    pramuka = _tag(geotagger, 106.6150, -5.7450)  # Pulau Pramuka, Kepulauan Seribu
    assert pramuka.adm2 == "31.01" and pramuka.geotag_method in {"village_polygon", "offshore_snap"}
    bay = _tag(geotagger, 106.80, -6.07)  # Jakarta Bay, ~2-3 km off Pluit
    assert bay.geotag_method == "offshore_snap" and "offshore" in bay.flags
    assert bay.adm2 == "31.72" and 500 < bay.distance_m <= 5000 and bay.adm4 and _consistent(bay)
    ocean = _tag(geotagger, 100.0, -10.0)  # Indian Ocean
    assert ocean.geotag_method == "none" and ocean.adm1 is None and "5 km" in ocean.reason
    palu_bay = _tag(geotagger, 119.84, -0.85)
    assert palu_bay.adm1 == "72" and palu_bay.geotag_method in {"offshore_snap", "village_polygon"}


def test_snap_distance_is_metres(geotagger: Geotagger) -> None:
    """distance_m matches a projected (UTM) distance to the snapped district within 1%."""
    gaz = get_gazetteer()
    from services.core import admin_data

    attrs, geoms = admin_data.read_admin_polygons("kec")
    by_code = dict(zip(attrs["kode"], geoms, strict=True))
    points = [(106.80, -6.07, 32748), (106.86, -6.08, 32748), (124.80, 1.60, 32651), (125.50, -8.50, 32751)]
    checked = 0
    for lon, lat, epsg in points:
        tag = _tag(geotagger, lon, lat)
        if tag.geotag_method != "offshore_snap":
            continue
        checked += 1
        district = gpd.GeoSeries([by_code[tag.adm3], shapely.Point(lon, lat)], crs=4326).to_crs(epsg)
        expected = district.iloc[0].distance(district.iloc[1])
        assert tag.distance_m == pytest.approx(expected, rel=0.01), (lon, lat, gaz.places[tag.adm3].name)
    assert checked >= 2
    one_degree_north = _metres(np.array(0.0), np.array(0.0), np.array(0.0), np.array(1.0))
    assert one_degree_north == pytest.approx(111_195, rel=1e-3)
    assert _metres(np.array(125.0), np.array(-8.0), np.array(126.0), np.array(-8.0)) == pytest.approx(
        110_113, rel=2e-3)


def test_swapped_and_invalid_coordinates(geotagger: Geotagger) -> None:
    swapped = _tag(geotagger, -6.2088, 106.8456)  # lat/lon typed the wrong way round
    straight = _tag(geotagger, 106.8456, -6.2088)
    assert swapped.adm4 == straight.adm4 == "31.74.02.1006" and "latlon_swapped" in swapped.flags
    assert "latlon_swapped" not in straight.flags
    tags = geotagger.tag_points(np.array([np.nan, 200.0, 0.0]), np.array([1.0, 95.0, 0.0]))
    assert [t.geotag_method for t in tags] == ["none"] * 3
    assert "invalid_coordinates" in tags[0].flags and "invalid_coordinates" in tags[1].flags
    assert tags[2].flags == [] and "5 km" in tags[2].reason
    assert geotagger.tag_points(np.array([]), np.array([])) == []


def test_fallback_without_village_polygons(fallback: Geotagger, geotagger: Geotagger,
                                           petabencana: gpd.GeoDataFrame) -> None:
    assert not fallback.has_village_polygons and geotagger.has_village_polygons
    lons, lats = petabencana.geometry.x.to_numpy(), petabencana.geometry.y.to_numpy()
    full, fb = geotagger.tag_points(lons, lats), fallback.tag_points(lons, lats)
    assert {t.geotag_method for t in fb} <= {"nearest_village", "offshore_snap", "district_polygon"}
    assert all(_consistent(t) and t.adm4 for t in fb)
    same_district = np.mean([a.adm3 == b.adm3 for a, b in zip(full, fb, strict=True)])
    same_village = np.mean([a.adm4 == b.adm4 for a, b in zip(full, fb, strict=True)])
    # The district layer is a different, coarser survey than the village polygons (in central Jakarta their
    # areas differ by 20-50%), so in dense small districts the fallback misses the district near borders.
    assert same_district > 0.9 and same_village > 0.5
    assert all(t.distance_m is not None for t in fb if t.geotag_method == "nearest_village")
    # Timor-Leste needs no village file.
    assert _tag(fallback, 125.5736, -8.5569).adm3 == "TL060105"


def test_tag_reports_keeps_order_and_uses_place_text(geotagger: Geotagger) -> None:
    base = {"submitted_at": datetime(2018, 9, 29, 14, tzinfo=UTC), "reporter": {"id": "vol-1"},
            "hazard": "gempa"}
    reports = [
        FieldReport(report_id="a", location={"lat": -6.2088, "lon": 106.8456}, **base),
        FieldReport(report_id="b", place_text="Desa Petobo, Kec. Palu Selatan, Kota Palu", **base),
        FieldReport(report_id="c", location={"lat": -8.5569, "lon": 125.5736}, **base),
        FieldReport(report_id="d", location={"lat": 0.0, "lon": 0.0}, place_text="Kota Palu", **base),
    ]
    tags = geotagger.tag_reports(reports)
    assert [t.most_specific for t in tags] == ["31.74.02.1006", "72.71.03.1003", "TL060105", "72.71"]
    expected = ["village_polygon", "place_name", "village_polygon", "place_name"]
    assert [t.geotag_method for t in tags] == expected
    assert "point_unusable" in tags[3].flags
    assert tags[0].partition_key == "31.74"
    json.loads(tags[0].model_dump_json())  # built without validation: must still serialise
    for tag in tags:
        again = GeoTag.model_validate(tag.model_dump())
        assert again == tag and again.model_dump_json() == tag.model_dump_json()
        assert set(tag.__dict__) == set(GeoTag.model_fields)
    tags[0].flags.append("x")
    assert "x" not in geotagger.tag_points(np.array([106.8456]), np.array([-6.2088]))[0].flags


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_cli_end_to_end(geotagger: Geotagger, petabencana: gpd.GeoDataFrame, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(geotag_module._shared, "_value", geotagger)  # reuse the session's index
    rows = [{"id": str(i), "lon": repr(p.x), "lat": repr(p.y), "place_text": "", "source": s}
            for i, (p, s) in enumerate(zip(petabencana.geometry, petabencana["source"], strict=True))]
    rows += [
        {"id": "text", "lon": "", "lat": "", "place_text": "Desa Petobo, Kec. Palu Selatan, Kota Palu",
         "source": "x"},
        {"id": "bad", "lon": "106,8", "lat": "-6.2", "place_text": "", "source": "x"},
        {"id": "sea", "lon": "100", "lat": "-10", "place_text": "", "source": "x"},
    ]
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _write_csv(src, rows)
    assert cli_main(["geotag", str(src), "-o", str(out), "--chunk-size", "100"]) == 0
    with out.open(newline="") as f:
        result = list(csv.DictReader(f))
    assert len(result) == len(rows)
    assert [r["id"] for r in result] == [r["id"] for r in rows] and result[0]["source"] == rows[0]["source"]
    for col in geotag_cmd.OUT_COLUMNS:
        assert col in result[0]
    reports = result[:675]
    assert all(r["adm2"] in JABODETABEK for r in reports)
    assert sum(r["adm1"] == "31" for r in reports) > 0.85 * 675
    by_id = {r["id"]: r for r in result}
    assert by_id["text"]["adm4"] == "72.71.03.1003" and by_id["text"]["geotag_method"] == "place_name"
    assert by_id["bad"]["geotag_method"] == "none" and "bad_number" in by_id["bad"]["geotag_flags"]
    assert by_id["bad"]["adm1"] == "" and by_id["sea"]["geotag_method"] == "none"
    assert by_id["sea"]["distance_m"] == "" and by_id["sea"]["adm1"] == ""


def test_cli_stdout_and_errors(geotagger: Geotagger, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "in.csv"
    _write_csv(src, [{"id": "1", "lon": "125.5736", "lat": "-8.5569"}])
    buf = io.StringIO()
    counts = geotag_cmd.run(src, buf, geotagger=geotagger)
    assert counts == {"village_polygon": 1}
    assert buf.getvalue().splitlines()[1].startswith("1,125.5736,-8.5569,TL06,Dili,TL0601,Vera Cruz,TL060105")
    bad = tmp_path / "bad.csv"
    _write_csv(bad, [{"id": "1", "x": "2"}])
    assert cli_main(["geotag", str(bad)]) == 2
    assert "missing column(s): lon and lat (or place_text)" in capsys.readouterr().err
    assert cli_main(["geotag", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def _geos_leaf(gt: Geotagger, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """The exact answer straight from GEOS: first leaf polygon (lowest index) containing each point, or -1."""
    hit, tree_i = first_hits(gt._leaf_tree, shapely.points(lons, lats))
    out = np.full(lons.size, CellGrid.NONE)
    out[hit] = tree_i
    return out


def test_grid_answers_are_geos_answers(geotagger: Geotagger) -> None:
    """Wherever a freshly built grid answers, it answers what GEOS does: random points, and points on or next to
    edges, vertices and the grid's own cell and sub-cell lines, where a wrongly marked cell would show.

    Built here from two provinces' villages (dense Jakarta, coastal Central Sulawesi), not loaded from the cache.
    """
    rng = np.random.default_rng(3)
    codes = geotagger._leaf_codes
    subset = np.flatnonzero(np.char.startswith(codes.astype(str), "31.") | np.char.startswith(codes.astype(str), "72."))
    tree = shapely.STRtree(geotagger._leaf_tree.geometries[subset])
    grid = CellGrid.build(tree, GRID_CELL_DEG, GRID_SUB)
    geoms = tree.geometries
    coords, ring = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(geoms)), return_index=True)
    same_ring = np.flatnonzero(ring[1:] == ring[:-1])
    same_ring = same_ring[rng.choice(same_ring.size, 200_000, replace=False)]
    t = rng.random(same_ring.size)
    on_edges = coords[same_ring] + (coords[same_ring + 1] - coords[same_ring]) * t[:, None]
    nudges = rng.choice([0.0, 1e-12, -1e-12, 1e-9, -1e-9, 1e-7, -1e-7, 3e-5, -3e-5], size=(2, on_edges.shape[0]))
    near = np.column_stack([on_edges[:, 0] + nudges[0], on_edges[:, 1] + nudges[1]])
    fine = grid.fine_deg  # points exactly on sub-cell (and so on cell) lines near the polygons
    lines = np.column_stack([grid.x0 + np.round((coords[::5, 0] - grid.x0) / fine) * fine,
                             grid.y0 + np.round((coords[::5, 1] - grid.y0) / fine) * fine])
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    uniform = np.column_stack([rng.uniform(xmin - 0.1, xmax + 0.1, 200_000),
                               rng.uniform(ymin - 0.1, ymax + 0.1, 200_000)])
    pts = np.concatenate([coords[::3], on_edges, near, lines, uniform])
    got = grid.lookup(pts[:, 0], pts[:, 1])
    known = got != CellGrid.EDGE
    hit, tree_i = first_hits(tree, shapely.points(pts[known, 0], pts[known, 1]))
    expected = np.full(known.sum(), CellGrid.NONE)
    expected[hit] = tree_i
    assert known.sum() > 150_000 and (expected >= 0).sum() > 10_000
    assert np.array_equal(got[known], expected)
    # The GEOS step for the rest: the same first polygons as the tree's own predicate query, also when no point
    # is inside any (candidates by bounding box only).
    for sample in (pts[~known], near[:1000], np.array([[xmin - 0.05, ymin - 0.05]]), np.empty((0, 2))):
        a, b = first_hits(tree, shapely.points(sample[:, 0], sample[:, 1])), first_hits_xy(tree, *sample.T)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    box = shapely.box(0, 0, 1, 1)
    ring = shapely.STRtree([box.difference(shapely.box(0.25, 0.25, 0.75, 0.75))])
    assert first_hits_xy(ring, np.array([0.5]), np.array([0.5]))[0].size == 0  # in the box, not the polygon


def test_tag_points_are_geos_answers(geotagger: Geotagger) -> None:
    """The session's (cached) grid on jittered village centroids, the benchmark's points: the grid answers ~96%
    of them without GEOS, and every village_polygon tag is GEOS's first polygon."""
    rng = np.random.default_rng(4)
    places = [p for p in geotagger.gazetteer.places.values() if p.level == 4 and p.lat is not None]
    pick = rng.choice(len(places), 20_000, replace=False)
    lon = np.array([places[i].lon for i in pick]) + rng.normal(0, 0.002, pick.size)
    lat = np.array([places[i].lat for i in pick]) + rng.normal(0, 0.002, pick.size)
    got = geotagger._leaf_grid.lookup(lon, lat)
    leaf = _geos_leaf(geotagger, lon, lat)
    known = got != CellGrid.EDGE
    assert known.mean() > 0.93 and np.array_equal(got[known], leaf[known])
    tags = geotagger.tag_points(lon, lat)
    for tag, i in zip(tags, leaf, strict=True):
        if i >= 0 and not geotagger._leaf_codes[i].startswith("TL"):
            assert tag.geotag_method == "village_polygon" and tag.adm4 == geotagger._leaf_codes[i]


def test_tags_shared_within_a_call_only(geotagger: Geotagger) -> None:
    lon, lat = np.array([106.8456, 106.8457, 125.5736]), np.array([-6.2088, -6.2088, -8.5569])
    a, b = geotagger.tag_points(lon, lat), geotagger.tag_points(lon, lat)
    assert a[0] is a[1] and a[0] == b[0] and a[0] is not b[0]  # one object per polygon and call
    assert a[0].adm4 == "31.74.02.1006" and a[2].adm3 == "TL060105"


def _village_file(path: Path, codes: list[str], boxes: list[tuple[float, float, float, float]]) -> None:
    gpd.GeoDataFrame({"kode": codes}, geometry=[shapely.box(*b) for b in boxes], crs=4326).to_parquet(path)


def test_grid_cache_is_used_and_invalidated(tmp_path: Path) -> None:
    """A second geotagger loads the cached grid; a changed village file is never answered from the old one."""
    gaz = get_gazetteer()
    codes = sorted(c for c, p in gaz.places.items() if p.level == 4 and c.startswith("53.71."))[:2]
    src, cache = tmp_path / "villages.parquet", tmp_path / "cache"
    _village_file(src, codes, [(123.50, -10.20, 123.52, -10.18), (123.52, -10.20, 123.54, -10.18)])
    first = Geotagger(gaz, village_polygons=src, grid_cache=cache)
    assert not first._leaf_grid.from_cache and len(list(cache.glob("leaf-grid-*.npz"))) == 1
    again = Geotagger(gaz, village_polygons=src, grid_cache=cache)
    assert again._leaf_grid.from_cache
    for name in ("blocks", "dense", "fine", "first", "answers"):
        assert np.array_equal(getattr(again._leaf_grid, name), getattr(first._leaf_grid, name))
    assert _tag(again, 123.53, -10.19).adm4 == codes[1]
    # Same size, new content and mtime: the second village moves east, so 123.53 is now in the first.
    _village_file(src, codes, [(123.50, -10.20, 123.535, -10.18), (123.535, -10.20, 123.56, -10.18)])
    moved = Geotagger(gaz, village_polygons=src, grid_cache=cache)
    assert not moved._leaf_grid.from_cache
    assert _tag(moved, 123.53, -10.19).adm4 == codes[0] and _tag(moved, 123.55, -10.19).adm4 == codes[1]
    # The key follows the file's mtime alone too (content rewritten in place with the same size).
    key = geotag_grid.fingerprint([src], moved._leaf_tree.geometries, GRID_CELL_DEG, GRID_SUB)
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert geotag_grid.fingerprint([src], moved._leaf_tree.geometries, GRID_CELL_DEG, GRID_SUB) != key
    # A damaged cache file is rebuilt, not trusted.
    for f in cache.glob("leaf-grid-*.npz"):
        f.write_bytes(b"not an npz")
    rebuilt = Geotagger(gaz, village_polygons=src, grid_cache=cache)
    assert not rebuilt._leaf_grid.from_cache and _tag(rebuilt, 123.53, -10.19).adm4 == codes[0]
    for f in cache.glob("leaf-grid-*.npz"):  # cut short (a full disk, a killed writer elsewhere)
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    assert not Geotagger(gaz, village_polygons=src, grid_cache=cache)._leaf_grid.from_cache
