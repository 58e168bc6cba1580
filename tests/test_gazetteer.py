"""Gazetteer on the real Kemendagri 2025 / OCHA data: names, place text, codes and the P-code crosswalk."""

from __future__ import annotations

import pandas as pd
import pytest

from services.core import admin_data
from services.core.gazetteer import Gazetteer, Place, get_gazetteer, normalise_name


@pytest.fixture(scope="session")
def gaz() -> Gazetteer:
    return get_gazetteer()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Desa Petobo", "petobo"),
        ("Kel. Gambir", "gambir"),
        ("KECAMATAN  Palu-Selatan", "palu selatan"),
        ("Kab. Aceh Selatan", "aceh selatan"),
        ("Kota Adm. Jakarta Selatan", "jakarta selatan"),
        ("Kota Administrasi Jakarta Utara ", "jakarta utara"),
        ("Provinsi DKI Jakarta", "jakarta"),
        ("Prov. Sulawesi Tengah", "sulawesi tengah"),
        ("Liquiçá", "liquica"),
        ("Suco Suro-Craik", "suro craik"),
        ("Munisípiu Ainaro", "ainaro"),
        ("Posto Administrativo Vera Cruz", "vera cruz"),
        ("Kep. Seribu", "kepulauan seribu"),
        ("Kota", "kota"),  # a prefix alone is kept rather than emptied
    ],
)
def test_normalise_name(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


def test_places_cover_both_countries(gaz: Gazetteer) -> None:
    by_level = pd.Series([(p.country, p.level) for p in gaz.places.values()]).value_counts()
    assert by_level[("ID", 1)] == 38 and by_level[("ID", 2)] == 514 and by_level[("ID", 3)] == 7285
    assert by_level[("ID", 4)] == 83762
    assert by_level[("TL", 1)] == 13 and by_level[("TL", 2)] == 65 and by_level[("TL", 3)] == 442
    petobo = gaz.places["72.71.03.1003"]
    assert petobo == Place("72.71.03.1003", "Petobo", 4, "ID", "72", "72.71", "72.71.03", petobo.lat,
                           petobo.lon, "kelurahan")
    assert -1.0 < petobo.lat < -0.8 and 119.8 < petobo.lon < 120.0
    assert gaz.places["31.74"].kind == "kota" and gaz.places["32.01"].kind == "kabupaten"
    suco = gaz.places["TL010102"]
    assert (suco.name, suco.level, suco.adm1, suco.adm2, suco.adm3) == (
        "Suro-Craik", 3, "TL01", "TL0101", "TL010102")


def test_lookup_is_by_normalised_name(gaz: Gazetteer) -> None:
    codes = {p.code for p in gaz.lookup("bogor")}
    assert {"32.01", "32.71"} <= codes
    assert {p.code for p in gaz.lookup("setia budi")} >= {"31.74.02"}  # spaces forgiven (Setiabudi)
    assert gaz.lookup("no such place anywhere") == []


def test_resolve_uses_higher_levels_to_pick_the_village(gaz: Gazetteer) -> None:
    tag = gaz.resolve("Desa Petobo, Kec. Palu Selatan, Kota Palu")
    assert (tag.adm1, tag.adm2, tag.adm3, tag.adm4) == ("72", "72.71", "72.71.03", "72.71.03.1003")
    assert tag.geotag_method == "place_name" and tag.flags == [] and tag.adm4_name == "Petobo"
    # The same without separators.
    assert gaz.resolve("Desa Petobo Kec. Palu Selatan Kota Palu").adm4 == "72.71.03.1003"


def test_resolve_repeated_village_name_goes_to_shared_level(gaz: Gazetteer) -> None:
    assert len([p for p in gaz.lookup("sukamaju") if p.level == 4]) > 50
    tag = gaz.resolve("Desa Sukamaju, Kab. Bogor")
    assert tag.adm2 == "32.01" and tag.adm3 is None and tag.adm4 is None
    assert "ambiguous" in tag.flags and "Kabupaten Bogor" in tag.reason
    alone = gaz.resolve("Desa Sukamaju")
    assert alone.geotag_method == "none" and "ambiguous" in alone.flags and "places match" in alone.reason


def test_resolve_kota_and_kabupaten_of_the_same_name(gaz: Gazetteer) -> None:
    assert gaz.resolve("Kota Bogor").adm2 == "32.71"
    assert gaz.resolve("Kabupaten Bogor").adm2 == "32.01"
    bare = gaz.resolve("Bogor")
    assert "ambiguous" in bare.flags and bare.adm2 is None


def test_resolve_jakarta_and_partial_text(gaz: Gazetteer) -> None:
    tag = gaz.resolve("Jl. Merdeka 5, Kel. Gambir, Kota Adm. Jakarta Pusat, DKI Jakarta")
    assert tag.adm4 == "31.71.01.1001" and tag.adm2_name == "Kota Administrasi Jakarta Pusat"
    partial = gaz.resolve("Desa Qwertyuiop, Kec. Palu Selatan, Kota Palu")
    assert partial.adm3 == "72.71.03" and partial.adm4 is None
    assert "partial" in partial.flags and "Qwertyuiop" in partial.reason
    nothing = gaz.resolve("Qwertyuiop")
    assert nothing.geotag_method == "none" and "not found" in nothing.reason
    assert gaz.resolve("").geotag_method == "none"


def test_resolve_timor_leste(gaz: Gazetteer) -> None:
    tag = gaz.resolve("Suco Balibar, Posto Cristo Rei, Dili")
    assert (tag.country, tag.adm1, tag.adm2, tag.adm3, tag.adm4) == ("TL", "TL06", "TL0606", "TL060605", None)
    # Municipality, post and suco all called Ainaro: nested readings give the outer unit, not a guess.
    ainaro = gaz.resolve("Ainaro")
    assert ainaro.adm1 == "TL01" and ainaro.adm2 is None and "ambiguous" not in ainaro.flags
    assert gaz.resolve("Suco Ainaro").adm3 == "TL010101"
    assert gaz.resolve("Oecusse").adm1 == gaz.resolve("Munisípiu Oecussi").adm1


def test_geotag_for_fills_every_level(gaz: Gazetteer) -> None:
    tag = gaz.geotag_for("31.74.02.1006")
    assert (tag.adm1, tag.adm2, tag.adm3, tag.adm4) == ("31", "31.74", "31.74.02", "31.74.02.1006")
    assert tag.adm2_name == "Kota Administrasi Jakarta Selatan" and tag.adm3_name == "Setiabudi"
    assert tag.country == "ID" and tag.geotag_method == "place_name"
    tl = gaz.geotag_for("tl060105")
    assert (tl.adm1_name, tl.adm2_name, tl.adm3_name) == ("Dili", "Vera Cruz", "Colmera")
    kab = gaz.geotag_for("72.10")
    assert kab.adm2_name == "Kabupaten Sigi" and kab.adm3 is None
    unknown = gaz.geotag_for("99.99")
    assert unknown.geotag_method == "none" and "unknown" in unknown.reason


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ID3171", "31.74"),  # BPS 3171 Jakarta Selatan is Kemendagri 31.74, not 31.71
        ("ID3173", "31.71"),
        ("ID31", "31"),
        ("ID3171010", "31.74.09"),  # Jagakarsa
        ("ID94", None),  # old Papua: split into 91, 93, 94, 95 since 2022
        ("ID91", None),  # BPS 91 is Papua Barat, itself split (Papua Barat Daya 96)
        ("ID9401", "93.01"),  # Merauke, now Papua Selatan
        ("ID9107", "96.01"),  # Kab. Sorong, 92.01 -> 96.01
        ("ID9403", "91.03"),  # Kab. Jayapura stayed in Papua
        ("ID9999", None),
        ("31.71", "31.71"),
        ("91", "91"),
        ("TL07", "TL07"),
        ("tl0701", "TL0701"),
        ("TL99", None),
        ("3171", None),  # bare 4 digits: BPS or Kemendagri? refused
        ("", None),
    ],
)
def test_to_kemendagri(gaz: Gazetteer, code: str, expected: str | None) -> None:
    assert gaz.to_kemendagri(code) == expected


def test_crosswalk_table_is_consistent(gaz: Gazetteer) -> None:
    table = admin_data.read_crosswalk()
    mapped = table[table["kemendagri"] != ""]
    assert len(mapped) > 7300 and mapped["kemendagri"].isin(gaz.places.keys()).all()
    assert not mapped["kemendagri"].duplicated().any()
    levels = mapped["kemendagri"].str.count(r"\.") + 1
    assert (levels == mapped["level"].astype(int)).all()
    # A district maps inside the regency its BPS parent maps to.
    parent = dict(zip(mapped["hdx_pcode"], mapped["kemendagri"], strict=True))
    kec = mapped[mapped["level"] == "3"]
    inside = [parent.get(h[:6]) is None or k.startswith(parent[h[:6]] + ".")
              for h, k in zip(kec["hdx_pcode"], kec["kemendagri"], strict=True)]
    assert all(inside)


def test_crosswalk_rebuilds_from_source(shared_data) -> None:  # noqa: ANN001
    rebuilt = admin_data.build_crosswalk(shared_data / "indonesia" / "bps-kemendagri-crosswalk")
    shipped = admin_data.read_crosswalk()
    pd.testing.assert_frame_equal(rebuilt.reset_index(drop=True), shipped, check_dtype=False)


def test_gazetteer_is_process_wide(gaz: Gazetteer) -> None:
    assert get_gazetteer() is gaz
