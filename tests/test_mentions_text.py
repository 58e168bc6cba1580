"""Normalisation, hazard lexicon (multiword, Tetum, English) and language guessing."""

from __future__ import annotations

import pytest

from schemas.common import Hazard
from services.common.config import Settings
from services.core.mentions.lexicon import SEARCH_SEEDS, detect_hazard, find_hazards, guess_language
from services.core.mentions.normalise import WordList, _base_words, normalise_text, tokenize
from services.ingest.live.queries import X_QUERY_MAX, mastodon_hashtags, x_search_query
from services.ingest.live.runner import build_sources

WORDS = WordList(_base_words(), {"jakarta", "bekasi", "merapi"})


@pytest.mark.parametrize(("text", "expected"), [
    ("#banjirjakarta", "banjir jakarta"),
    ("#BanjirBekasi hari ini", "banjir bekasi hari ini"),
    ("#drainaseburuk #cuacaekstrim", "drainase buruk cuaca ekstrim"),
    ("#xqzvbrt", "xqzvbrt"),  # unknown: left whole rather than split into nonsense
    ("Banjir di Jl. Angsana Kec. Cengkareng", "banjir di jalan angsana kecamatan cengkareng"),
    ("Gn. Merapi dll", "gunung merapi dan lain lain"),
    ("airnya bnyaaak bgt, maaaf", "airnya bnyak banget maaf"),
    ("RT.004/RW.01 dan RT008/12", "rt 4 rw 1 dan rt 8 rw 12"),
    ("lihat https://t.co/AbC123 @budi_s cc budi@example.com", "lihat cc"),
    ("surut2 &amp; hujan", "surut hujan"),
    ("Be sa\u2019e iha D\u00edli", "be sa'e iha dili"),
])
def test_normalise(text: str, expected: str) -> None:
    assert normalise_text(text, WORDS) == expected


def test_capitals_and_hashtags_are_kept_as_evidence() -> None:
    t = tokenize("Banjir di Kel. Kapuk. #banjirjakarta", WORDS)
    caps = {w for w, c in zip(t.words, t.cap, strict=True) if c}
    assert "kapuk" in caps and "banjir" not in caps  # sentence start: no evidence
    assert [w for w, g in zip(t.words, t.tag, strict=True) if g] == ["banjir", "jakarta"]
    assert tokenize("BANJIR BESAR DI KAPUK HARI INI", WORDS).shouting


@pytest.mark.parametrize(("text", "hazard"), [
    ("banjir bandang di Garut", Hazard.flash_flood),  # longest match wins
    ("kebanjiran lagi, tergenang sepinggang", Hazard.flood),
    ("tanah longsor menimbun rumah", Hazard.landslide),
    ("gempanya terasa kuat", Hazard.earthquake),
    ("awan panas guguran dan abu vulkanik", Hazard.volcano),
    ("angin puting beliung merusak atap", Hazard.storm),
    ("Be sa'e iha Dili", Hazard.flood),
    ("rai-halai iha Ermera", Hazard.landslide),
    ("rai nakdoko boot", Hazard.earthquake),
    ("Earthquake felt in Kupang", Hazard.earthquake),
    ("karhutla di Riau", Hazard.fire),
    ("pendakian minggu depan seru", None),
    ("tugas lainnya belum selesai", None),  # the app's "lainnya" is no hazard in a post
])
def test_hazards(text: str, hazard: Hazard | None) -> None:
    assert detect_hazard(tokenize(text, WORDS).words) == hazard


def test_multiword_match_is_one_hit() -> None:
    hits = find_hazards(tokenize("gunung meletus, banjir lahar dingin", WORDS).words)
    assert [(h.term, h.hazard) for h in hits] == [("gunung meletus", Hazard.volcano),
                                                  ("banjir lahar dingin", Hazard.volcano)]


@pytest.mark.parametrize(("text", "hint", "lang"), [
    ("Banjir sudah sampai di depan rumah yang ada di gang", None, "id"),
    ("The flood is still rising in the north of the city", None, "en"),
    ("Be sa'e iha Dili, uma barak mak estragu", "id", "tet"),  # platforms tag Tetum as Indonesian
    ("banjir!!!", "in", "id"),
    ("12345", None, None),
])
def test_language(text: str, hint: str | None, lang: str | None) -> None:
    assert guess_language(tokenize(text, WORDS).words, hint) == lang


def test_breaks_mark_punctuation_not_abbreviation_dots() -> None:
    """The geoparser ends a street's name at punctuation: commas and sentence ends are breaks, "Jl." is not."""
    t = tokenize("Banjir di Jl. Raya Bekasi, Cakung (dekat pasar) - parah", WORDS)
    assert t.words[:6] == ["banjir", "di", "jalan", "raya", "bekasi", "cakung"]
    assert t.words.index("raya") not in t.breaks and t.words.index("cakung") in t.breaks
    assert t.words.index("dekat") in t.breaks and t.words.index("parah") in t.breaks
    assert tokenize("Macet di Jl. Jend. Sudirman", WORDS).breaks == set()


def test_word_memo_keeps_capital_evidence_per_spelling() -> None:
    """Words are normalised once per word list; "Kapuk" and "kapuk" share a word but not the evidence."""
    wl = WordList(_base_words(), {"kapuk"})
    a = tokenize("banjir di Kapuk, air di kapuk naik", wl)
    b = tokenize("banjir di Kapuk, air di kapuk naik", wl)
    assert a == b and a.cap[a.words.index("kapuk")] and not a.cap[len(a.words) - 2]
    assert "Kapuk" in wl.word_memo and "kapuk" in wl.word_memo


def test_every_hazard_is_searched_for_with_seeds_enrich_recognises() -> None:
    assert set(SEARCH_SEEDS) == set(Hazard) - {Hazard.other}
    for hazard, seeds in SEARCH_SEEDS.items():
        for seed in seeds:
            assert detect_hazard(seed.split()) == hazard, seed


def test_the_x_query_keeps_one_seed_per_covered_phrase_and_fits_the_limit() -> None:
    query = x_search_query()
    assert query.endswith(" -is:retweet") and len(query) <= X_QUERY_MAX
    assert '"rai nakdoko"' in query and " gempa " in query
    assert "bandang" not in query  # "banjir" already finds every "banjir bandang"
    (client,) = build_sources(Settings(x_bearer_token="t", x_query=None), {"x"})  # unset: the derived query
    assert client.query == query


def test_mastodon_hashtags_are_single_words_the_normaliser_splits_back() -> None:
    tags = mastodon_hashtags()
    assert "gunungmeletus" in tags and all(" " not in t for t in tags)
    unset = build_sources(Settings(mastodon_base_url="https://mastodon.example", mastodon_hashtags=None), {"mastodon"})
    assert [c.hashtag for c in unset] == tags  # unset: one client per derived tag; "" still means the public timeline
    words = WordList(_base_words(), set())
    for hazard, seeds in SEARCH_SEEDS.items():
        for seed in seeds:
            tag = seed.replace(" ", "")
            assert detect_hazard(tokenize(normalise_text(f"#{tag}", words)).words) == hazard, tag
