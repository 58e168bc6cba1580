"""Geoparsing: unit cases on a tiny gazetteer, and precision on real PetaBencana flood reports."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from schemas.geo import GeoTag
from services.core.admin_data import shared_data_dir
from services.core.gazetteer import Gazetteer, Place
from services.core.mentions.geoparse import MIN_CONFIDENCE, Geoparser
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
    # for the street, landmark, direction and namesake rules
    _p("31.72", "Kota Administrasi Jakarta Utara", "kota"), _p("31.72.03", "Koja"),
    _p("31.72.04", "Cilincing"), _p("31.72.04.1005", "Rorotan", "kelurahan"),
    _p("31.75", "Kota Administrasi Jakarta Timur", "kota"), _p("31.75.07", "Duren Sawit"),
    _p("31.75.10", "Cipayung"), _p("31.75.10.1005", "Setu", "kelurahan"),
    _p("31.74", "Kota Administrasi Jakarta Selatan", "kota"), _p("31.74.03", "Mampang Prapatan"),
    _p("31.74.03.1005", "Kuningan Barat", "kelurahan"),
    _p("32.75.02", "Bekasi Barat"), _p("32.75.02.1001", "Bintara", "kelurahan"),
    _p("32.08", "Kabupaten Kuningan", "kabupaten"),
    _p("32.12", "Kabupaten Indramayu", "kabupaten"), _p("32.12.01", "Sindang"),
    _p("32.12.01.2001", "Terusan", "desa"),
    _p("11", "Aceh"), _p("11.10", "Kabupaten Nagan Raya", "kabupaten"), _p("11.10.05", "Tadu Raya"),
    _p("11.10.05.2003", "Sumber Daya", "desa"),
    _p("35", "Jawa Timur"), _p("35.02", "Kabupaten Ponorogo", "kabupaten"), _p("35.02.04", "Sukorejo"),
    _p("35.02.04.2001", "Kalimalang", "desa"),
    _p("36", "Banten"), _p("36.71", "Kota Tangerang", "kota"), _p("36.74", "Kota Tangerang Selatan", "kota"),
    _p("36.74.07", "Setu"), _p("36.74.07.1002", "Setu", "kelurahan"),
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


def test_street_name_runs_to_the_comma(gp: Geoparser) -> None:
    """Jl. Raya Bekasi is a street in Jakarta: the whole name after "jalan" is the street's, up to punctuation
    or a number; the place after the comma is where the post is."""
    r = _parse(gp, "Banjir di Jl. Raya Bekasi, Kec. Cengkareng setinggi lutut")
    assert r.geo.adm2 == "31.73" and r.geo.adm3 == "31.73.01"
    assert _parse(gp, "genangan di jalan raya bekasi arah barat").geo.most_specific is None
    assert _parse(gp, "Macet total di Jl. Jend. Sudirman Bekasi, air 30 cm").geo.most_specific is None


def test_terusan_starts_a_street_name(gp: Geoparser) -> None:
    r = _parse(gp, "Air banjir sudah makin meninggi (jl.Sunter 2 - Terusan Sindang, Koja) #drainaseburuk")
    assert r.geo.adm2 == "31.72" and r.geo.adm3 == "31.72.03"
    assert _parse(gp, "Banjir di Desa Terusan, Kecamatan Sindang").geo.adm4 == "32.12.01.2001"


def test_ordinary_words_name_a_village_only_with_a_cue(gp: Geoparser) -> None:
    r = _parse(gp, "Tlng pihak kementrian Sumber Daya Air dengan Pemda terkait harus berkoordinasi")
    assert r.geo.most_specific is None
    assert _parse(gp, "banjir di Desa Sumber Daya, Kec. Tadu Raya").geo.adm4 == "11.10.05.2003"


def test_a_repeated_name_is_not_its_own_witness(gp: Geoparser) -> None:
    """Setu is a district and a kelurahan in Tangerang Selatan and a kelurahan in Jakarta Timur: saying it twice
    must not make the district contain the kelurahan."""
    r = _parse(gp, "Bencana banjir di setu indah V blok A, air meluap, tlg di TL PPSU kel setu")
    assert r.geo.adm2 != "36.74"
    assert _parse(gp, "banjir di kel setu kec cipayung").geo.adm4 == "31.75.10.1005"


def test_origin_and_destination_are_not_the_place(gp: Geoparser) -> None:
    assert _parse(gp, "Banjir kiriman dari Bekasi, tolong siaga").geo.most_specific is None
    assert _parse(gp, "tergenang di tol arah Cengkareng harap hati-hati").geo.most_specific is None
    r = _parse(gp, "Banjir di Kel. Kapuk, kiriman dari Bekasi")
    assert r.geo.adm2 == "31.73"


def test_city_landmarks(gp: Geoparser) -> None:
    """Kalimalang runs from Jakarta Timur into Bekasi (and a village in Ponorogo shares the name): alone it
    names no regency; a co-mentioned neighbourhood picks one."""
    assert _parse(gp, "kawasan Kalimalang masih terendam banjir").geo.adm2 is None
    r = _parse(gp, "Banjir di kolong fly over bintara, Kalimalang setinggi betis")
    assert r.geo.adm2 == "32.75"
    assert _parse(gp, "Banjir di Kalimalang dekat Duren Sawit").geo.adm2 == "31.75"


def test_local_feature_names_a_neighbourhood(gp: Geoparser) -> None:
    r = _parse(gp, "Banjir disamping fly over Kuningan")
    assert r.geo.adm2 == "31.74"  # Kuningan Barat, not Kabupaten Kuningan
    assert _parse(gp, "Longsor di Kuningan, Jawa Barat").geo.adm2 == "32.08"
    # a local feature does not make an ordinary word a name ("jembatan satu" is bridge number one)
    assert _parse(gp, "Banjir di jembatan Baru, Taman Narogong Indah Raya").geo.most_specific is None


def test_head_of_a_kelurahan_names_it(gp: Geoparser) -> None:
    r = _parse(gp, "Pak Lurah Rorotan tolong saluran di komp green garden")
    assert r.geo.adm4 == "31.72.04.1005"


def test_exact_name_beats_directional_base(gp: Geoparser) -> None:
    """"Tangerang" is Kota Tangerang, not a tie with the base of Kota Tangerang Selatan."""
    assert _parse(gp, "Banjir di Kota Tangerang, Priuk").geo.adm2 == "36.71"


def test_weak_answers_are_withheld(gp: Geoparser) -> None:
    assert gp.min_confidence == MIN_CONFIDENCE > 0
    r = _parse(gp, "genangan di setu")  # ambiguous, no cue that tells the units apart
    assert r.geo.most_specific is None and r.confidence == 0.0


def test_petabencana_regency_precision() -> None:
    """Real flood reports geoparsed from their TEXT only (the point is withheld: it is the truth); truth is the
    regency the point lies in. Answers are those the product gives, at its confidence threshold."""
    assert (shared_data_dir() / "reports/petabencana_jakarta_2017-02.geojson").is_file(), "shared data missing"
    sys.path.insert(0, str(BENCH))
    from eval_mentions import evaluate_geoparse

    res = evaluate_geoparse()
    assert res["min_confidence"] == MIN_CONFIDENCE
    assert res["regency_answers"] >= 100
    assert res["coverage_regency"] >= 0.15
    assert res["regency_precision"] >= 0.9
