"""Geoparse a post: find admin-unit and volcano names in its words and resolve them to one GeoTag.

Built on the shared gazetteer (`services.core.gazetteer`), never a second loader: this module only indexes
its names the way `normalise.tokenize` writes words, so both sides of a match are normalised alike.

Why so careful: thousands of Indonesian villages are called by ordinary words (Baru, Indah, Harapan, Kapuk),
so a name counts only with evidence that it is a name: a cue word before it (di, desa, kel., kec., kab.,
gunung, iha, lurah), capitals in the original, a hashtag, several words, or a co-mentioned place it lies in.
Traps that count only when a co-mention supports them: a street's whole name, from "jalan"/"gang"/"terusan"
up to the next punctuation or number (Jl. Raya Bekasi and Jl. Jend. Sudirman are streets in Jakarta);
origins and destinations ("banjir kiriman dari Bogor", "arah Pondok Indah"); villages named with ordinary
words only (Sumber Daya, Pulo Harapan). A name repeated is one witness, not two. After a local feature
("fly over", "stasiun", "perempatan") a name is a neighbourhood, not the regency of that name. City
landmarks (Kalimalang, Sunter; `landmarks.py`) know which regencies they span. Ambiguous names are resolved by
co-mentioned places and the post's own point; what stays ambiguous is answered at the lowest level the
candidates share, or not at all. Nothing named, no answer; and an answer under `MIN_CONFIDENCE` is withheld
(flag "weak"): enrichment, the stream and `siaga geoparse` all go through `Geoparser.parse`, so the threshold
holds everywhere. Measured on real reports by `bench/eval_mentions.py` (text only, the point withheld).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from schemas.geo import GeoTag
from services.core.mentions.landmarks import CITY_LANDMARKS, VOLCANOES
from services.core.mentions.lexicon import HAZARD_TERMS
from services.core.mentions.normalise import Tokens, fold_accents
from services.core.mentions.wordlists import COMMON_ID, STOPWORDS
from services.core.shared import Shared

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_NAME_ABBR = {"kec": "kecamatan", "kab": "kabupaten", "kel": "kelurahan", "ds": "desa", "kp": "kampung",
              "gn": "gunung", "dsn": "dusun"}
_PREFIXES = ("kabupaten administrasi ", "kota administrasi ", "kabupaten ", "kota ", "daerah khusus ibukota ",
             "daerah istimewa ", "provinsi ", "munisipiu ", "municipality ", "postu administrativu ")
_DIRECTIONAL = frozenset("utara selatan timur barat tengah ilir hilir ulu hulu".split())
# Words before a name and the admin level they announce (kelurahan vs desa also tells urban from rural).
_TYPE_CUES: dict[str, tuple[int, str | None]] = {
    "kelurahan": (4, "kelurahan"), "desa": (4, "desa"), "kecamatan": (3, None), "kabupaten": (2, "kabupaten"),
    "kota": (2, "kota"), "provinsi": (1, None), "suco": (3, None), "postu": (2, None), "munisipiu": (1, None),
    # "Pak Lurah Rorotan", "camat Cilincing": the head of a kelurahan / district names it
    "lurah": (4, "kelurahan"), "camat": (3, None),
}
_WEAK_CUES = frozenset("""di ke daerah wilayah kawasan sekitar area dekat seputar lokasi
    warga dusun kampung iha in at near around""".split())
# Origin and destination: "banjir kiriman dari Bogor" floods Jakarta, "tol JORR arah Pondok Indah" is on
# the way there. Names after these count only with a co-mention of where the post is.
_DIRECTION_CUES = frozenset("""dari arah menuju hosi husi from towards""".split())
# "terusan" (continuation) only ever starts a street name: "Jl. Sunter 2 - Terusan Sindang" is in Koja.
_STREET_CUES = frozenset({"jalan", "gang", "jl", "jln", "gg", "tol", "terusan"})
_STREET_RUN = 4  # a street's name runs at most this many words after its cue, and stops at punctuation
# Local features: a name after them is a neighbourhood, not the regency of the same name ("fly over Kuningan"
# is in Jakarta Selatan, not Kabupaten Kuningan; "Stasiun Bekasi" is in Kota Bekasi).
_LOCAL_CUES = frozenset("""flyover underpass perempatan pertigaan simpang bundaran halte stasiun terminal
    jembatan terowongan""".split())
# Housing estates and rivers are often named after places elsewhere (Perumahan Kembangan Baru, Kali Sumur).
_ESTATE_CUES = frozenset({"perumahan", "komplek", "kompleks", "blok", "griya", "cluster", "residence",
                          "apartemen"})
_RIVER_WORDS = frozenset({"kali", "sungai", "kanal"})
_NOT_PLACE_CUES = _STREET_CUES | _ESTATE_CUES | _RIVER_WORDS
# Place names that are also ordinary words; besides COMMON_ID and the stopword lists.
_STOP_EXTRA = frozenset("""baru jaya indah makmur sari mulya mulia sejahtera damai merdeka raya lama harapan
    bahagia sentosa mekar maju sukamaju karya bakti bhakti tani abadi pusat utama permai asri lestari
    tanjung pulau bukit batu tanah sawah kebun hutan lembah pantai muara gunung teluk danau rawa sumber
    cempaka melati mawar kenanga anggrek kelapa pisang mangga durian nangka jeruk bambu pinang kapuk
    pondok kampung dusun desa kota pasar tengah utara selatan timur barat ilir hulu hilir
    kali sungai air laut kuala sentral bunga tinggi merah putih hijau hitam kuning besar kecil
    komplek perumahan blok griya taman villa residence estate cluster sektor
    agung bandar harapan jati mampang ratu galaxy moon matahari bulan bintang pulo lurah camat ruko mall
    pintu lampu kolong ujung pinggir terusan elok univ pom bensin fly over jembatan sumber daya pasang
    wadas malang sumur perempatan simpang pertigaan bundaran stasiun terminal halte""".split())
# Cue words never start a name ("gunung" is a village name too, but "Gunung Merapi" is the volcano).
_CUE_WORDS = frozenset({*_TYPE_CUES, *_WEAK_CUES, *_DIRECTION_CUES, *_STREET_CUES, *_ESTATE_CUES, "gunung"})
_MIN_CONF, _MAX_CONF = 0.05, 0.99
# Answers below this confidence are withheld (flag "weak", confidence 0): on the PetaBencana texts most answers
# under it were wrong. Documented in README.md; bench/eval_mentions.py reports precision and coverage with it.
MIN_CONFIDENCE = 0.4


class PlaceLike(Protocol):
    code: str
    name: str
    level: int


class GazetteerLike(Protocol):
    places: Mapping[str, Any]

    def geotag_for(self, code: str) -> GeoTag: ...


def name_key(name: str) -> str:
    """Admin names normalised like post words: lower case, accents folded, place abbreviations expanded."""
    words = _WORD.findall(fold_accents(name.lower()).replace("\u2019", "'").replace("-", " "))
    return " ".join(_NAME_ABBR.get(w, w) for w in words)


@dataclass(frozen=True, slots=True)
class Cand:
    code: str
    level: int
    chain: tuple[str | None, str | None, str | None, str | None]  # adm1..adm4 codes
    kind: str | None = None
    landmark_rank: int = -1  # 0 = the volcano's main regency, 1.. = others; -1 = an admin name
    alias: bool = False  # matched by the base of a directional name ("Kuningan" for Kuningan Barat)
    anc: tuple[str, ...] = ()  # codes of the units it lies in, province first (precomputed: hot path)


def _cand(code: str, level: int, chain: tuple[str | None, str | None, str | None, str | None],
          kind: str | None = None, landmark_rank: int = -1, alias: bool = False) -> Cand:
    anc = tuple(a for a in chain[: level - 1] if a)
    return Cand(code, level, chain, kind, landmark_rank, alias, anc)


def _chain(place: Any) -> tuple[str | None, str | None, str | None, str | None]:
    codes = [getattr(place, "adm1", None), getattr(place, "adm2", None), getattr(place, "adm3", None), None]
    for lvl in range(place.level, 4):
        codes[lvl] = None
    codes[place.level - 1] = place.code
    return (codes[0], codes[1], codes[2], codes[3])


@dataclass(slots=True)
class _Span:
    start: int
    end: int
    key: str
    cands: list[Cand]
    evidence: float
    accepted: bool
    why: str
    _sets: tuple[frozenset, frozenset, frozenset, frozenset] | None = None

    def sets(self) -> tuple[frozenset, frozenset, frozenset, frozenset]:
        """Codes of the readings, their ancestors, and the regencies/provinces of deeper readings."""
        if self._sets is None:
            cands = self.cands
            self._sets = (frozenset(c.code for c in cands),
                          frozenset(a for c in cands for a in c.anc),
                          frozenset(c.chain[1] for c in cands if c.level > 2),
                          frozenset(c.chain[0] for c in cands if c.level > 1))
        return self._sets


@dataclass(frozen=True, slots=True)
class GeoparseResult:
    geo: GeoTag
    confidence: float
    matched: tuple[str, ...] = ()


NONE_RESULT_REASON = "no place named in the text"


class Geoparser:
    """Index of gazetteer names; `parse` is pure and thread-safe once built."""

    def __init__(self, gazetteer: GazetteerLike, min_confidence: float = MIN_CONFIDENCE) -> None:
        self.gaz = gazetteer
        self.min_confidence = min_confidence
        self.index: dict[str, list[Cand]] = {}
        self.landmarks: dict[str, list[Cand]] = {}
        # "Kramatjati" / "kramat jati", "durikepa" / "Duri Kepa": spacing in names is not stable
        self.squashed: dict[str, list[Cand]] = {}
        self.landmark_needs_cue: set[str] = set()
        self.city_landmarks: set[str] = set()  # judged like names, and their admin namesakes stay readings
        # code sets of index lists, by id: the lists live as long as the parser ("Sukamaju" has 100 readings)
        self._set_memo: dict[int, tuple[frozenset, frozenset, frozenset, frozenset]] = {}
        self.urban_adm2 = frozenset(p.code for p in gazetteer.places.values()
                                    if p.level == 2 and getattr(p, "kind", None) == "kota")
        stop = set(COMMON_ID) | _STOP_EXTRA | {w for k in HAZARD_TERMS for w in k.split()}
        for words in STOPWORDS.values():
            stop |= words
        self.stop = frozenset(stop)
        self.common = frozenset(COMMON_ID.union(*STOPWORDS.values()))
        self._build()
        self.first_words = frozenset(k.split()[0] for k in (*self.index, *self.landmarks)) | frozenset(
            k for k in self.squashed if k not in self.stop)
        self.max_n = max((len(k.split()) for k in (*self.index, *self.landmarks)), default=1)
        self.prefixes = frozenset(" ".join(parts[:m]) for k in (*self.index, *self.landmarks)
                                  for parts in (k.split(),) for m in range(2, len(parts) + 1))

    def _build(self) -> None:
        by_prov_name: dict[tuple[str, str], Any] = {}
        prov_by_name: dict[str, str] = {}
        for place in self.gaz.places.values():
            cand = _cand(place.code, place.level, _chain(place), getattr(place, "kind", None) or None)
            key = name_key(place.name)
            if not key:
                continue
            keys = {key}
            for prefix in _PREFIXES:
                if key.startswith(prefix) and len(key) > len(prefix) + 2:
                    keys.add(key[len(prefix):])
            if place.level == 1:
                prov_by_name[key] = place.code
                if key.endswith("jakarta"):
                    keys.update({"dki jakarta", "dki"})
            if place.level == 2 and cand.chain[0]:
                by_prov_name[(cand.chain[0], key)] = cand
            parts = key.split()
            for k in keys:
                self.index.setdefault(k, []).append(cand)
                self.squashed.setdefault(k.replace(" ", ""), []).append(cand)
            if len(parts) >= 2 and parts[-1] in _DIRECTIONAL:  # "Cengkareng Barat" is also "Cengkareng"
                base = " ".join(parts[:-1])
                if base not in keys:
                    self.index.setdefault(base, []).append(
                        _cand(cand.code, cand.level, cand.chain, cand.kind, alias=True))
        for lm in (*VOLCANOES, *CITY_LANDMARKS):
            prov = prov_by_name.get(lm.province)
            if prov is None:
                continue
            for name in lm.names:
                found = self.landmarks.setdefault(name, [])
                for reg in lm.regencies:
                    c = by_prov_name.get((prov, reg))
                    if c is not None and all(x.code != c.code for x in found):
                        found.append(_cand(c.code, 2, c.chain, c.kind,
                                           landmark_rank=len(found) if lm.main_first else 1))
                if lm.needs_cue:
                    self.landmark_needs_cue.add(name)
                if not lm.main_first:
                    self.city_landmarks.add(name)
        self.landmarks = {k: v for k, v in self.landmarks.items() if v}

    # -- matching --------------------------------------------------------------------------------------

    def _spans(self, tokens: Tokens, volcano: bool) -> list[_Span]:
        """Longest names left to right; n-grams grow only while they are a prefix of some name (fast)."""
        words, n = tokens.words, len(tokens.words)
        cap_ok = not tokens.shouting  # ALL-CAPS posts: capitals say nothing
        spans: list[_Span] = []
        index, landmarks, squashed, prefixes = self.index, self.landmarks, self.squashed, self.prefixes
        first_words, breaks = self.first_words, tokens.breaks
        street_end = 0  # words before this index belong to a street's name ("Jl. Raya Bekasi" is in Jakarta)
        i = 0
        while i < n:
            w = words[i]
            if w in _STREET_CUES:
                e = i + 1
                while (e < n and e - i <= _STREET_RUN and e not in breaks and not words[e].isdigit()
                       and (e == i + 1 or words[e] not in _CUE_WORDS)):
                    e += 1
                street_end = max(street_end, e)
            if w not in first_words:
                i += 1
                continue
            found: tuple[int, str, list[Cand], list[Cand]] | None = None
            if w not in _CUE_WORDS or (i > 0 and words[i - 1] in _TYPE_CUES):  # "desa Terusan" is a name
                admin, lm = index.get(w) or squashed.get(w), landmarks.get(w)
                if admin or lm:
                    found = (1, w, admin or [], lm or [])
            key, k = w, 1
            while k < self.max_n and i + k < n:
                nxt = f"{key} {words[i + k]}"
                if nxt not in prefixes:
                    break
                key, k = nxt, k + 1
                admin, lm = index.get(key), landmarks.get(key)
                if admin or lm:
                    found = (k, key, admin or [], lm or [])
            if found is None or found[0] == 1:  # "Kramat Jati" for the gazetteer's "Kramatjati"
                for k2 in (3, 2):
                    if i + k2 <= n:
                        admin = squashed.get("".join(words[i:i + k2]))
                        if admin:
                            found = (k2, " ".join(words[i:i + k2]), admin, [])
                            break
            if found is None:
                i += 1
                continue
            k, key, admin, lm = found
            span = self._judge(tokens, i, i + k, key, admin, lm, cap_ok, volcano, i < street_end)
            if span.cands is admin or span.cands is lm:  # an index list: its code sets are built once
                memo = self._set_memo.get(id(span.cands))
                if memo is None:
                    memo = self._set_memo[id(span.cands)] = span.sets()
                span._sets = memo
            if span.cands:
                spans.append(span)
            i = span.end
        return spans

    def _judge(self, tokens: Tokens, i: int, j: int, key: str, admin: list[Cand], lm: list[Cand],
               cap_ok: bool, volcano: bool, in_street: bool = False) -> _Span:
        """Decide whether words[i:j] is meant as a place, and which candidates its cue word allows."""
        words = tokens.words
        prev = words[i - 1] if i > 0 else ""
        cap = cap_ok and all(tokens.cap[i:j])
        tag = any(tokens.tag[i:j])
        multi = j - i >= 2
        stop = self.stop
        stopped = not multi and (key in stop or len(key) <= 3)
        local = prev in _LOCAL_CUES or (prev == "over" and i >= 2 and words[i - 2] == "fly")
        direction = prev in _DIRECTION_CUES or (prev == "ke" and i >= 2 and words[i - 2] == "arah")
        if lm and key in self.city_landmarks:
            # A distinctive landmark name is evidence by itself; namesake admin units stay readings, so
            # "Kuningan"-like clashes are settled by co-mentions, not by the landmark list.
            ev = 0.15 + (0.1 if cap else 0.0) + (0.05 if prev in _WEAK_CUES or local else 0.0)
            return _Span(i, j, key, lm + admin, ev, not direction, "city landmark")
        if lm and (prev == "gunung" or (key not in self.landmark_needs_cue and (cap or volcano or multi))):
            return _Span(i, j, key, lm, 0.25 + (0.3 if prev == "gunung" else 0.15), True, "volcano")
        cands = admin
        if prev in _TYPE_CUES:
            level, kind = _TYPE_CUES[prev]
            narrowed = [c for c in cands if c.level == level]
            if kind in ("kelurahan", "desa"):
                narrowed = [c for c in narrowed if c.kind == kind] or narrowed
            # "kelurahan lama" is the old office, "Kelurahan Lama" a name
            if narrowed and (cap or key not in self.common):
                ev = 0.35 + (0.1 if cap else 0.0) + (0.15 if multi else 0.0)
                return _Span(i, j, key, narrowed, ev, True,
                             f"after '{prev}'")
        if not cands:
            return _Span(i, j, key, [], 0.0, False, "")
        if prev in _NOT_PLACE_CUES or in_street or (multi and words[i] in _RIVER_WORDS):
            return _Span(i, j, key, cands, 0.0, False, "street, estate or river name")
        if direction:
            return _Span(i, j, key, cands, 0.0, False, f"origin or destination after '{prev}'")
        ordinary = stopped or (multi and all(w in stop for w in words[i:j]))
        if local and not ordinary:  # a neighbourhood: districts and villages before regencies of the same name
            cands = [c for c in cands if c.level >= 3] or cands
            ev = 0.1 + (0.1 if cap else 0.0) + (0.15 if multi else 0.0)
            return _Span(i, j, key, cands, ev, True, f"after '{prev}'")
        if tag:  # hashtags: only regency/province names (#banjirbekasi); pieces of split hashtags mislead
            high_cands = [c for c in cands if c.level <= 2]
            ok = bool(high_cands) and len(key) >= 5 and not stopped
            return _Span(i, j, key, high_cands or cands, 0.0, ok, "hashtag")
        high = [c for c in cands if c.level <= 2]
        ev = (0.05 if prev in _WEAK_CUES else 0.0) + (0.1 if cap else 0.0) + (0.15 if multi else 0.0)
        if ordinary and multi:
            # ordinary words only ("Sumber Daya Air", "Pulo Harapan Indah"): districts and up by themselves,
            # a village only with a cue word or a co-mention (thousands of villages are named like this)
            if (cap or prev in _WEAK_CUES) and any(c.level <= 3 for c in cands):
                return _Span(i, j, key, cands, ev, True, "ordinary words naming a district")
            return _Span(i, j, key, cands, 0.0, False, "ordinary words")
        if stopped:  # an ordinary word: only a capitalised regency/province name counts by itself
            if cap and high and len(key) >= 4:
                return _Span(i, j, key, high, ev, True, "capitalised regency or province name")
            return _Span(i, j, key, cands, 0.0, False, "ordinary word")
        if cap or prev in _WEAK_CUES:
            return _Span(i, j, key, cands, ev, True, "cue or capitals")
        if multi and any(w not in self.stop for w in words[i:j]):
            return _Span(i, j, key, cands, ev, True, "multiword name")
        if high and len(key) >= 5:
            return _Span(i, j, key, cands, ev, True, "regency or province name")
        return _Span(i, j, key, cands, ev, False, "no cue")

    def _prominence(self, c: Cand, exact_levels: frozenset[int] = frozenset()) -> float:
        """Prior for a name nothing else disambiguates: larger units and urban places are talked about more
        (posts come mostly from cities), and a volcano's main regency before its neighbours."""
        p = {1: 3.0, 2: 2.5, 3: 1.0, 4: 0.0}[c.level]
        if c.kind == "kelurahan":
            p += 1.2
        elif c.landmark_rank < 0 and c.chain[1] is not None and c.chain[1] in self.urban_adm2:
            p += 0.8
        if c.alias and c.level in exact_levels:  # "Kota Tangerang" before the base of Kota Tangerang Selatan
            p -= 0.5
        if c.landmark_rank >= 0:
            p += 0.5 if c.landmark_rank == 0 else 0.0
        return p

    # -- resolution ------------------------------------------------------------------------------------

    def parse(self, tokens: Tokens, point_tag: GeoTag | None = None, volcano: bool = False) -> GeoparseResult:
        """The most specific place the text names, with a confidence in [0, 1]."""
        spans = self._spans(tokens, volcano)
        if not spans:
            return GeoparseResult(GeoTag(reason=NONE_RESULT_REASON), 0.0)
        accepted = [s for s in spans if s.accepted]
        # Tentative names count when an accepted name contains them or lies in them. A name repeated is not
        # a second witness ("di Setu ... kel. Setu" must not pick the Setu that contains a Setu).
        if accepted:
            for s in spans:
                if s.accepted:
                    continue
                codes, anc = s.sets()[:2]
                for a in accepted:
                    if a.key != s.key and (not codes.isdisjoint(a.sets()[1]) or not anc.isdisjoint(a.sets()[0])):
                        s.accepted, s.why = True, s.why + ", supported by a co-mention"
                        break
        live = [s for s in spans if s.accepted]
        if not live:
            return GeoparseResult(GeoTag(reason="only ordinary words or street names that match places"), 0.0)
        pt = _point_chain(point_tag)
        best: tuple[tuple[float, int, float], GeoparseResult] | None = None
        for s in live:
            res = self._resolve(s, live, pt)
            if res is None:
                continue
            support, level, conf, result = res
            # Names that agree: the most specific wins. Names that don't: the more reliable one does (an
            # unsupported village match loses to a named regency: "Kalimalang Bekasi").
            rank = (1.0, level, conf) if support >= 0.5 else (0.0, 0, conf)
            if best is None or rank > best[0]:
                best = (rank, result)
        if best is None:
            return GeoparseResult(GeoTag(flags=["ambiguous"], reason="place names match several regions"),
                                  0.0,
                                  tuple(s.key for s in live))
        result = best[1]
        if result.confidence < self.min_confidence:
            return GeoparseResult(GeoTag(flags=["weak"], reason=f"weak evidence for {result.geo.reason}"),
                                  0.0, result.matched)
        if len(live) > 1:
            result = GeoparseResult(result.geo, result.confidence, tuple(s.key for s in live))
        return result

    def _resolve(self, s: _Span, live: list[_Span], pt: tuple | None
                 ) -> tuple[float, int, float, GeoparseResult] | None:
        others = [o.sets() for o in live if o is not s and o.key != s.key]
        scored: list[tuple[float, Cand]] = []
        for c in s.cands:
            sup = 0.0
            # How well c fits the best reading of each other name: 1 when one contains the other, 0.6 when they
            # share a regency, 0.2 a province. Set lookups, not pairs: a name like Sukamaju has 100 readings.
            for codes, anc, regs, provs in others:
                if c.code in anc or not codes.isdisjoint(c.anc):
                    sup += 1.0
                elif c.level > 2 and c.chain[1] in regs:
                    sup += 0.6
                elif c.level > 1 and c.chain[0] in provs:
                    sup += 0.2
            if pt is not None:
                sup += _point_support(c, pt)
            scored.append((sup, c))
        top = max(sc for sc, _ in scored)
        tied = [c for sc, c in scored if sc >= top - 1e-9]
        flags: list[str] = []
        conf = 0.25 + s.evidence
        if top >= 0.5:  # supported by a co-mention or the point: the most specific supported reading
            lvl = max(c.level for c in tied)
            tied = [c for c in tied if c.level == lvl]
            conf += 0.2 * min(top, 2.0)
            if len(s.cands) > 1 and len(tied) == 1:
                conf *= 0.95
        elif len(tied) > 1:  # nothing tells them apart: the most prominent reading, if one stands out
            exact = frozenset(c.level for c in tied if not c.alias)
            prom = sorted(((self._prominence(c, exact), c) for c in tied), key=lambda pc: -pc[0])
            best = prom[0][0]
            tied = [c for p, c in prom if p >= best - 0.15]
            conf *= 0.75
            flags.append("prominence_prior")
        if len(tied) == 1:
            code, level = tied[0].code, tied[0].level
        else:
            shared = _common_level(tied)
            if shared == 0:
                return None
            code, level = tied[0].chain[shared - 1], shared
            conf *= 0.6
            flags.append("ambiguous")
        conf += {1: 0.25, 2: 0.25, 3: 0.1}.get(level, 0.0)  # few, well-known names at the upper levels
        if pt is not None and top >= 2.0:
            flags.append("point_agrees")
        geo = self.gaz.geotag_for(code, "place_name", flags=flags, reason=f"'{s.key}' ({s.why})")
        if geo.geotag_method == "none":
            return None
        conf = max(_MIN_CONF, min(_MAX_CONF, conf))
        return max(top, 0.0), level, conf, GeoparseResult(geo, round(conf, 3), (s.key,))


def _common_level(cands: list[Cand]) -> int:
    shared = 0
    for lvl in range(1, 5):
        codes = {c.chain[lvl - 1] for c in cands}
        if len(codes) == 1 and None not in codes:
            shared = lvl
        else:
            break
    return shared


def _point_chain(tag: GeoTag | None) -> tuple[str | None, ...] | None:
    if tag is None or tag.most_specific is None:
        return None
    return (tag.adm1, tag.adm2, tag.adm3, tag.adm4)


def _point_support(c: Cand, pt: tuple) -> float:
    """+2 when the post's point lies in the candidate (judged down to the district: a poster is often in the
    next village), +1 when only the regency agrees, -2 when the regency (or province) differs."""
    lvl = min(c.level, 3)
    if pt[lvl - 1] is not None and c.chain[lvl - 1] == pt[lvl - 1]:
        return 2.0
    top = min(c.level, 2)
    if pt[top - 1] is not None and c.chain[top - 1] == pt[top - 1]:
        return 1.0
    return -2.0


# -- shared instance -------------------------------------------------------------------------------------

def _build_geoparser() -> Geoparser:
    from services.core.gazetteer import get_gazetteer

    return Geoparser(get_gazetteer())


_shared: Shared[Geoparser] = Shared(_build_geoparser)


def get_geoparser() -> Geoparser:
    """The process-wide geoparser over the shared gazetteer (built once, about a second)."""
    return _shared.get()


def set_geoparser(parser: Geoparser | None) -> None:
    """For tests: use a parser over a small gazetteer."""
    _shared.set(parser)


def gazetteer_words(places: Iterable[Any] | None = None) -> set[str]:
    """Name parts of provinces, regencies and districts, for splitting hashtags (#banjirbekasi)."""
    if places is None:
        from services.core.gazetteer import get_gazetteer

        places = get_gazetteer().places.values()
    out: set[str] = set()
    for p in places:
        if p.level <= 3:
            out.update(name_key(p.name).split())
    for lm in VOLCANOES:
        for name in lm.names:
            out.update(name.split())
    return out
