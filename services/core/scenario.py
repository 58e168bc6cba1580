"""Synthetic but realistic field-report scenarios with KNOWN ground truth, built on real village centroids.

Why: consolidation is only trustworthy if we can feed it the mess volunteers really produce (resubmits from
offline outboxes, edits, several volunteers per site, late and out-of-order arrivals, place-name-only
reports, broken lines) and check the totals against an answer computed independently of the core.

The truth is built by construction, not by running the core: each true site is (village, hazard, wave),
all its reports lie within ~100 m of the village centroid and within 66 h, and waves of one village and
hazard are 7 days apart, so the 1 km / 72 h rules separate them without ambiguity. A site's expected
figures are those of its most recent report (by observed_at, then report_id) in its latest edit.
Magnitudes are loosely shaped on BNPB DIBI records (West Java floods: median ~365 displaced and ~108
houses flooded per *regency* event, scaled down to a village site; deaths rare and small).
"""

from __future__ import annotations

import csv
import math
import os
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from schemas.common import FIGURE_NAMES, Hazard
from schemas.geo import GeoTag

REPO = Path(__file__).resolve().parents[2]
CENTROIDS = "idn_desa_kel_centroids.csv"
GAZETTEER = "wilayah_2025_gazetteer.csv"
WAVE_GAP = timedelta(days=7)
SITE_SPAN_H = 60.0  # reports of one site are observed within this many hours of its start (+ up to 6 h)
JITTER_M = 100.0


def data_file(name: str) -> Path:
    """The repo's data/ copy when it ships, else the shared data directory."""
    candidates = [REPO / "data" / name]
    if os.environ.get("SIAGA_SHARED_DATA"):
        candidates.append(Path(os.environ["SIAGA_SHARED_DATA"]) / "indonesia" / name)
    candidates += [REPO.parent / "shared" / "data" / "indonesia" / name,
                   Path("/work/shared/data/indonesia") / name]
    for p in candidates:
        if p.exists():
            return p
    raise FileNotFoundError(f"{name} not found in {[str(c) for c in candidates]}")


@dataclass(frozen=True, slots=True)
class Village:
    code: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Preset:
    prefixes: tuple[str, ...]
    hazards: dict[str, float]
    start: datetime
    aliases: dict[str, str] = field(default_factory=dict)  # how volunteers type the hazard, sometimes


PRESETS: dict[str, Preset] = {
    # Palu-Donggala earthquake, tsunami and liquefaction, 28 Sep 2018, 18:02 WITA.
    "palu": Preset(("72.71.", "72.10.", "72.03."), {"earthquake": 0.7, "landslide": 0.15, "tsunami": 0.15},
                   datetime.fromisoformat("2018-09-28T18:02:00+08:00"),
                   {"earthquake": "gempa", "landslide": "longsor"}),
    # Greater Jakarta floods, New Year 2020.
    "jakarta": Preset(("31.",), {"flood": 1.0}, datetime.fromisoformat("2020-01-01T02:00:00+07:00"),
                      {"flood": "banjir"}),
    # Anywhere in Indonesia, mixed hazards: the scale scenario for benchmarks.
    "national": Preset(("",), {"flood": 0.45, "landslide": 0.15, "earthquake": 0.1, "storm": 0.1, "fire": 0.1,
                               "flash_flood": 0.1},
                       datetime.fromisoformat("2024-11-01T00:00:00+07:00"),
                       {"flood": "banjir", "storm": "puting beliung"}),
}

# Which figures assessors fill per hazard, and site-level medians (final assessment).
_FIGS_FULL = FIGURE_NAMES
_FIGS_FLOOD = ("affected", "dead", "injured", "displaced", "houses_damaged")
_FIGS_OTHER = ("affected", "injured", "displaced", "houses_damaged")
_MEDIAN = {"affected": 400.0, "displaced": 120.0, "houses_damaged": 40.0, "injured": 6.0}


def _figure_names(hazard: str) -> tuple[str, ...]:
    if hazard in ("earthquake", "tsunami", "landslide"):
        return _FIGS_FULL
    if hazard in ("flood", "flash_flood"):
        return _FIGS_FLOOD
    return _FIGS_OTHER


def _site_magnitudes(rng: random.Random, hazard: str) -> dict[str, int]:
    severe = hazard in ("earthquake", "tsunami", "landslide", "flash_flood")
    displaced = min(50_000, int(rng.lognormvariate(math.log(_MEDIAN["displaced"]), 1.2)))
    out = {
        "displaced": displaced,
        "affected": displaced + int(rng.lognormvariate(math.log(_MEDIAN["affected"]), 1.0)),
        "houses_damaged": min(20_000, int(rng.lognormvariate(math.log(_MEDIAN["houses_damaged"]), 1.2))),
        "injured": int(rng.expovariate(1 / (15.0 if severe else 2.0))),
        "dead": int(rng.expovariate(1 / 4.0)) if severe else (rng.randint(1, 3) if rng.random() < 0.05
                                                               else 0),
        "missing": int(rng.expovariate(1 / 2.0)) if severe and rng.random() < 0.3 else 0,
    }
    return out


@lru_cache(maxsize=8)
def load_villages(prefixes: tuple[str, ...]) -> tuple[Village, ...]:
    out = []
    with data_file(CENTROIDS).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            code = row["kode"]
            if any(code.startswith(p) for p in prefixes) and row["lat"] and row["lng"]:
                out.append(Village(code, row["nama"].strip(), float(row["lat"]), float(row["lng"])))
    if not out:
        raise ValueError(f"no village centroid under {prefixes}")
    return tuple(out)


@lru_cache(maxsize=1)
def load_names() -> tuple[dict[str, str], dict[str, str]]:
    """(code -> name, village code -> desa|kelurahan) for every admin unit in the gazetteer."""
    names: dict[str, str] = {}
    kind: dict[str, str] = {}
    with data_file(GAZETTEER).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            names[row["kode"]] = row["nama"].strip()
            if row["level"] == "4":
                kind[row["kode"]] = (row.get("jenis") or "desa").strip()
    return names, kind


def village_geotag(code: str, method: str = "village_polygon") -> GeoTag:
    names, _ = load_names()
    parts = code.split(".")
    levels = {f"adm{i}": ".".join(parts[:i]) for i in range(1, 5)}
    kw: dict[str, object] = {"country": "ID", "geotag_method": method}
    for k, c in levels.items():
        kw[k] = c
        kw[f"{k}_name"] = names.get(c)
    return GeoTag(**kw)


def place_text(code: str) -> str:
    """How a volunteer writes a place: 'Desa X, Kec. Y, Kab. Z' / 'Kel. X, Kec. Y, Kota Z'."""
    names, kind = load_names()
    parts = code.split(".")
    regency = names.get(".".join(parts[:2]), "")
    shorter = (("Kabupaten Administrasi ", "Kab. "), ("Kota Administrasi ", "Kota "), ("Kabupaten ", "Kab. "))
    for long, short in shorter:
        if regency.startswith(long):
            regency = short + regency[len(long):]
            break
    prefix = "Kel." if kind.get(code) == "kelurahan" else "Desa"
    return f"{prefix} {names.get(code, '')}, Kec. {names.get('.'.join(parts[:3]), '')}, {regency}"


def _jitter(rng: random.Random, lat: float, lon: float, radius_m: float) -> tuple[float, float]:
    r = radius_m * math.sqrt(rng.random())
    a = rng.random() * 2 * math.pi
    dlat = (r * math.cos(a)) / 111_195.0
    dlon = (r * math.sin(a)) / (111_195.0 * max(0.1, math.cos(math.radians(lat))))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


@dataclass
class Scenario:
    lines: list[str]  # FieldReport JSON lines in arrival order, invalid ones included
    truth: dict
    geotags: dict[str, GeoTag]  # report_id -> the GeoTag the truth assumes (the report's village)


_INVALID = [
    lambda d: "{this is not json",
    lambda d: orjson.dumps({k: v for k, v in d.items() if k != "reporter"}).decode(),
    lambda d: orjson.dumps({**d, "hazard": "meteor"}).decode(),
    lambda d: orjson.dumps({**d, "figures": {"dead": -3}}).decode(),
    lambda d: orjson.dumps({**d, "location": {"lat": 123.0, "lon": 119.9}}).decode(),
    lambda d: orjson.dumps({**{k: v for k, v in d.items() if k not in ("location", "place_text")}}).decode(),
    lambda d: orjson.dumps({**d, "submitted_at": "yesterday"}).decode(),
]


PointCheck = Callable[[str, list[tuple[float, float]]], list[bool]]
PlaceCheck = Callable[[str, str], bool]


def geotagger_checks(tagger: Any) -> tuple[PointCheck, PlaceCheck]:
    """Checks that a geotagger (`services.core.geotag`) puts points and place texts in the intended village.

    Village centroids are not always inside their own polygon, and a point 100 m from the centroid of a
    small Jakarta kelurahan can cross into the next one; with these checks the generator only writes
    points and names the pipeline will tag back to the village the truth counts them in.
    """
    import numpy as np

    def points_ok(code: str, pts: list[tuple[float, float]]) -> list[bool]:
        tags = tagger.tag_points(np.array([p[1] for p in pts]), np.array([p[0] for p in pts]))
        return [t.adm4 == code for t in tags]

    def place_ok(code: str, text: str) -> bool:
        return tagger.tag_place(text).adm4 == code

    return points_ok, place_ok


def generate(seed: int = 1, sites: int = 200, preset: str = "palu", hazards: Sequence[str] | None = None,
             edit_rate: float = 0.1, resubmit_rate: float = 0.08, place_only_rate: float = 0.1,
             invalid_rate: float = 0.005, checks: tuple[PointCheck, PlaceCheck] | None = None) -> Scenario:
    """A scenario of `sites` true sites. `checks` (see `geotagger_checks`) keeps the truth consistent with a
    real geotagger; without it the truth assumes every report lands in the village it was made for."""
    rng = random.Random(seed)
    p = PRESETS[preset]
    villages = load_villages(p.prefixes)
    names, _ = load_names()
    hz = {h: w for h, w in p.hazards.items() if not hazards or h in hazards}
    if not hz:
        hz = {Hazard(h).value: 1.0 for h in hazards or ()}
    hz_names, hz_weights = list(hz), list(hz.values())
    waves: dict[tuple[str, str], int] = {}
    teams: dict[str, list[str]] = {}

    events: list[tuple[float, int, str]] = []  # (arrival ts, tiebreak, line)
    geotags: dict[str, GeoTag] = {}
    truth_sites = []
    seq = 0
    n_edits = n_resubmits = n_place = 0

    def emit(arrival: datetime, line: str) -> None:
        nonlocal seq
        seq += 1
        events.append((arrival.timestamp(), seq, line))

    refused: set[str] = set()

    def pick_village() -> Village:
        for _ in range(50):
            v = villages[rng.randrange(len(villages))]
            if checks is None:
                return v
            if v.code in refused:
                continue
            if checks[0](v.code, [(v.lat, v.lon)])[0] and checks[1](v.code, place_text(v.code)):
                return v
            refused.add(v.code)
        raise ValueError(f"no village of {preset} passes the geotagger checks")

    for _ in range(sites):
        v = pick_village()
        hazard = rng.choices(hz_names, hz_weights)[0]
        wave = waves.get((v.code, hazard), 0)
        waves[(v.code, hazard)] = wave + 1
        regency = ".".join(v.code.split(".")[:2])
        pool = teams.setdefault(regency, [f"vol-{regency.replace('.', '')}-{k:03d}" for k in range(30)])
        n_reports = 1 + min(11, int(rng.expovariate(1 / 2.3)))
        team = rng.sample(pool, k=min(n_reports, rng.randint(1, 4)))
        start = p.start + wave * WAVE_GAP + timedelta(hours=rng.uniform(0, 6))
        mags = _site_magnitudes(rng, hazard)
        fig_names = _figure_names(hazard)
        offsets = sorted(rng.uniform(0, SITE_SPAN_H) for _ in range(n_reports))
        points = [_jitter(rng, v.lat, v.lon, JITTER_M) for _ in range(n_reports)]
        if checks is not None:
            # A point the geotagger puts in another village falls back to the (checked) centroid.
            centroid = (round(v.lat, 6), round(v.lon, 6))
            points = [p if ok else centroid for p, ok in zip(points, checks[0](v.code, points), strict=True)]
        finals: list[tuple[datetime, str, dict]] = []  # (observed_at, report_id, final figures)
        for k, off in enumerate(offsets):
            observed = (start + timedelta(hours=off)).replace(microsecond=0)
            submitted = observed + timedelta(minutes=rng.randint(5, 90))
            growth = 0.5 + 0.5 * (k + 1) / n_reports
            figs = {n: max(0, round(mags[n] * growth * rng.uniform(0.9, 1.1))) for n in fig_names}
            if len(figs) > 2 and rng.random() < 0.1:
                figs.pop(rng.choice(list(figs)))  # assessors leave a figure blank now and then
            rid = _uuid(rng)
            reporter = rng.choice(team)
            body: dict = {
                "schema_version": 1, "report_id": rid,
                "submitted_at": _iso(submitted), "observed_at": _iso(observed),
                "reporter": {"id": reporter, "org": f"PMI {names.get(regency, regency)}"},
                "hazard": p.aliases.get(hazard, hazard) if rng.random() < 0.3 else hazard,
                "figures": figs, "needs": rng.sample(["shelter", "water", "food", "health", "sanitation"],
                                                    k=rng.randint(0, 3)),
                "language": "id",
            }
            if rng.random() < place_only_rate:
                body["place_text"] = place_text(v.code)
                geotags[rid] = village_geotag(v.code, "place_name")
                n_place += 1
            else:
                lat, lon = points[k]
                body["location"] = {"lat": lat, "lon": lon, "accuracy_m": rng.randint(5, 30)}
                geotags[rid] = village_geotag(v.code)
            late = rng.random() < 0.05
            delay = (timedelta(hours=rng.uniform(6, 48)) if late
                     else timedelta(minutes=rng.expovariate(1 / 30)))
            line = orjson.dumps(body).decode()
            emit(submitted + delay, line)
            if rng.random() < resubmit_rate:
                emit(submitted + delay + timedelta(minutes=rng.uniform(1, 720)), line)
                n_resubmits += 1
            final = figs
            if rng.random() < edit_rate:
                n_edits += 1
                edited = dict(figs)
                name = rng.choice(list(fig_names))
                edited[name] = max(0, round((edited.get(name) or mags[name]) * rng.uniform(0.7, 1.3)) + 1)
                edit_body = {**body, "figures": edited, "notes": "koreksi angka",
                             "submitted_at": _iso(submitted + timedelta(minutes=rng.randint(10, 240)))}
                edit_sub = datetime.fromisoformat(edit_body["submitted_at"])
                emit(edit_sub + timedelta(minutes=rng.expovariate(1 / 30)), orjson.dumps(edit_body).decode())
                final = edited
            finals.append((observed, rid, final))
        latest = max(finals, key=lambda t: (t[0].timestamp(), t[1]))
        truth_sites.append({
            "village": v.code, "hazard": hazard, "wave": wave,
            "report_ids": [f[1] for f in finals],
            "reporters": [],  # filled below from the reports actually written
            "figures": latest[2],
        })

    # A team member may never be drawn: count the reporters of the reports actually written.
    used: dict[str, str] = {}
    for _, _, line in events:
        d = orjson.loads(line)
        used[d["report_id"]] = d["reporter"]["id"]
    for s in truth_sites:
        s["reporters"] = sorted({used[r] for r in s["report_ids"]})

    events.sort()
    lines = [e[2] for e in events]
    n_valid = len(lines)
    n_invalid = max(3, round(n_valid * invalid_rate)) if invalid_rate > 0 else 0
    valid = list(lines)
    for i in range(n_invalid):
        base = orjson.loads(valid[rng.randrange(n_valid)])
        base["report_id"] = f"bad-{i}-{_uuid(rng)}"
        lines.insert(rng.randrange(len(lines) + 1), _INVALID[i % len(_INVALID)](base))
    truth = {
        "seed": seed, "preset": preset, "geotagger_checked": checks is not None,
        "sites_expected": len(truth_sites), "lines": len(lines),
        "valid_lines": n_valid, "invalid_lines": n_invalid, "distinct_reports": len(geotags),
        "resubmits": n_resubmits, "edits": n_edits, "place_name_only": n_place,
        "levels": {str(level): area_totals(truth_sites, level) for level in (1, 2, 3, 4)},
        "sites": truth_sites,
    }
    return Scenario(lines=lines, truth=truth, geotags=geotags)


def area_totals(truth_sites: Iterable[dict], level: int) -> list[dict]:
    """Expected per-area totals at `level` from the truth sites: sums of each site's final figures."""
    names, _ = load_names()
    areas: dict[str, dict] = {}
    for s in truth_sites:
        code = ".".join(s["village"].split(".")[:level])
        a = areas.setdefault(code, {"code": code, "name": names.get(code), "sites": 0, "reports": 0,
                                    "reporters": set(), "figures": dict.fromkeys(FIGURE_NAMES)})
        a["sites"] += 1
        a["reports"] += len(s["report_ids"])
        a["reporters"].update(s["reporters"])
        for n, val in s["figures"].items():
            a["figures"][n] = val if a["figures"][n] is None else a["figures"][n] + val
    out = []
    for code in sorted(areas):
        a = areas[code]
        out.append({**a, "reporters": len(a["reporters"])})
    return out
