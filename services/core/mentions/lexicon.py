"""Language guess (id / en / tet) and hazard detection from a multilingual lexicon.

The hazard lexicon starts from `schemas.common.HAZARD_ALIASES` (what volunteers type in the app) and adds
the words people use on social media: inflected forms (kebanjiran, tergenang), English, and Tetum. Matching
is multiword and longest-first, so "banjir bandang" is a flash flood, not a flood, and "gunung meletus" is one
volcano mention, not two.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.common import HAZARD_ALIASES, Hazard
from services.core.mentions.wordlists import STOPWORDS

# Social-media additions. Keys are normalised (lower-case, single spaces, hyphens as spaces).
_EXTRA: dict[str, Hazard] = {
    # Bahasa Indonesia
    "kebanjiran": Hazard.flood, "kebanjiran lagi": Hazard.flood, "tergenang": Hazard.flood,
    "terendam": Hazard.flood, "terendam banjir": Hazard.flood, "banjir kiriman": Hazard.flood,
    "banjir rob": Hazard.flood, "air pasang": Hazard.flood, "luapan": Hazard.flood, "meluap": Hazard.flood,
    "genangan air": Hazard.flood, "banjir lahar": Hazard.volcano, "banjir lahar dingin": Hazard.volcano,
    "lahar dingin": Hazard.volcano, "banjir bandang": Hazard.flash_flood,
    "tanah longsor": Hazard.landslide, "longsoran": Hazard.landslide, "tanah bergerak": Hazard.landslide,
    "gempa bumi": Hazard.earthquake, "gempa susulan": Hazard.earthquake, "lindu": Hazard.earthquake,
    "guncangan gempa": Hazard.earthquake, "megathrust": Hazard.earthquake,
    "gunung meletus": Hazard.volcano, "gunung api": Hazard.volcano, "gunungapi": Hazard.volcano,
    "gunung berapi": Hazard.volcano, "vulkanik": Hazard.volcano, "hujan abu": Hazard.volcano,
    "guguran lava": Hazard.volcano, "lava pijar": Hazard.volcano, "piroklastik": Hazard.volcano,
    "wedus gembel": Hazard.volcano, "wedhus gembel": Hazard.volcano, "kawah": Hazard.volcano,
    "kebakaran lahan": Hazard.fire, "kebakaran hutan dan lahan": Hazard.fire, "terbakar": Hazard.fire,
    "angin puting beliung": Hazard.storm, "angin ribut": Hazard.storm, "badai tropis": Hazard.storm,
    "kemarau panjang": Hazard.drought, "krisis air bersih": Hazard.drought,
    # English
    "flood": Hazard.flood, "floods": Hazard.flood, "flooding": Hazard.flood, "flooded": Hazard.flood,
    "landslide": Hazard.landslide, "landslides": Hazard.landslide, "mudslide": Hazard.landslide,
    "earthquake": Hazard.earthquake, "quake": Hazard.earthquake, "tremor": Hazard.earthquake,
    "volcano": Hazard.volcano, "erupted": Hazard.volcano, "erupts": Hazard.volcano,
    "ash cloud": Hazard.volcano,
    "volcanic ash": Hazard.volcano, "pyroclastic": Hazard.volcano,
    "forest fire": Hazard.fire, "bushfire": Hazard.fire, "fire": Hazard.fire,
    "storm": Hazard.storm, "tornado": Hazard.storm, "typhoon": Hazard.storm, "strong wind": Hazard.storm,
    "drought": Hazard.drought,
    # Tetum (and Portuguese loans). Only forms we are sure of; a CVTL volunteer should review and extend.
    "be sa'e": Hazard.flood, "be sae": Hazard.flood, "inundasaun": Hazard.flood,
    "rai halai": Hazard.landslide, "rai nakdoko": Hazard.earthquake, "terremotu": Hazard.earthquake,
    "ahi han": Hazard.fire, "insendiu": Hazard.fire, "anin boot": Hazard.storm, "rai maran": Hazard.drought,
}
# Aliases in the app's list that are ordinary words in a post ("lainnya" = "others").
_NOT_IN_POSTS = frozenset({"lainnya"})


def _key(s: str) -> str:
    return " ".join(s.lower().replace("-", " ").replace("_", " ").split())


HAZARD_TERMS: dict[str, Hazard] = {
    _key(k): v for k, v in {**HAZARD_ALIASES, **_EXTRA}.items() if k not in _NOT_IN_POSTS
}
# Every word-prefix of a multiword term ("banjir", "banjir lahar"), so matching grows only while it can match.
_PREFIXES = frozenset(" ".join(k.split()[:m]) for k in HAZARD_TERMS for m in range(1, len(k.split()) + 1)
                      if len(k.split()) > 1)
_SUFFIXES = ("nya", "lah", "kah")  # "banjirnya", "gempanya"

# What the live clients ask the platforms for (services.ingest.live.queries): per hazard, the words people in Indonesia
# and Timor-Leste post, in Bahasa Indonesia and Tetum. English is left out on purpose: "fire" or "storm" would
# pull the whole world's posts through the X quota. Every seed is a lexicon term of its hazard
# (tests/test_mentions_text.py), so what is searched for is always something enrich then recognises.
SEARCH_SEEDS: dict[Hazard, tuple[str, ...]] = {
    Hazard.flood: ("banjir", "inundasaun"),
    Hazard.flash_flood: ("banjir bandang",),
    Hazard.landslide: ("longsor", "rai halai"),
    Hazard.earthquake: ("gempa", "gempabumi", "rai nakdoko"),
    Hazard.tsunami: ("tsunami",),
    Hazard.volcano: ("erupsi", "gunung meletus"),
    Hazard.fire: ("kebakaran", "karhutla"),
    Hazard.storm: ("puting beliung", "angin kencang"),
    Hazard.drought: ("kekeringan",),
}
@dataclass(frozen=True, slots=True)
class HazardHit:
    hazard: Hazard
    term: str
    start: int  # token index
    end: int  # exclusive


def find_hazards(words: Sequence[str]) -> list[HazardHit]:
    """All lexicon terms in the words, longest match first, non-overlapping, left to right."""
    hits: list[HazardHit] = []
    i, n = 0, len(words)
    terms, prefixes = HAZARD_TERMS, _PREFIXES
    while i < n:
        w = words[i]
        hz = terms.get(w)
        if hz is None and len(w) > 6 and w.endswith(_SUFFIXES):
            hz = terms.get(w[:-3])
        found = HazardHit(hz, w, i, i + 1) if hz is not None else None
        key, k = w, 1
        while w in prefixes and i + k < n:
            nxt = f"{key} {words[i + k]}"
            if nxt not in prefixes:
                break
            key, k = nxt, k + 1
            hz = terms.get(key)
            if hz is not None:
                found = HazardHit(hz, key, i, i + k)
        if found is not None:
            hits.append(found)
            i = found.end
        else:
            i += 1
    return hits


def primary_hazard(hits: Sequence[HazardHit]) -> Hazard | None:
    """The most-mentioned hazard; ties go to the first mentioned (headlines lead with the event)."""
    if not hits:
        return None
    counts = Counter(h.hazard for h in hits)
    top = max(counts.values())
    return next(h.hazard for h in hits if counts[h.hazard] == top)


def detect_hazard(words: Sequence[str]) -> Hazard | None:
    return primary_hazard(find_hazards(words))


_HINT_CODES = {"in": "id", "ind": "id", "eng": "en", "tdt": "tet"}  # X tags Indonesian "in"
_LANGS = tuple(STOPWORDS)
# word -> the languages it votes for: one dict lookup per word instead of one set lookup per language
_VOTES: dict[str, tuple[int, ...]] = {}
for _i, _lang in enumerate(_LANGS):
    for _w in STOPWORDS[_lang]:
        _VOTES[_w] = (*_VOTES.get(_w, ()), _i)


def guess_language(words: Sequence[str], hint: str | None = None) -> str | None:
    """'id', 'en' or 'tet' by stopword votes; the platform's own tag breaks ties; None when no evidence.

    Platforms tag Tetum as Indonesian or Portuguese (or not at all), so the hint never overrides the votes."""
    hint = _HINT_CODES.get(hint, hint) if hint else None
    votes = [0] * len(_LANGS)
    get = _VOTES.get
    for w in words:
        langs = get(w)
        if langs is not None:
            for k in langs:
                votes[k] += 1
    best = max(votes)
    if best == 0:
        return hint if hint in STOPWORDS else None
    leaders = [lang for lang, v in zip(_LANGS, votes, strict=True) if v == best]
    if len(leaders) == 1:
        return leaders[0]
    return hint if hint in leaders else leaders[0]
