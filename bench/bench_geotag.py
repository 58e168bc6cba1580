"""Geotagging throughput, load cost and accuracy on 200,000 real points (village centroids, jittered).

Why: the enrich stage must keep up with surges (hundreds of thousands of reports after a large earthquake),
and the alternatives people reach for first are per-report: a geopandas spatial join per message, or a
PostGIS trigger per inserted row. This puts numbers on them side by side, in one run.

    PYTHONPATH=. python bench/bench_geotag.py [--points 200000] [--sjoin-sample 300]

Writes bench/results/geotag.json and prints a table. Needs the village polygons (data/local, or
$SIAGA_VILLAGE_POLYGONS, or ../shared/data).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.core import admin_data  # noqa: E402
from services.core.gazetteer import get_gazetteer  # noqa: E402
from services.core.geotag import M_PER_DEG, Geotagger  # noqa: E402

JITTER_M = 300.0
SEED = 20180928  # the Palu earthquake
CPU_RATES: dict[tuple[int, int], float] = {}


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def village_polygons() -> Path:
    path = admin_data.village_polygons_path()
    if path is None:
        path = admin_data.shared_data_dir() / "indonesia" / admin_data.VILLAGE_POLYGONS
    if not path.is_file():
        sys.exit("village polygons not found: run `make data` or set SIAGA_VILLAGE_POLYGONS")
    return path


def sample_points(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Village centroids drawn with replacement, and the same moved up to JITTER_M in a random direction."""
    cent = admin_data.read_village_centroids()
    rng = np.random.default_rng(SEED)
    pick = rng.integers(0, len(cent), n)
    codes = cent["kode"].to_numpy(dtype=object)[pick]
    lon, lat = cent["lng"].to_numpy()[pick], cent["lat"].to_numpy()[pick]
    r = JITTER_M * np.sqrt(rng.random(n))  # uniform over the disc
    theta = rng.random(n) * 2 * math.pi
    jlat = lat + r * np.sin(theta) / M_PER_DEG
    jlon = lon + r * np.cos(theta) / (M_PER_DEG * np.cos(np.radians(lat)))
    return codes, lon, lat, jlon, jlat


def accuracy(tags: list, codes: np.ndarray) -> dict[str, float]:
    village = np.mean([t.adm4 == c for t, c in zip(tags, codes, strict=True)])
    district = np.mean([t.adm3 == c[:8] for t, c in zip(tags, codes, strict=True)])
    tagged = np.mean([t.geotag_method != "none" for t in tags])
    return {"village": round(float(village), 4), "district": round(float(district), 4),
            "tagged": round(float(tagged), 4)}


def methods(tags: list) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in tags:
        out[t.geotag_method] = out.get(t.geotag_method, 0) + 1
    return dict(sorted(out.items()))


def bench_batched(gt: Geotagger, lon: np.ndarray, lat: np.ndarray, batch: int) -> tuple[float, list]:
    """Points per second of wall time; CPU time is recorded too (the machine may be shared)."""
    t0, c0 = time.perf_counter(), time.process_time()
    tags: list = []
    for s in range(0, len(lon), batch):
        tags.extend(gt.tag_points(lon[s:s + batch], lat[s:s + batch]))
    CPU_RATES[(id(gt), batch)] = round(len(lon) / (time.process_time() - c0), 1)
    return len(lon) / (time.perf_counter() - t0), tags


def bench_sjoin_per_report(path: Path, lon: np.ndarray, lat: np.ndarray, n: int) -> dict:
    """geopandas.sjoin called once per report against the village GeoDataFrame (index built beforehand)."""
    import geopandas as gpd

    villages = gpd.read_parquet(path, columns=["kode", "geometry"])
    villages.sindex  # noqa: B018 - build the spatial index outside the timed loop, as a service would
    t0 = time.perf_counter()
    found = 0
    for x, y in zip(lon[:n], lat[:n], strict=True):
        one = gpd.GeoDataFrame(geometry=gpd.points_from_xy([x], [y]), crs=villages.crs)
        found += len(gpd.sjoin(one, villages, predicate="within", how="inner")) > 0
    rate = n / (time.perf_counter() - t0)
    return {"points_per_s": round(rate, 1), "measured_on": n, "found": found,
            "extrapolated_s_for_all": None}


def postgis_status() -> dict:
    """PostGIS per-row trigger: only measured where a server is already installed (not installed here)."""
    have = shutil.which("pg_ctl") or shutil.which("postgres")
    return {"measured": False, "points_per_s": None,
            "todo": "TODO: PostGIS per-row trigger (BEFORE INSERT trigger doing ST_Within against a "
                    "GiST-indexed village table) not measured"
                    + (": PostgreSQL is here but not PostGIS" if have else ": no PostgreSQL/PostGIS here")
                    + ". Load the parquet with ogr2ogr, time 20k single-row INSERTs."}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--sjoin-sample", type=int, default=300)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "geotag.json"))
    args = ap.parse_args()
    path = village_polygons()

    t0 = time.perf_counter()
    gaz = get_gazetteer()
    gaz_load_s = time.perf_counter() - t0
    codes, lon, lat, jlon, jlat = sample_points(args.points)

    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    gt = Geotagger(gaz, village_polygons=path)
    load_s = time.perf_counter() - t0
    gc.collect()
    index_mb = rss_mb() - before

    rate_all, tags_j = bench_batched(gt, jlon, jlat, len(jlon))
    rate_500, _ = bench_batched(gt, jlon[:50_000], jlat[:50_000], 500)
    tags_c = gt.tag_points(lon, lat)

    fallback = Geotagger(gaz, village_polygons=None)
    fb_rate, fb_tags_j = bench_batched(fallback, jlon, jlat, len(jlon))
    fb_tags_c = fallback.tag_points(lon, lat)

    sjoin = bench_sjoin_per_report(path, jlon, jlat, args.sjoin_sample)
    sjoin["extrapolated_s_for_all"] = round(args.points / sjoin["points_per_s"], 1)

    result = {
        "points": args.points, "jitter_m": JITTER_M, "seed": SEED, "village_polygons": str(path),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "gazetteer_load_s": round(gaz_load_s, 2),
        "geotagger_load_s": round(load_s, 2),
        "index_rss_mb": round(index_mb, 1),
        "batched": {
            "points_per_s_one_batch": round(rate_all, 1),
            "points_per_s_batches_of_500": round(rate_500, 1),
            "points_per_cpu_s_one_batch": CPU_RATES[(id(gt), len(jlon))],
            "points_per_cpu_s_batches_of_500": CPU_RATES[(id(gt), 500)],
            "methods_jittered": methods(tags_j),
            "accuracy_jittered": accuracy(tags_j, codes),
            "accuracy_centroids": accuracy(tags_c, codes),
        },
        "fallback_no_village_polygons": {
            "points_per_s_one_batch": round(fb_rate, 1),
            "points_per_cpu_s_one_batch": CPU_RATES[(id(fallback), len(jlon))],
            "methods_jittered": methods(fb_tags_j),
            "accuracy_jittered": accuracy(fb_tags_j, codes),
            "accuracy_centroids": accuracy(fb_tags_c, codes),
        },
        "sjoin_per_report": sjoin,
        "postgis_trigger_per_row": postgis_status(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    b, f = result["batched"], result["fallback_no_village_polygons"]
    rows = [
        ("Geotagger, one batch (village polygons)", b["points_per_s_one_batch"],
         b["accuracy_jittered"], b["accuracy_centroids"]),
        ("Geotagger, batches of 500", b["points_per_s_batches_of_500"], None, None),
        ("Geotagger, no village polygons", f["points_per_s_one_batch"], f["accuracy_jittered"],
         f["accuracy_centroids"]),
        (f"geopandas.sjoin per report (n={sjoin['measured_on']})", sjoin["points_per_s"], None, None),
        ("PostGIS trigger per row", None, None, None),
    ]
    print(f"\n{args.points:,} points (village centroids jittered <= {JITTER_M:.0f} m, seed {SEED})")
    print(f"gazetteer load {gaz_load_s:.2f} s; geotagger load {load_s:.2f} s; index RSS {index_mb:.0f} MB\n")
    print(f"{'method':<48}{'points/s':>12}  {'jittered vil/dist':>18}  {'centroid vil/dist':>18}")
    for name, rate, acc_j, acc_c in rows:
        r = f"{rate:,.0f}" if rate else "TODO"
        j = f"{acc_j['village']:.3f}/{acc_j['district']:.3f}" if acc_j else "-"
        c = f"{acc_c['village']:.3f}/{acc_c['district']:.3f}" if acc_c else "-"
        print(f"{name:<48}{r:>12}  {j:>18}  {c:>18}")
    print(f"\nCPU-time rates (shared machine): one batch {b['points_per_cpu_s_one_batch']:,.0f}/s, "
          f"batches of 500 {b['points_per_cpu_s_batches_of_500']:,.0f}/s, no village polygons "
          f"{f['points_per_cpu_s_one_batch']:,.0f}/s")
    print(f"sjoin per report would take {sjoin['extrapolated_s_for_all']:,} s for all points")
    print("PostGIS:", result["postgis_trigger_per_row"]["todo"])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
