"""Write `rapid_assessment.xlsx`, the XLSForm volunteers fill in ODK Collect, KoBoCollect or Enketo.

The spreadsheet is committed; this script is its source. Run it after changing a question and bump VERSION
(phones only download a form whose version changed):

    .venv/bin/python -m services.ingest.forms.make_rapid_assessment

Hazard and need codes come from `schemas.common` so the form cannot drift from FieldReport v1. Field names are
the contract with `services/ingest/openrosa_xml.py`, which turns a submission back into a FieldReport.
"""

from __future__ import annotations

from pathlib import Path

from schemas.common import FIGURE_NAMES, Hazard, Need

FORM_ID = "siaga_rapid_assessment"
VERSION = "2026112801"
HERE = Path(__file__).resolve().parent
XLSX = HERE / "rapid_assessment.xlsx"

EN, ID = "English (en)", "Bahasa Indonesia (id)"
SURVEY_COLUMNS = [
    "type", "name", f"label::{EN}", f"label::{ID}", f"hint::{EN}", f"hint::{ID}", "required",
    f"required_message::{EN}", f"required_message::{ID}", "relevant", "constraint",
    f"constraint_message::{EN}", f"constraint_message::{ID}", "appearance", "parameters",
]

HAZARD_LABELS: dict[Hazard, tuple[str, str]] = {
    Hazard.flood: ("Flood", "Banjir"),
    Hazard.flash_flood: ("Flash flood", "Banjir bandang"),
    Hazard.landslide: ("Landslide", "Tanah longsor"),
    Hazard.earthquake: ("Earthquake", "Gempa bumi"),
    Hazard.tsunami: ("Tsunami", "Tsunami"),
    Hazard.volcano: ("Volcanic eruption", "Erupsi gunung api"),
    Hazard.fire: ("Fire", "Kebakaran"),
    Hazard.storm: ("Storm, strong wind", "Angin kencang, puting beliung"),
    Hazard.drought: ("Drought", "Kekeringan"),
    Hazard.other: ("Other", "Lainnya"),
}
NEED_LABELS: dict[Need, tuple[str, str]] = {
    Need.food: ("Food", "Makanan"),
    Need.water: ("Clean water", "Air bersih"),
    Need.shelter: ("Shelter", "Hunian sementara, tenda"),
    Need.health: ("Health care, medicine", "Layanan kesehatan, obat"),
    Need.sanitation: ("Sanitation, toilets", "Sanitasi, jamban"),
    Need.clothing: ("Clothing, blankets", "Pakaian, selimut"),
    Need.evacuation: ("Evacuation", "Evakuasi"),
    Need.psychosocial: ("Psychosocial support", "Dukungan psikososial"),
    Need.other: ("Other", "Lainnya"),
}
FIGURE_LABELS: dict[str, tuple[str, str]] = {
    "affected": ("People affected", "Jumlah orang terdampak"),
    "dead": ("Dead", "Meninggal dunia"),
    "injured": ("Injured", "Luka-luka"),
    "missing": ("Missing", "Hilang"),
    "displaced": ("Displaced (left their homes)", "Mengungsi"),
    "houses_damaged": ("Houses damaged", "Rumah rusak"),
}
COUNT_CONSTRAINT = ". >= 0 and . <= 10000000"


def q(type_: str, name: str, en: str = "", id_: str = "", **cols: str) -> dict[str, str]:
    return {"type": type_, "name": name, f"label::{EN}": en, f"label::{ID}": id_, **cols}


def survey_rows() -> list[dict[str, str]]:
    rows = [
        q("start", "start"), q("end", "end"), q("username", "username"), q("deviceid", "deviceid"),
        q("begin_group", "place", "Where", "Lokasi", appearance="field-list"),
        q("geopoint", "gps", "GPS location of the site", "Lokasi GPS",
          **{f"hint::{EN}": "Stand at the site and wait for a good fix. No GPS? Leave it and fill in the names.",
             f"hint::{ID}": "Berdiri di lokasi dan tunggu akurasi baik. Tidak ada GPS? Lewati dan isi nama tempat."}),
        q("text", "village", "Village (desa / kelurahan)", "Desa / Kelurahan"),
        q("text", "district", "District (kecamatan)", "Kecamatan"),
        q("text", "regency", "Regency or city (kabupaten / kota)", "Kabupaten / Kota", required="${gps} = ''",
          **{f"required_message::{EN}": "Without GPS, give at least the regency or city.",
             f"required_message::{ID}": "Tanpa GPS, isi setidaknya kabupaten atau kota."}),
        q("text", "province", "Province (provinsi / município)", "Provinsi"),
        q("end_group", ""),
        q("select_one hazard", "hazard", "Hazard", "Jenis bencana", required="yes"),
        q("text", "hazard_other", "Which hazard?", "Bencana apa?", relevant="${hazard} = 'other'"),
        q("dateTime", "observed", "When did you see this? (leave empty: now)",
          "Kapan Anda melihat ini? (kosongkan: sekarang)"),
        q("begin_group", "figures", "People and houses (leave empty if unknown)",
          "Orang dan rumah (kosongkan jika tidak tahu)", appearance="field-list"),
    ]
    for name in FIGURE_NAMES:
        en, id_ = FIGURE_LABELS[name]
        rows.append(q("integer", name, en, id_, constraint=COUNT_CONSTRAINT,
                      **{f"constraint_message::{EN}": "A whole number, 0 or more.",
                         f"constraint_message::{ID}": "Bilangan bulat, 0 atau lebih."}))
    rows += [
        q("end_group", ""),
        q("select_multiple need", "needs", "Most urgent needs", "Kebutuhan paling mendesak"),
        q("image", "photo_1", "Photo", "Foto", appearance="new", parameters="max-pixels=1280"),
        q("image", "photo_2", "Another photo", "Foto lain", appearance="new", parameters="max-pixels=1280",
          relevant="${photo_1} != ''"),
        q("text", "org", "Your organisation (e.g. PMI Kota Palu, CVTL Dili)",
          "Organisasi Anda (mis. PMI Kota Palu, CVTL Dili)"),
        q("text", "notes", "Notes", "Catatan", appearance="multiline"),
    ]
    return rows


def choice_rows() -> list[dict[str, str]]:
    rows = [{"list_name": "hazard", "name": h.value, f"label::{EN}": en, f"label::{ID}": id_}
            for h, (en, id_) in HAZARD_LABELS.items()]
    rows += [{"list_name": "need", "name": n.value, f"label::{EN}": en, f"label::{ID}": id_}
             for n, (en, id_) in NEED_LABELS.items()]
    return rows


SETTINGS = {
    "form_title": "Siaga rapid assessment / Kajian cepat",
    "form_id": FORM_ID,
    "version": VERSION,
    "name": "rapid_assessment",
    "default_language": EN,
    "instance_name": "concat(${hazard}, ' ', ${regency}, ' ', ${end})",
}


def write(path: Path = XLSX) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    sheets = (("survey", SURVEY_COLUMNS, survey_rows()),
              ("choices", ["list_name", "name", f"label::{EN}", f"label::{ID}"], choice_rows()),
              ("settings", list(SETTINGS), [SETTINGS]))
    wb.remove(wb.active)
    for title, columns, rows in sheets:
        ws = wb.create_sheet(title)
        ws.append(columns)
        for row in rows:
            unknown = set(row) - set(columns)
            assert not unknown, f"{title}: columns {unknown} not declared"
            ws.append([row.get(c) or None for c in columns])
    # Fixed workbook timestamps keep the committed file byte-stable when nothing changed.
    import datetime as _dt

    wb.properties.created = wb.properties.modified = _dt.datetime(2026, 1, 1)
    wb.save(path)
    return path


if __name__ == "__main__":
    print(write())
