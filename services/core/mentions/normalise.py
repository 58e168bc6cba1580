"""Normalise post text: one tokenisation shared by the hazard lexicon, the relevance model and the geoparser.

Why tokens and not just a cleaned string: the geoparser needs to know, per word, whether it was capitalised
in the original or came from a hashtag (evidence that a word is a name), while the model and the lexicon
want plain lower-case words. Tokenising once keeps the three consistent and the worker fast.

Steps: HTML entities decoded; URLs, e-mail addresses and @handles removed (handles are personal data and
noise); hashtags split into words (#banjirjakarta -> banjir jakarta, CamelCase first, then a word list);
abbreviations expanded (jl. -> jalan, kec. -> kecamatan, gn. -> gunung); letter runs of 3+ squeezed
(bnyaaak -> banyak when the list knows it, else one letter); RT/RW numbers tidied; lower-cased.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.common import HAZARD_ALIASES
from services.core.mentions.wordlists import ABBREVIATIONS, COMMON_ID, STOPWORDS
from services.core.shared import Shared

_URL = re.compile(r"(?:https?://|www\.)\S+|\bt\.co/\S+|\S+@\S+\.[a-z]{2,}\b", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w{1,30}")
# "RT.004/RW.01", "RT008/12", "rt 5 / rw 3" -> "RT 4 RW 1"
_RTRW = re.compile(r"\bRT\.?\s*0*(\d{1,3})\s*/\s*(?:RW\.?\s*)?0*(\d{1,3})\b", re.IGNORECASE)
_RT_OR_RW = re.compile(r"\b(RT|RW)\.?\s*0*(\d{1,3})\b", re.IGNORECASE)
# Words: letters/digits with inner apostrophes (Tetum ne'e); '#' kept to know a hashtag. Hyphens split.
# Punctuation is kept as a token only to mark breaks: a street name ends at a comma ("Jl. Raya Bekasi, Cakung").
_TOKEN = re.compile(r"#?[^\W_]+(?:['\u2019\u02bc][^\W_]+)*|[.!?\n,;:()/]|(?<=\s)-(?=\s)")
_RUN = re.compile(r"([a-z])\1{2,}")
_CAMEL = re.compile(r"[A-Z]{2,}(?=[A-Z][a-z]|\d|$)|[A-Z]?[a-z]+|[A-Z]+|\d+")
_REDUP = re.compile(r"^([a-z]{3,})2$")  # "surut2" (reduplication written with a 2) -> "surut"
_SENTENCE_END = frozenset(".!?\n")
_PUNCT = frozenset(".!?\n,;:()/-")
_MEMO_MAX = 200_000  # words memoised per word list; cleared when full (Zipf: a few thousand words do most)
_MAX_HASHTAG = 40
_MAX_WORD = 24


@dataclass(slots=True)
class Tokens:
    """Parallel lists: the normalised word and evidence about how it was written."""

    words: list[str] = field(default_factory=list)
    cap: list[bool] = field(default_factory=list)  # capitalised in the original, not at a sentence start
    tag: list[bool] = field(default_factory=list)  # came from a hashtag
    shouting: bool = False  # written mostly in capitals: capitals are then no evidence of a name
    # Indices of words preceded by punctuation (comma, sentence end, bracket, dash): where a street name ends.
    breaks: set[int] = field(default_factory=set)

    def text(self) -> str:
        return " ".join(self.words)

    def add(self, word: str, cap: bool, tag: bool) -> None:
        self.words.append(word)
        self.cap.append(cap)
        self.tag.append(tag)


class WordList:
    """Known words with a cost each: common and hazard words are cheaper than rarer gazetteer name parts,
    so hashtag splitting prefers 'banjir kiriman' over 'banjir kiri man'."""

    def __init__(self, common: Iterable[str], extra: Iterable[str] = ()) -> None:
        self.cost: dict[str, float] = {}
        for w in extra:
            if len(w) >= 3 and w.isalpha():
                self.cost[w] = 1.6
        for w in common:
            self.cost[w] = 1.0
        self.max_len = max((len(w) for w in self.cost), default=1)
        # Per-word and per-hashtag results of `tokenize`: they depend only on the token and this list, and
        # a stream repeats the same few thousand words, so each is normalised once (the hot loop's main cost).
        self.word_memo: dict[str, tuple[tuple[str, ...], bool, bool]] = {}
        self.tag_memo: dict[str, tuple[tuple[str, bool], ...]] = {}

    def __contains__(self, word: str) -> bool:
        return word in self.cost

    def split(self, s: str) -> list[str]:
        """Cheapest segmentation of s into known words (unknown letters cost 2 each).

        Returns [s] when s is known, too long, or mostly unknown: an unsplit hashtag is better than a wrong
        split, because a wrong split can invent a place name."""
        n = len(s)
        if n == 0 or s in self.cost or n > _MAX_HASHTAG:
            return [s]
        inf = float("inf")
        best = [inf] * (n + 1)
        back = [0] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] == inf:
                continue
            # one unknown letter
            c = best[i] + 2.0
            if c < best[i + 1]:
                best[i + 1], back[i + 1] = c, -(i + 1)
            for j in range(i + 2, min(n, i + self.max_len) + 1):
                w = self.cost.get(s[i:j])
                if w is not None:
                    c = best[i] + w + (0.4 if j - i <= 2 else 0.0)
                    if c < best[j]:
                        best[j], back[j] = c, i
        pieces: list[str] = []
        unknown = 0
        j = n
        while j > 0:
            b = back[j]
            if b < 0:  # unknown letter at j-1: merge with an unknown piece already started
                unknown += 1
                if pieces and pieces[-1].startswith("\0"):
                    pieces[-1] = "\0" + s[j - 1] + pieces[-1][1:]
                else:
                    pieces.append("\0" + s[j - 1])
                j -= 1
            else:
                pieces.append(s[b:j])
                j = b
        if unknown > 0.3 * n:
            return [s]
        return [p.lstrip("\0") for p in reversed(pieces)]


def _base_words() -> set[str]:
    words = set(COMMON_ID)
    for alias in HAZARD_ALIASES:
        words.update(alias.split())
    for stop in STOPWORDS.values():
        words.update(w for w in stop if w.isalpha())
    for k, v in ABBREVIATIONS.items():
        words.update(v.split())
        if len(k) >= 4:
            words.add(k)
    return words


def _build_wordlist() -> WordList:
    extra: set[str] = set()
    try:
        from services.core.mentions.geoparse import gazetteer_words

        extra = gazetteer_words()
    except Exception:  # noqa: BLE001 - no gazetteer: split on common words only
        extra = set()
    return WordList(_base_words(), extra)


_shared: Shared[WordList] = Shared(_build_wordlist)


def default_wordlist() -> WordList:
    """Common words + hazard lexicon + gazetteer name parts (when the gazetteer is installed)."""
    return _shared.get()


def set_default_wordlist(words: WordList | None) -> None:
    """For tests and for a worker that loads a different gazetteer."""
    _shared.set(words)


def fold_accents(s: str) -> str:
    """'Laulará' -> 'Laulara': posts and gazetteers disagree about accents, never about letters."""
    if s.isascii():
        return s
    return "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch))


def _squeeze(word: str, words: WordList) -> str:
    if not _RUN.search(word):
        return word
    two = _RUN.sub(r"\1\1", word)
    return two if two in words else _RUN.sub(r"\1", word)


def _word_entry(raw: str, wl: WordList) -> tuple[tuple[str, ...], bool, bool]:
    """One plain word: its normalised parts (none for noise, several for an abbreviation), whether it starts
    with a capital, and whether it is written all in capitals (2+ letters)."""
    c0 = raw[0]
    w = raw.lower()
    if not w.isascii():
        w = fold_accents(w.replace("\u2019", "'").replace("\u02bc", "'"))
    if len(w) > _MAX_WORD and not w.isdigit():
        return (), False, False  # base64 blobs, long hashes: noise
    if len(w) >= 3 and _RUN.search(w):
        w = _squeeze(w, wl)
    if w[-1] == "2":
        m = _REDUP.match(w)
        if m:
            w = m.group(1)
    exp = ABBREVIATIONS.get(w)
    parts = (w,) if exp is None else tuple(exp.split())
    return parts, c0.isupper(), c0.isupper() and len(raw) > 1 and raw.isupper()


def tokenize(text: str, words: WordList | None = None) -> Tokens:
    """Tokens of a post, normalised, with capitalisation and hashtag evidence kept per word."""
    wl = words or default_wordlist()
    if "&" in text:
        text = html.unescape(text)
    if "/" in text or "@" in text or "ww." in text or "WW." in text:  # cheap pre-checks: most posts have none
        text = _URL.sub(" ", text)
        if "@" in text:
            text = _HANDLE.sub(" ", text)
    if "rt" in text or "RT" in text or "rw" in text or "RW" in text or "Rt" in text:
        text = _RTRW.sub(r"RT \1 RW \2", text)
        text = _RT_OR_RW.sub(r"\1 \2", text)
    out = Tokens()
    words_, caps_, tags_, breaks = out.words, out.cap, out.tag, out.breaks
    memo = wl.word_memo
    sentence_start = True
    prev = ""
    upper = 0
    for raw in _TOKEN.findall(text):  # hot loop: plain words come from the memo
        c0 = raw[0]
        if c0 in _PUNCT:
            # "Jl. Angsana", "Kel. Kapuk": a dot after an abbreviation does not start a sentence
            if c0 != "." or not (prev.lower() in ABBREVIATIONS or len(prev) <= 3):
                breaks.add(len(words_))
                if c0 in _SENTENCE_END:
                    sentence_start = True
            prev = raw
            continue
        prev = raw
        if c0 == "#":
            _add_hashtag(raw[1:], out, wl)
            sentence_start = False
            continue
        entry = memo.get(raw)
        if entry is None:
            if len(memo) >= _MEMO_MAX:
                memo.clear()
            entry = memo[raw] = _word_entry(raw, wl)
        parts, cap, shout = entry
        if shout:
            upper += 1
        cap = cap and not sentence_start
        sentence_start = False
        if len(parts) == 1:
            words_.append(parts[0])
            caps_.append(cap)
            tags_.append(False)
        else:
            for part in parts:
                words_.append(part)
                caps_.append(cap)
                tags_.append(False)
    out.shouting = upper >= 3 and upper > 0.5 * len(words_)
    return out


def _hashtag_words(body: str, wl: WordList) -> tuple[tuple[str, bool], ...]:
    """Words of a hashtag with their capital evidence (CamelCase first, then the word list)."""
    parts = _CAMEL.findall(body) if not body.islower() and not body.isupper() else [body]
    out: list[tuple[str, bool]] = []
    for part in parts:
        cap = part[0].isupper() and len(parts) > 1
        low = _squeeze(part.lower(), wl)
        for piece in wl.split(low):
            w = fold_accents(piece)
            if len(w) > _MAX_WORD and not w.isdigit():
                continue
            w = _squeeze(w, wl)
            m = _REDUP.match(w)
            if m:
                w = m.group(1)
            exp = ABBREVIATIONS.get(w)
            out.extend((p, cap) for p in (exp.split() if exp is not None else (w,)))
    return tuple(out)


def _add_hashtag(body: str, out: Tokens, wl: WordList) -> None:
    memo = wl.tag_memo
    entry = memo.get(body)
    if entry is None:
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        entry = memo[body] = _hashtag_words(body, wl)
    for w, cap in entry:
        out.add(w, cap, True)


def normalise_text(text: str, words: WordList | None = None) -> str:
    """The normalised text: lower-case words separated by single spaces."""
    return tokenize(text, words).text()
