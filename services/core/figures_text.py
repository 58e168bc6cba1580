"""Verified figures and their ready-to-post sentences in Bahasa Indonesia and English.

Pure: the caller selects the verified sites (only status "verified": never an unverified number) and names
the place; this module sums, says how many sites and reports stand behind each figure, picks the local time
zone and writes the text.

Time zones (checked against the 38 provinces of the Kemendagri 2025 gazetteer):
WIB (UTC+7) 11-19, 21, 31-36, 61, 62 · WITA (UTC+8) 51-53, 63-65, 71-76 · WIT (UTC+9) 81, 82, 91-96 ·
Timor-Leste (TL P-codes) UTC+9, "waktu Timor-Leste" / TLT. Without an area the zone shared by every site
counted is used; when they span several zones, WIB (the national reference BNPB uses).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from schemas.common import FIGURE_NAMES
from services.core.aggregate import SiteRow


@dataclass(frozen=True)
class Zone:
    abbr: str
    hours: int
    label_id: str
    label_en: str

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(hours=self.hours), self.abbr)

    @property
    def utc_offset(self) -> str:
        return f"+{self.hours:02d}:00"


WIB = Zone("WIB", 7, "WIB", "WIB (UTC+7)")
WITA = Zone("WITA", 8, "WITA", "WITA (UTC+8)")
WIT = Zone("WIT", 9, "WIT", "WIT (UTC+9)")
TLT = Zone("TLT", 9, "waktu Timor-Leste (UTC+9)", "Timor-Leste time (TLT, UTC+9)")
ZONES = {z.abbr: z for z in (WIB, WITA, WIT, TLT)}

_PROVINCE_ZONE: dict[str, Zone] = {
    **{p: WIB for p in ("11", "12", "13", "14", "15", "16", "17", "18", "19", "21", "31", "32", "33", "34", "35",
                        "36", "61", "62")},
    **{p: WITA for p in ("51", "52", "53", "63", "64", "65", "71", "72", "73", "74", "75", "76")},
    **{p: WIT for p in ("81", "82", "91", "92", "93", "94", "95", "96")},
}

BULAN = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
         "November", "Desember")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")

HAZARD_ID = {"flood": "banjir", "flash_flood": "banjir bandang", "landslide": "tanah longsor",
             "earthquake": "gempa bumi", "tsunami": "tsunami", "volcano": "erupsi gunung api",
             "fire": "kebakaran", "storm": "cuaca ekstrem", "drought": "kekeringan", "other": "bencana"}
HAZARD_EN = {"flood": "flood", "flash_flood": "flash flood", "landslide": "landslide", "earthquake": "earthquake",
             "tsunami": "tsunami", "volcano": "volcanic eruption", "fire": "fire", "storm": "storm",
             "drought": "drought", "other": "disaster"}

# (Indonesian, English) phrases per figure; {n} is the formatted number.
PHRASES = {
    "affected": ("{n} jiwa terdampak", "{n} people affected"),
    "dead": ("{n} orang meninggal dunia", "{n} dead"),
    "injured": ("{n} orang luka-luka", "{n} injured"),
    "missing": ("{n} orang hilang", "{n} missing"),
    "displaced": ("{n} orang mengungsi", "{n} displaced"),
    "houses_damaged": ("{n} rumah rusak", "{n} houses damaged"),
}


def zone_for_code(code: str | None) -> Zone | None:
    """The local time zone of an admin code of any level; None when unknown."""
    if not code:
        return None
    if code.upper().startswith("TL"):
        return TLT
    return _PROVINCE_ZONE.get(code[:2])


def choose_zone(area_code: str | None, rows: Sequence[SiteRow]) -> Zone:
    z = zone_for_code(area_code)
    if z is not None:
        return z
    zones = {zone_for_code(r.codes[0]) for r in rows} - {None}
    return zones.pop() if len(zones) == 1 else WIB


def fmt_id(n: int) -> str:
    """1234567 -> '1.234.567' (Indonesian thousands separator)."""
    return f"{n:,}".replace(",", ".")


def fmt_en(n: int) -> str:
    return f"{n:,}"


def _join(items: list[str], word: str, serial_comma: bool) -> str:
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} {word} {items[1]}"
    return ", ".join(items[:-1]) + ("," if serial_comma else "") + f" {word} {items[-1]}"


def when_id(t: datetime, zone: Zone) -> str:
    lt = t.astimezone(zone.tz)
    return f"{lt.day} {BULAN[lt.month - 1]} {lt.year} pukul {lt.hour:02d}.{lt.minute:02d} {zone.label_id}"


def when_en(t: datetime, zone: Zone) -> str:
    lt = t.astimezone(zone.tz)
    return f"{lt.day} {MONTHS[lt.month - 1]} {lt.year}, {lt.hour:02d}:{lt.minute:02d} {zone.label_en}"


@dataclass(frozen=True)
class FigureSource:
    value: int | None
    sites: int
    reports: int


def figure_sources(rows: Sequence[SiteRow]) -> dict[str, FigureSource]:
    """Per figure: the sum over the sites that give it, how many sites do and the reports behind them."""
    out: dict[str, FigureSource] = {}
    for i, name in enumerate(FIGURE_NAMES):
        value = sites = reports = 0
        for r in rows:
            v = r.figures[i]
            if v is not None:
                value += v
                sites += 1
                reports += r.reports
        out[name] = FigureSource(value if sites else None, sites, reports)
    return out


def _hazard_words(hazards: Iterable[str]) -> tuple[str, str]:
    hs = sorted(set(hazards))
    if not hs:
        return "bencana", "disaster"
    if len(hs) > 3:
        return "berbagai bencana", "multiple hazards"
    return _join([HAZARD_ID[h] for h in hs], "dan", False), _join([HAZARD_EN[h] for h in hs], "and", False)


def _place_default(rows: Sequence[SiteRow]) -> tuple[str, str]:
    countries = {"TL" if (r.codes[0] or "").startswith("TL") else "ID" for r in rows}
    if countries == {"TL"}:
        return "Timor-Leste", "Timor-Leste"
    if countries == {"ID", "TL"}:
        return "Indonesia dan Timor-Leste", "Indonesia and Timor-Leste"
    return "Indonesia", "Indonesia"


def _orgs(rows: Sequence[SiteRow], area_code: str | None) -> tuple[str, str]:
    if area_code:
        c = {"CVTL" if area_code.upper().startswith("TL") else "PMI"}
    else:
        c = {"CVTL" if (r.codes[0] or "").startswith("TL") else "PMI" for r in rows} or {"PMI"}
    names = sorted(c, key=lambda x: x != "PMI")
    return _join(names, "dan", False), _join(names, "and", False)


def _plural(n: int, one: str, many: str) -> str:
    return f"{fmt_en(n)} {one if n == 1 else many}"


def texts(rows: Sequence[SiteRow], sources: dict[str, FigureSource], as_of: datetime, zone: Zone,
          place: str | None, hazard: str | None, area_code: str | None = None) -> tuple[str, str]:
    """(Bahasa Indonesia, English) sentences over the verified sites `rows`."""
    hz_id, hz_en = _hazard_words([hazard] if hazard else [r.hazard for r in rows])
    where_id, where_en = (place, place) if place else _place_default(rows)
    org_id, org_en = _orgs(rows, area_code)
    parts_id = [PHRASES[n][0].format(n=fmt_id(s.value)) for n, s in sources.items() if s.value is not None]
    parts_en = [PHRASES[n][1].format(n=fmt_en(s.value)) for n, s in sources.items() if s.value is not None]
    if not rows or not parts_id:
        return (f"Per {when_id(as_of, zone)}, belum ada angka terverifikasi untuk {hz_id} di {where_id}.",
                f"As of {when_en(as_of, zone)}, there are no verified figures yet for {hz_en} in {where_en}.")
    sites = len(rows)
    reports = sum(r.reports for r in rows)
    text_id = (f"Per {when_id(as_of, zone)}, {hz_id} di {where_id}: {_join(parts_id, 'dan', True)}. "
               f"Sumber: {fmt_id(reports)} laporan kaji cepat terverifikasi dari {fmt_id(sites)} lokasi ({org_id}).")
    text_en = (f"As of {when_en(as_of, zone)}, {hz_en} in {where_en}: {_join(parts_en, 'and', False)}. "
               f"Source: {_plural(reports, 'verified rapid-assessment report', 'verified rapid-assessment reports')}"
               f" from {_plural(sites, 'site', 'sites')} ({org_en}).")
    return text_id, text_en
