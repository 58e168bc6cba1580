"""`siaga geotag IN.csv [-o OUT.csv]`: admin codes for a CSV of points (or place names), offline.

For coordinators with a spreadsheet of assessments from another tool: columns `id,lon,lat` and optionally
`place_text`; every input column passes through and the admin columns are appended. Read and written in
chunks so a million-row file fits in memory; a bad cell flags its row instead of stopping the run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from schemas.geo import GeoTag

OUT_COLUMNS = ["adm1", "adm1_name", "adm2", "adm2_name", "adm3", "adm3_name", "adm4", "adm4_name", "country",
               "geotag_method", "distance_m"]
EXTRA_COLUMNS = ["geotag_flags", "geotag_reason"]
PROGRESS_MIN_ROWS = 20_000


class InputError(Exception):
    """A problem with the input file as a whole (not one row): reported without a traceback."""


def _count_rows(path: Path) -> int:
    with path.open("rb") as f:
        return max(sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1, 0)


def _check_columns(columns: list[str]) -> None:
    missing = [c for c in ("id",) if c not in columns]
    has_point = "lon" in columns and "lat" in columns
    if not has_point and "place_text" not in columns:
        missing.append("lon and lat (or place_text)")
    elif ("lon" in columns) != ("lat" in columns):
        missing.append("lat" if "lon" in columns else "lon")
    if missing:
        raise InputError(f"missing column(s): {', '.join(missing)}; found: {', '.join(columns) or 'none'}")


def _row(tag: GeoTag) -> list[str]:
    cells = ["" if getattr(tag, c) is None else str(getattr(tag, c)) for c in OUT_COLUMNS[:-1]]
    cells.append("" if tag.distance_m is None else f"{tag.distance_m:.1f}")
    return cells + [";".join(tag.flags), tag.reason or ""]


def tag_chunk(chunk: pd.DataFrame, geotagger, place_cache: dict[str, GeoTag]) -> pd.DataFrame:  # noqa: ANN001
    """The chunk with the admin columns appended (replacing same-named input columns)."""
    n = len(chunk)
    tags: list[GeoTag | None] = [None] * n
    texts = (chunk["place_text"].str.strip() if "place_text" in chunk
             else pd.Series([""] * n, index=chunk.index))
    if "lon" in chunk:
        raw_lon, raw_lat = chunk["lon"].str.strip(), chunk["lat"].str.strip()
        lon = pd.to_numeric(raw_lon, errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(raw_lat, errors="coerce").to_numpy(dtype=float)
        given = ((raw_lon != "") | (raw_lat != "")).to_numpy()
        bad = given & (np.isnan(lon) | np.isnan(lat))
        ok = given & ~bad
        for i, tag in zip(np.flatnonzero(ok), geotagger.tag_points(lon[ok], lat[ok]), strict=True):
            tags[i] = tag
        for i in np.flatnonzero(bad):
            tags[i] = GeoTag(flags=["bad_number"],
                             reason=f"lon/lat not numbers: {raw_lon.iat[i]!r}, {raw_lat.iat[i]!r}")
    for i in range(n):
        text = texts.iat[i]
        if text and (tags[i] is None or tags[i].geotag_method == "none"):
            if text not in place_cache:
                place_cache[text] = geotagger.tag_place(text)
            by_text, point_tag = place_cache[text], tags[i]
            if point_tag is None or by_text.geotag_method != "none":
                tags[i] = by_text.model_copy(deep=True)
                if point_tag is not None:  # say why the point was not used
                    why = point_tag.flags or ["point_unusable"]
                    tags[i].flags.extend(f for f in why if f not in tags[i].flags)
        if tags[i] is None:
            tags[i] = GeoTag(reason="no coordinates and no place_text")
    out = pd.DataFrame([_row(t) for t in tags], columns=OUT_COLUMNS + EXTRA_COLUMNS, index=chunk.index)
    return pd.concat([chunk.drop(columns=[c for c in out.columns if c in chunk.columns]), out], axis=1)


def run(in_path: Path, out: TextIO, chunk_size: int = 50_000, geotagger=None,  # noqa: ANN001
        progress: bool | None = None) -> dict[str, int]:
    """Geotag `in_path` into `out`; returns counts per geotag_method."""
    from tqdm import tqdm

    if not in_path.is_file():
        raise InputError(f"no such file: {in_path}")
    try:
        header = pd.read_csv(in_path, dtype=str, nrows=0).columns.tolist()
    except (pd.errors.EmptyDataError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise InputError(f"cannot read {in_path} as CSV: {err}") from err
    _check_columns(header)
    replaced = [c for c in OUT_COLUMNS + EXTRA_COLUMNS if c in header]
    if replaced:
        print(f"note: input columns replaced by the geotag output: {', '.join(replaced)}", file=sys.stderr)
    if geotagger is None:
        from services.core.geotag import get_geotagger

        geotagger = get_geotagger()
    total = _count_rows(in_path)
    show = progress if progress is not None else total >= PROGRESS_MIN_ROWS
    counts: dict[str, int] = {}
    place_cache: dict[str, GeoTag] = {}
    reader = pd.read_csv(in_path, dtype=str, keep_default_na=False, chunksize=chunk_size)
    with tqdm(total=total, unit="rows", file=sys.stderr, disable=not show, desc="geotag") as bar:
        for k, chunk in enumerate(reader):
            tagged = tag_chunk(chunk, geotagger, place_cache)
            tagged.to_csv(out, index=False, header=k == 0)
            for method, c in tagged["geotag_method"].value_counts().items():
                counts[method] = counts.get(method, 0) + int(c)
            bar.update(len(chunk))
    return counts


def _run(args: argparse.Namespace) -> int:
    geotagger = None
    if args.village_polygons or args.no_village_polygons:
        from services.core.geotag import Geotagger

        geotagger = Geotagger(village_polygons=None if args.no_village_polygons else args.village_polygons)
    try:
        if args.output:
            with open(args.output, "w", newline="", encoding="utf-8") as f:
                counts = run(Path(args.input), f, args.chunk_size, geotagger, args.progress)
        else:
            counts = run(Path(args.input), sys.stdout, args.chunk_size, geotagger, args.progress)
    except InputError as err:
        print(f"siaga geotag: {err}", file=sys.stderr)
        return 2
    summary = ", ".join(f"{m} {c}" for m, c in sorted(counts.items()))
    print(f"geotagged {sum(counts.values())} rows: {summary}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("geotag", help="append admin codes to a CSV of id,lon,lat[,place_text]")
    p.add_argument("input", help="CSV with columns id,lon,lat and/or place_text; other columns pass through")
    p.add_argument("-o", "--output", help="output CSV (default: stdout)")
    p.add_argument("--chunk-size", type=int, default=50_000, help="rows per batch (default 50000)")
    p.add_argument("--village-polygons", help="village polygons GeoParquet (default: found automatically)")
    p.add_argument("--no-village-polygons", action="store_true", help="district polygons + village centroids")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help=f"progress bar on stderr (default: on for {PROGRESS_MIN_ROWS}+ rows)")
    p.set_defaults(func=_run)
