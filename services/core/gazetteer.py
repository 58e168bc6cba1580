"""Admin units by name and by code, for Indonesia (Kemendagri 2025) and Timor-Leste (OCHA P-codes).

Volunteers without GPS type where they are ("Desa Petobo, Kec. Palu Selatan, Kota Palu"); social-media
geoparsing looks names up too. Village names repeat all over Indonesia (hundreds of "Sukamaju"), so a name
alone is rarely enough: `resolve` uses every level the text gives and, when that still leaves several
places, answers only at the deepest level they all share, and says so.

Codes: Indonesian units use dotted Kemendagri codes (`72`, `72.71`, `72.71.01`, `72.71.01.1001`);
Timor-Leste units use OCHA P-codes (`TL07`, `TL0701`, `TL070101`). `Place.adm1..adm3` hold the unit's own
lineage including itself (a regency's `adm2` is its own code), as in the source gazetteer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from schemas.geo import GeoTag, GeotagMethod
from services.core.shared import Shared

# Admin prefixes people write before names, longest first. Value: (country, level, kind) hint or None.
_PREFIX_HINTS: list[tuple[str, tuple[str | None, int, str | None]]] = [
    ("kota administrasi", ("ID", 2, "kota")),
    ("kota adm", ("ID", 2, "kota")),
    ("kabupaten administrasi", ("ID", 2, "kabupaten")),
    ("kab adm", ("ID", 2, "kabupaten")),
    ("kabupaten", ("ID", 2, "kabupaten")),
    ("kab", ("ID", 2, "kabupaten")),
    ("kota", ("ID", 2, "kota")),
    ("kecamatan", ("ID", 3, None)),
    ("kec", ("ID", 3, None)),
    ("kelurahan", ("ID", 4, None)),
    ("kel", ("ID", 4, None)),
    ("desa", ("ID", 4, None)),
    ("ds", ("ID", 4, None)),
    ("provinsi", ("ID", 1, None)),
    ("propinsi", ("ID", 1, None)),
    ("prov", ("ID", 1, None)),
    ("suco", ("TL", 3, None)),
    ("posto administrativo", ("TL", 2, None)),
    ("postu administrativu", ("TL", 2, None)),
    ("posto", ("TL", 2, None)),
    ("postu", ("TL", 2, None)),
    ("munisipiu", ("TL", 1, None)),
    ("municipio", ("TL", 1, None)),
    ("municipality", ("TL", 1, None)),
]
_PREFIX_RE = re.compile(r"^(" + "|".join(re.escape(p) for p, _ in _PREFIX_HINTS) + r") (.+)$")
_HINT = dict(_PREFIX_HINTS)
# Province styles: "DKI Jakarta", "Daerah Khusus Ibukota Jakarta", "DI Yogyakarta".
_PROVINCE_STYLE_RE = re.compile(
    r"^(?:daerah khusus ibukota|daerah khusus|daerah istimewa|dki|di(?= yogyakarta)) (.+)$")
_TOKEN_EXPANSIONS = {"kep": "kepulauan", "kepl": "kepulauan"}
_KEYWORD_TOKENS = {p.split()[0] for p, _ in _PREFIX_HINTS}
_PART_SPLIT_RE = re.compile(r"[,;|\n/]+|\s+-\s+")
_ALIASES = {  # extra names people use, normalised -> code
    "oecusse": "TL12", "oe cusse": "TL12", "oecusse ambeno": "TL12", "raeoa": "TL12", "ambeno": "TL12",
    "jakarta": "31", "yogyakarta": "34", "jogja": "34", "ntt": "53", "ntb": "52",
}
TL_KIND = {1: "munisipiu", 2: "posto", 3: "suco"}


def _fold(s: str) -> str:
    """Lowercase ASCII words: accents dropped, apostrophes removed, other punctuation to spaces."""
    s = unicodedata.normalize("NFKD", s)
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).lower()
    s = re.sub(r"['`\u2019\u2018]", "", s)
    s = re.sub(r"[^a-z0-9]+", " ", s).strip()
    return " ".join(_TOKEN_EXPANSIONS.get(t, t) for t in s.split())


def _strip_prefixes(s: str) -> tuple[str, tuple[str | None, int, str | None] | None]:
    """Strip admin prefixes repeatedly; return the name and the hint of the first prefix seen.

    Repeatedly, so that "Kec. Kota Baru" and the gazetteer's "Kota Baru" meet on the same key.
    """
    hint = None
    while True:
        m = _PREFIX_RE.match(s) or _PROVINCE_STYLE_RE.match(s)
        if not m:
            return s, hint
        if hint is None and m.re is _PREFIX_RE:
            hint = _HINT[m.group(1)]
        s = m.group(m.lastindex or 1)


def normalise_name(s: str) -> str:
    """The key names are matched on: lowercase, accents/punctuation/space folded, admin prefixes stripped."""
    folded = _fold(s or "")
    return _strip_prefixes(folded)[0] if folded else ""


@dataclass(frozen=True)
class Place:
    """One admin unit. adm1..adm3 are its lineage codes (including itself at its own level)."""

    code: str
    name: str
    level: int
    country: str
    adm1: str | None
    adm2: str | None
    adm3: str | None
    lat: float | None
    lon: float | None
    kind: str | None

    @property
    def lineage(self) -> tuple[str, ...]:
        """Codes from level 1 down to this unit itself."""
        if self.level == 1:
            return (self.code,)
        if self.level == 2:
            return (self.adm1, self.code)  # type: ignore[return-value]
        if self.level == 3:
            return (self.adm1, self.adm2, self.code)  # type: ignore[return-value]
        return (self.adm1, self.adm2, self.adm3, self.code)  # type: ignore[return-value]


@dataclass
class _Part:
    text: str
    key: str
    hint: tuple[str | None, int, str | None] | None
    places: list[Place]


class Gazetteer:
    """Name and code index over every admin unit of both countries."""

    def __init__(self, places: Iterable[Place], crosswalk: dict[str, str | None] | None = None) -> None:
        self.places: dict[str, Place] = {p.code: p for p in places}
        self._crosswalk = crosswalk or {}
        # Keyed without spaces: Indonesian names are written both ways (Setiabudi / Setia Budi).
        self._by_name: dict[str, list[str]] = {}
        for p in self.places.values():
            self._add_name(normalise_name(p.name), p.code)
        for alias, code in _ALIASES.items():
            if code in self.places:
                self._add_name(alias, code)

    def _add_name(self, key: str, code: str) -> None:
        codes = self._by_name.setdefault(key.replace(" ", ""), [])
        if code not in codes:
            codes.append(code)

    @classmethod
    def load(cls, base: Path | None = None) -> Gazetteer:
        from services.core import admin_data

        places = list(_indonesia_places(base)) + list(_timor_leste_places(base))
        table = admin_data.read_crosswalk(base)
        crosswalk = {h: (k or None) for h, k in zip(table["hdx_pcode"], table["kemendagri"], strict=True)}
        return cls(places, crosswalk)

    # ------------------------------------------------------------------ lookups
    def lookup(self, normalised_name: str) -> list[Place]:
        """Every unit with this normalised name (any level, either country); spaces are forgiven."""
        key = "".join(normalised_name.lower().split())
        return [self.places[c] for c in self._by_name.get(key, [])]

    def canonical_code(self, code: str) -> str | None:
        """The code as stored here (dotted Kemendagri or upper-case P-code), or None if unknown."""
        c = code.strip()
        c = c.upper() if c[:2].isalpha() else c
        return c if c in self.places else None

    @lru_cache(maxsize=200_000)  # noqa: B019 - the gazetteer lives for the process
    def tag_fields(self, code: str) -> dict[str, Any]:
        """GeoTag fields (country, adm1..adm4 codes and names) for one unit's code. Cached: hot path."""
        place = self.places[code]
        fields: dict[str, Any] = {"country": place.country}
        for level, c in enumerate(place.lineage, start=1):
            fields[f"adm{level}"] = c
            fields[f"adm{level}_name"] = self.places[c].name if c in self.places else None
        for level in range(len(place.lineage) + 1, 5):
            fields[f"adm{level}"] = None
            fields[f"adm{level}_name"] = None
        return fields

    def geotag_for(self, code: str, method: GeotagMethod = "place_name", **extra: Any) -> GeoTag:
        """A GeoTag with every level's code and name filled from one unit's code (any level)."""
        canonical = self.canonical_code(code) if code else None
        if canonical is None:
            return GeoTag(geotag_method="none", reason=f"unknown admin code {code!r}")
        return GeoTag(**self.tag_fields(canonical), geotag_method=method, **extra)

    def to_kemendagri(self, code: str) -> str | None:
        """An area code as Siaga stores it: HDX P-codes (`ID` + BPS code) mapped, others checked.

        BPS and Kemendagri numbers differ beyond the province in many places (BPS 3171 is Jakarta Selatan,
        Kemendagri 31.71 Jakarta Pusat), and old Papua / Papua Barat were split after the crosswalk was made,
        so HDX codes go through the derived crosswalk and get None where no single 2025 unit matches.
        Kemendagri codes (dotted, or a bare 2-digit province) and Timor-Leste P-codes pass through when known.
        A bare undotted code of 4+ digits is refused (None): it could be BPS or Kemendagri.
        """
        c = (code or "").strip()
        if re.fullmatch(r"(?i)ID\d{2,7}", c):
            return self._crosswalk.get("ID" + c[2:])
        if re.fullmatch(r"\d{4,}", c):
            return None
        return self.canonical_code(c) if c else None

    # ------------------------------------------------------------------ free text
    def resolve(self, place_text: str) -> GeoTag:
        """Geotag structured place text ("Desa X, Kec. Y, Kab. Z"): the deepest level the text pins down."""
        parts = [p for p in (self._part(t) for t in _split_parts(place_text or "")) if p.key]
        if not parts:
            return GeoTag(geotag_method="none", reason="no place name given")
        known = [p for p in parts if p.places]
        unknown = [p.text for p in parts if not p.places and not re.search(r"\d", p.text)]
        if not known:
            return GeoTag(geotag_method="none", reason=f"place not found: {_quote(unknown or [place_text])}")

        code_sets = [{pl.code for pl in p.places} for p in known]
        anchors = {pl.code: pl for p in known for pl in p.places}
        scores = {c: sum(1 for s in code_sets if s.intersection(a.lineage)) for c, a in anchors.items()}
        best = max(scores.values())
        tops = [anchors[c] for c, s in scores.items() if s == best]
        notes = []
        if unknown:
            notes.append(f"not found: {_quote(unknown)}")
        if best < len(known):
            outliers = [p.text for p, s in zip(known, code_sets, strict=True)
                        if not any(s.intersection(a.lineage) for a in tops)]
            notes.append(f"does not fit the rest: {_quote(outliers)}")
        flags = ["partial"] if notes else []

        common = _common_lineage([t.lineage for t in tops])
        if len(tops) == 1 or (common and common[-1] in {t.code for t in tops}):
            # One answer, or nested readings of one name (municipality/post/suco "Ainaro"): the outer unit.
            return self.geotag_for(common[-1], flags=flags, reason="; ".join(notes) or None)
        listing = ", ".join(f"{t.name} ({t.code})" for t in sorted(tops, key=lambda t: t.code)[:5])
        more = f" and {len(tops) - 5} more" if len(tops) > 5 else ""
        flags.append("ambiguous")
        if not common:
            countries = {t.country for t in tops}
            notes.insert(0, f"{len(tops)} places match: {listing}{more}")
            country = next(iter(countries)) if len(countries) == 1 else None
            return GeoTag(country=country, geotag_method="none",
                          flags=flags, reason="; ".join(notes))
        unit = self.places[common[-1]]
        notes.insert(0, f"{len(tops)} places match: {listing}{more}; resolved to the level they share, "
                        f"{unit.name} ({unit.code})")
        return self.geotag_for(unit.code, flags=flags, reason="; ".join(notes))

    def _part(self, text: str) -> _Part:
        key, hint = _strip_prefixes(_fold(text))
        places = self.lookup(key) if key else []
        if hint and places:
            country, level, kind = hint
            hinted = [p for p in places
                      if p.country == country and p.level == level and (not kind or p.kind == kind)]
            places = hinted or places  # a wrong hint ("Kota Dili") must not lose the name
        return _Part(text.strip(), key, hint, places)


def _split_parts(text: str) -> list[str]:
    """Split on separators; a chunk without any that holds several admin keywords is split before each."""
    chunks = [c.strip() for c in _PART_SPLIT_RE.split(text) if c.strip()]
    out: list[str] = []
    for chunk in chunks:
        tokens = chunk.split()
        folded = [_fold(t) for t in tokens]
        if sum(f in _KEYWORD_TOKENS for f in folded) < 2:
            out.append(chunk)
            continue
        current: list[str] = []
        for i, (tok, f) in enumerate(zip(tokens, folded, strict=True)):
            after_keyword = i > 0 and folded[i - 1] in _KEYWORD_TOKENS
            if f in _KEYWORD_TOKENS and current and not after_keyword:
                out.append(" ".join(current))
                current = []
            current.append(tok)
        out.append(" ".join(current))
    return out


def _common_lineage(lineages: list[tuple[str, ...]]) -> tuple[str, ...]:
    common: list[str] = []
    for codes in zip(*lineages, strict=False):
        if len(set(codes)) != 1:
            break
        common.append(codes[0])
    return tuple(common)


def _quote(texts: list[str]) -> str:
    return ", ".join(f"'{t}'" for t in texts)


def _indonesia_places(base: Path | None) -> Iterable[Place]:
    from services.core import admin_data

    gaz = admin_data.read_gazetteer(base)
    points: dict[str, tuple[float, float]] = {}
    for layer in ("prov", "kab", "kec"):
        attrs = admin_data.read_admin_attributes(layer, base)
        points.update(zip(attrs["kode"], zip(attrs["lat"], attrs["lng"], strict=True), strict=True))
    cent = admin_data.read_village_centroids(base)
    points.update(zip(cent["kode"], zip(cent["lat"], cent["lng"], strict=True), strict=True))
    for code, nama, level, prov, kab, kec, jenis in zip(
        gaz["kode"], gaz["nama"], gaz["level"], gaz["kode_prov"], gaz["kode_kab"], gaz["kode_kec"],
        gaz["jenis"],
        strict=True,
    ):
        lat, lon = points.get(code, (None, None))
        yield Place(code, nama.strip(), int(level), "ID", prov or None, kab or None, kec or None,
                    None if lat is None else float(lat), None if lon is None else float(lon), jenis or None)


def _timor_leste_places(base: Path | None) -> Iterable[Place]:
    """Sucos from the gazetteer; posts and municipalities from their sucos (point: mean of suco points)."""
    from services.core import admin_data

    tl = admin_data.read_tl_gazetteer(base)
    for level, code_col, name_col in ((1, "ADM1_PCODE", "ADM1_EN"), (2, "ADM2_PCODE", "ADM2_EN"),
                                      (3, "ADM3_PCODE", "ADM3_EN")):
        grouped = tl.groupby([code_col, name_col], sort=True)[["lat", "lon"]].mean().reset_index()
        for code, name, lat, lon in grouped.itertuples(index=False):
            yield Place(code, name.strip(), level, "TL", code[:4], code[:6] if level >= 2 else None,
                        code if level == 3 else None, float(lat), float(lon), TL_KIND[level])


_shared: Shared[Gazetteer] = Shared(lambda: Gazetteer.load())


def get_gazetteer() -> Gazetteer:
    """The process-wide gazetteer, loaded on first use (about a second)."""
    return _shared.get()
