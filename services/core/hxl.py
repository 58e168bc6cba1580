"""Site exports as CSV with an HXL hashtag row (https://hxlstandard.org), and as flat property dicts.

Row 1: column names; row 2: HXL hashtags; then one row per site, in the order given. Works on Sites that have
already been through the caller's personal-data view: the contact columns are only written when the caller
may see personal data (`personal=True`), and then hold what the site carries.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from schemas.common import FIGURE_NAMES
from schemas.site import Site

_FIGURE_TAGS = {
    "affected": "#affected",
    "dead": "#affected+killed",
    "injured": "#affected+injured",
    "missing": "#affected+missing",
    "displaced": "#affected+displaced",
    "houses_damaged": "#affected+houses+damaged",
}

COLUMNS: list[tuple[str, str]] = [
    ("site_id", "#meta+id"),
    ("hazard", "#event+type"),
    ("status", "#status"),
    ("country", "#country+code"),
    *[(f"adm{i}_{part}", f"#adm{i}+{part}") for i in range(1, 5) for part in ("code", "name")],
    ("lat", "#geo+lat"),
    ("lon", "#geo+lon"),
    *[(name, tag) for name, tag in _FIGURE_TAGS.items()],
    *[(f"{name}_min", f"{tag}+min") for name, tag in _FIGURE_TAGS.items()],
    *[(f"{name}_max", f"{tag}+max") for name, tag in _FIGURE_TAGS.items()],
    ("needs", "#sector+list"),
    ("reports", "#meta+reports"),
    ("reporters", "#meta+reporters"),
    ("mentions", "#meta+mentions"),
    ("orgs", "#org+list"),
    ("first_seen", "#date+start"),
    ("last_seen", "#date+reported"),
    ("updated_at", "#date+updated"),
    ("reviewed_at", "#date+reviewed"),
    ("figures_version", "#meta+version"),
]
PERSONAL_COLUMNS: list[tuple[str, str]] = [
    ("reviewed_by", "#contact+reviewer"),
    ("reporter_names", "#contact+name+list"),
    ("reporter_phones", "#contact+phone+list"),
]


def columns(personal: bool) -> list[tuple[str, str]]:
    return COLUMNS + (PERSONAL_COLUMNS if personal else [])


def _iso(t) -> str | None:  # noqa: ANN001
    return t.isoformat() if t is not None else None


def site_record(site: Site, personal: bool = False) -> dict[str, object]:
    """A site as one flat record (column name -> value); None for unknown."""
    g = site.geo
    rec: dict[str, object] = {
        "site_id": site.site_id, "hazard": site.hazard.value, "status": site.status, "country": g.country,
    }
    for i in range(1, 5):
        rec[f"adm{i}_code"] = g.code(i)
        rec[f"adm{i}_name"] = g.name(i)
    rec["lat"], rec["lon"] = site.lat, site.lon
    for name in FIGURE_NAMES:
        rec[name] = getattr(site.figures, name)
    for name in FIGURE_NAMES:
        rec[f"{name}_min"] = getattr(site.figures_min, name)
    for name in FIGURE_NAMES:
        rec[f"{name}_max"] = getattr(site.figures_max, name)
    last = site.reviews[-1] if site.reviews else None
    rec.update({
        "needs": "|".join(n.value for n in site.needs) or None,
        "reports": site.reports, "reporters": site.reporters,
        "mentions": max(site.mention_count, len(site.mentions)),
        "orgs": "|".join(sorted({r.reporter.org for r in site.timeline if r.reporter.org})) or None,
        "first_seen": _iso(site.first_seen), "last_seen": _iso(site.last_seen),
        "updated_at": _iso(site.updated_at), "reviewed_at": _iso(last.decided_at) if last else None,
        "figures_version": site.figures_version,
    })
    if personal:
        rec["reviewed_by"] = last.reviewer if last else None
        rec["reporter_names"] = "|".join(dict.fromkeys(r.reporter.name for r in site.timeline
                                                       if r.reporter.name)) or None
        rec["reporter_phones"] = "|".join(dict.fromkeys(r.reporter.phone for r in site.timeline
                                                        if r.reporter.phone)) or None
    return rec


def _cell(v: object) -> object:
    if v is None:
        return ""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v  # a spreadsheet must never run a cell as a formula
    return v


def csv_chunks(sites: Iterable[Site], personal: bool = False, rows_per_chunk: int = 500) -> Iterator[str]:
    """The CSV text in chunks (for streaming): header, HXL hashtag row, one row per site."""
    cols = columns(personal)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([c for c, _ in cols])
    w.writerow([t for _, t in cols])
    for n, site in enumerate(sites, start=1):
        rec = site_record(site, personal)
        w.writerow([_cell(rec.get(c)) for c, _ in cols])
        if n % rows_per_chunk == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
