"""The FieldReport contract: what is accepted, what is refused, and that the refusal names the field."""

import math

import pytest
from pydantic import ValidationError

from schemas import FieldReport, Hazard
from services.cli import main as cli_main

BASE = {
    "report_id": "r-1",
    "submitted_at": "2018-09-29T14:05:00+08:00",
    "reporter": {"id": "vol-1", "name": "Siti", "phone": "+6281234"},
    "location": {"lat": -0.94, "lon": 119.89},
    "hazard": "flood",
}


def report(**changes) -> FieldReport:
    body = {**BASE, **changes}
    return FieldReport.model_validate(body)


@pytest.mark.parametrize(("alias", "hazard"), [
    ("banjir", Hazard.flood), ("Banjir Bandang", Hazard.flash_flood), ("tanah longsor", Hazard.landslide),
    ("gempa bumi", Hazard.earthquake), ("erupsi", Hazard.volcano), ("puting beliung", Hazard.storm),
    ("kekeringan", Hazard.drought), ("rai nakdoko", Hazard.earthquake), ("flash_flood", Hazard.flash_flood),
])
def test_hazard_aliases(alias: str, hazard: Hazard) -> None:
    assert report(hazard=alias).hazard is hazard


def errors_of(**changes) -> list[str]:
    with pytest.raises(ValidationError) as info:
        report(**changes)
    return [".".join(str(p) for p in e["loc"]) for e in info.value.errors()]


def test_refusals_name_the_field() -> None:
    assert "hazard" in errors_of(hazard="meteor")
    assert "location.lat" in errors_of(location={"lat": 91, "lon": 0})
    assert "location.lon" in errors_of(location={"lat": 0, "lon": math.nan})
    assert "figures.dead" in errors_of(figures={"dead": -1})
    assert "figures.affected" in errors_of(figures={"affected": 12.5})
    assert "submitted_at" in errors_of(submitted_at="2018-09-29T14:05:00")  # no offset
    assert "figures.hazards" in errors_of(figures={"hazards": 1})  # unknown fields are refused


def test_location_or_place_text_required() -> None:
    with pytest.raises(ValidationError, match="place_text"):
        report(location=None)
    assert report(location=None, place_text="Desa Petobo, Kota Palu").place_text


def test_content_hash_separates_resubmit_from_edit() -> None:
    assert report().content_hash() == report().content_hash()
    assert report().content_hash() != report(figures={"affected": 3}).content_hash()


def test_personal_data_is_removable() -> None:
    clean = report().without_personal_data()
    assert clean.reporter.name is None and clean.reporter.phone is None and clean.reporter.id == "vol-1"


def test_schemas_export(tmp_path) -> None:
    assert cli_main(["schemas", "export", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"FieldReport.schema.json", "Site.schema.json", "SocialMention.schema.json"} <= names
