"""/v1/figures and its text: verified only, sources per figure, Indonesian/English formats and time zones."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest

from services.core.aggregate import site_row
from services.core.figures_text import TLT, WIB, WIT, WITA, figure_sources, fmt_en, fmt_id, texts, zone_for_code
from services.core.scenario import data_file
from tests._api_factory import build_app, client, make_site, tl_geo
from tests.conftest import bearer


@pytest.mark.parametrize(("n", "id_", "en"), [(0, "0", "0"), (999, "999", "999"), (1234, "1.234", "1,234"),
                                              (1234567, "1.234.567", "1,234,567")])
def test_thousands_separators(n: int, id_: str, en: str) -> None:
    assert fmt_id(n) == id_ and fmt_en(n) == en


def test_every_province_of_the_gazetteer_has_its_zone() -> None:
    with data_file("wilayah_2025_gazetteer.csv").open(encoding="utf-8") as fh:
        provinces = [r["kode"] for r in csv.DictReader(fh) if r["level"] == "1"]
    assert len(provinces) == 38
    zones = {p: zone_for_code(p) for p in provinces}
    assert None not in zones.values()
    assert {p for p, z in zones.items() if z is WIT} == {"81", "82", "91", "92", "93", "94", "95", "96"}
    assert {p for p, z in zones.items() if z is WITA} == {"51", "52", "53", "63", "64", "65", "71", "72", "73",
                                                          "74", "75", "76"}
    assert zones["61"] is WIB and zones["62"] is WIB and zones["19"] is WIB and zones["21"] is WIB
    assert zone_for_code("72.71.01.1004") is WITA and zone_for_code("TL0601") is TLT and zone_for_code("tl06") is TLT


AS_OF = datetime(2018, 9, 29, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(("zone", "clock_id", "clock_en"), [
    (WIB, "pukul 13.00 WIB", "13:00 WIB (UTC+7)"), (WITA, "pukul 14.00 WITA", "14:00 WITA (UTC+8)"),
    (WIT, "pukul 15.00 WIT", "15:00 WIT (UTC+9)"),
    (TLT, "pukul 15.00 waktu Timor-Leste (UTC+9)", "15:00 Timor-Leste time (TLT, UTC+9)")])
def test_text_time_zones(zone, clock_id: str, clock_en: str) -> None:  # noqa: ANN001
    rows = [site_row(make_site(1, status="verified", figures={"affected": 1234, "dead": 4}))]
    t_id, t_en = texts(rows, figure_sources(rows), AS_OF, zone, "Kota Palu, Sulawesi Tengah", "earthquake")
    assert t_id.startswith(f"Per 29 September 2018 {clock_id}, gempa bumi di Kota Palu, Sulawesi Tengah: "
                           "1.234 jiwa terdampak dan 4 orang meninggal dunia.")
    assert "Sumber: 2 laporan kaji cepat terverifikasi dari 1 lokasi (PMI)." in t_id
    assert t_en.startswith(f"As of 29 September 2018, {clock_en}, earthquake in Kota Palu, Sulawesi Tengah: "
                           "1,234 people affected and 4 dead.")


def test_indonesian_month_names_and_date_rollover() -> None:
    rows = [site_row(make_site(1, status="verified", figures={"affected": 5}))]
    late = datetime(2024, 8, 16, 20, 30, tzinfo=UTC)  # 17 Agustus 05.30 WIT
    t_id, t_en = texts(rows, figure_sources(rows), late, WIT, None, None)
    assert "Per 17 Agustus 2024 pukul 05.30 WIT" in t_id and "17 August 2024, 05:30 WIT" in t_en


def test_no_verified_sites_says_so() -> None:
    t_id, t_en = texts([], figure_sources([]), AS_OF, WIB, "Kota Palu, Sulawesi Tengah", "flood")
    assert "belum ada angka terverifikasi untuk banjir" in t_id and "no verified figures yet for flood" in t_en


def test_figures_endpoint_counts_verified_only(auth_file) -> None:  # noqa: ANN001
    app = build_app(auth_file)
    with client(app) as c:
        r = c.get("/v1/figures", params={"area": "72.71", "hazard": "earthquake"}, headers=bearer("comms"))
        assert r.status_code == 200
        body = r.json()
        # 1200 + 34 verified; the unverified 5000, needs_review 777 and rejected 99,999 never count
        assert body["figures"]["affected"] == {"value": 1234, "sites": 2, "reports": 5}
        assert body["figures"]["dead"] == {"value": 4, "sites": 1, "reports": 2}
        assert body["figures"]["missing"] == {"value": None, "sites": 0, "reports": 0}
        assert body["sites"] == 2 and body["reports"] == 5 and body["time_zone"] == "WITA"
        assert body["area"] == {"code": "72.71", "name": "Kota Palu", "level": 2}
        assert body["text"]["id"].startswith("Per 29 September 2018 pukul 14.00 WITA, gempa bumi di Kota Palu, "
                                             "Sulawesi Tengah: 1.234 jiwa terdampak")
        assert "5000" not in r.text and "5.000" not in r.text and "777" not in r.text
        assert r.headers["x-siaga-as-of"].startswith("2018-09-29T06:00:00")

        tl = c.get("/v1/figures", params={"area": "TL06"}, headers=bearer("comms")).json()
        assert tl["time_zone"] == "TLT" and "waktu Timor-Leste" in tl["text"]["id"] and "(CVTL)" in tl["text"]["en"]
        papua = c.get("/v1/figures", params={"area": "91.71"}, headers=bearer("comms")).json()
        assert papua["time_zone"] == "WIT" and "pukul 15.00 WIT" in papua["text"]["id"]
        jkt = c.get("/v1/figures", params={"area": "31"}, headers=bearer("comms")).json()
        assert jkt["time_zone"] == "WIB" and "2.500 jiwa terdampak" in jkt["text"]["id"]
        forced = c.get("/v1/figures", params={"area": "72.71", "tz": "WIB"}, headers=bearer("comms")).json()
        assert "pukul 13.00 WIB" in forced["text"]["id"]


def test_tl_site_geo_helper_is_timor_leste() -> None:
    assert tl_geo().country == "TL"
