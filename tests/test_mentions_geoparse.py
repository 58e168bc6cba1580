"""Geoparsing: unit cases on a tiny gazetteer, and precision on real PetaBencana flood reports."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from schemas.geo import GeoTag
from services.core.admin_data import shared_data_dir
from services.core.gazetteer import Gazetteer, Place
from services.core.mentions.geoparse import Geoparser
from services.core.mentions.normalise import WordList, _base_words, tokenize

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _p(code: str, name: str, kind: str | None = None) -> Place:
    parts = code.split(".")
    level = len(parts)
    lineage = [".".join(parts[:k]) for k in range(1, 4)]
    adm = [lineage[k] if k < level else None for k in range(3)]
    return Place(code, name, level, "ID", adm[0], adm[1], adm[2], None, None, kind)


PLACES = [
    _p("31", "Daerah Khusus Ibukota Jakarta"), _p("31.73", "Kota Administrasi Jakarta Barat", "kota"),
    _p("31.73.01", "Cengkareng"), _p("31.73.01.1005", "Kapuk", "kelurahan"),
    _p("31.73.01.1006", "Cengkareng Timur", "kelurahan"),
    _p("31.73.01.1007", "Cengkareng Barat", "kelurahan"),
    _p("15", "Jambi"), _p("15.02", "Kabupaten Merangin", "kabupaten"), _p("15.02.07", "Tabir"),
    _p("15.02.07.2010", "Kapuk", "desa"), _p("15.02.07.2011", "Baru", "desa"),
    _p("32", "Jawa Barat"), _p("32.75", "Kota Bekasi", "kota"), _p("32.75.01", "Jatiasih"),
    _p("32.75.01.1001", "Jatisari", "kelurahan"), _p("32.01", "Kabupaten Bogor", "kabupaten"),
    _p("32.01.07", "Cileungsi"), _p("32.01.07.2006", "Jatisari", "desa"),
    _p("34", "Daerah Istimewa Yogyakarta"), _p("34.04", "Kabupaten Sleman", "kabupaten"),
    _p("33", "Jawa Tengah"), _p("33.08", "Kabupaten Magelang", "kabupaten"),
    _p("33.10", "Kabupaten Klaten", "kabupaten"), _p("33.09", "Kabupaten Boyolali", "kabupaten"),
]
WORDS = WordList(_base_words(), {"jakarta", "bekasi", "cengkareng"})


@pytest.fixture(scope="module")
def gp() -> Geoparser:
    return Geoparser(Gazetteer(PLACES))


def _parse(gp: Geoparser, text: str, point: GeoTag | None = None, volcano: bool = False):
    return gp.parse(tokenize(text, WORDS), point, volcano)


def test_cue_word_and_co_mention(gp: Geoparser) -> None:
    r = _parse(gp, "Banjir wilayah Kel. Kapuk Kec. Cengkareng sepinggang")
    assert r.geo.adm4 == "31.73.01.1005" and r.geo.geotag_method == "place_name"
    assert r.confidence >= 0.8


def test_kelurahan_vs_desa_and_ambiguity(gp: Geoparser) -> None:
    assert _parse(gp, "banjir di kelurahan kapuk").geo.adm2 == "31.73"  # only the Jakarta one is a kelurahan
    assert _parse(gp, "banjir di desa kapuk").geo.adm2 == "15.02"
    jati = _parse(gp, "Banjir di Griya Jatisari Bekasi")  # co-mention picks the Bekasi one
    assert jati.geo.adm4 == "32.75.01.1001"


def test_point_breaks_ties(gp: Geoparser) -> None:
    near_bogor = GeoTag(country="ID", adm1="32", adm2="32.01", adm3="32.01.07")
    assert _parse(gp, "genangan di Jatisari", near_bogor).geo.adm2 == "32.01"


def test_nothing_named_no_guess(gp: Geoparser) -> None:
    r = _parse(gp, "Banjir setinggi lutut, tolong kirim pompa")
    assert r.geo.most_specific is None and r.confidence == 0.0


def test_ordinary_words_and_streets_are_not_places(gp: Geoparser) -> None:
    assert _parse(gp, "rumah baru kami kebanjiran").geo.most_specific is None
    assert _parse(gp, "Banjir di Jl. Kapuk Raya").geo.most_specific is None


def test_volcano_landmark(gp: Geoparser) -> None:
    r = _parse(gp, "Gunung Merapi erupsi, awan panas guguran", volcano=True)
    assert r.geo.adm2 == "34.04"  # Sleman first, nothing else named
    assert _parse(gp, "awan panas Merapi mengarah ke Klaten", volcano=True).geo.adm2 == "33.10"


def test_multiword_directional_base(gp: Geoparser) -> None:
    r = _parse(gp, "banjir di cengkareng timur")
    assert r.geo.adm4 == "31.73.01.1006"
    assert 0.0 <= r.confidence <= 1.0


def test_petabencana_regency_precision() -> None:
    """Real flood reports geoparsed without their point; truth is the regency the point lies in."""
    assert (shared_data_dir() / "reports/petabencana_jakarta_2017-02.geojson").is_file(), "shared data missing"
    sys.path.insert(0, str(BENCH))
    from eval_mentions import evaluate_geoparse

    res = evaluate_geoparse()
    assert res["regency_answers"] >= 80
    assert res["regency_precision"] >= 0.85
    assert res["regency_precision_by_min_confidence"]["0.5"]["precision"] >= 0.9
