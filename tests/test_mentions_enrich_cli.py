"""Enrichment end to end, and `siaga geoparse` on a CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from schemas.mention import MentionEnriched
from services.cli import main
from services.core.mentions import parsers, relevance
from services.core.mentions.enrich import enrich_mentions
from services.core.mentions.parsers import parse_payload

FIX = Path(__file__).parent / "fixtures" / "mentions"


@pytest.fixture(scope="module", autouse=True)
def _rules_only() -> None:
    """Rules-only keeps these tests independent of the (absent or present) training data."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SIAGA_AUTHOR_KEY", "test-key")
    parsers.reset_author_key()
    relevance.set_model(relevance.RelevanceModel(None))
    yield
    relevance.set_model(None)
    mp.undo()
    parsers.reset_author_key()


def test_enrich_fixture_mentions() -> None:
    mentions = [m for name in ("x_tweets_v2.json", "telegram_updates.json", "mastodon_statuses.json")
                for m in parse_payload(json.loads((FIX / name).read_text()))]
    out = enrich_mentions(mentions)
    assert len(out) == len(mentions)
    by_id = {e.mention.id: e for e in out}
    for e in out:
        MentionEnriched.model_validate(e.model_dump())  # built without validation: must still be valid
    x1 = by_id["x:1760000000000000001"]
    assert x1.hazard == "flood" and x1.relevant and x1.language == "id"
    assert x1.geo.adm4 == "31.73.01.1005" and x1.geo_source == "text"  # Kel. Kapuk, Kec. Cengkareng
    assert "@" not in x1.normalised_text and "http" not in x1.normalised_text
    semeru = by_id["x:1760000000000000002"]
    assert semeru.hazard == "volcano" and semeru.geo.adm2_name == "Kabupaten Lumajang"
    dili = by_id["telegram:111222333:512"]
    assert dili.language == "tet" and dili.hazard == "flood" and dili.geo.country == "TL"
    flores = by_id["telegram:-1001234567890:88"]
    assert flores.hazard == "flash_flood" and flores.geo.adm2_name == "Kabupaten Flores Timur"
    assert all(e.relevance_method == "rules" for e in out)


def test_point_used_when_text_names_nothing() -> None:
    from datetime import UTC, datetime

    from schemas.mention import SocialMention

    m = SocialMention(id="x:1", platform="x", text="air naik terus, tolong", created_at=datetime.now(UTC),
                      point={"lat": -6.1429, "lon": 106.7352})
    e = enrich_mentions([m])[0]
    assert e.geo_source == "point" and e.geo.adm2 == "31.73" and e.geoparse_confidence == 0.0


def test_cli_geoparse(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    with src.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "source"])
        w.writerow(["1", "Banjir di Kel. Kapuk Kec. Cengkareng setinggi lutut, warga mengungsi", "qlue"])
        w.writerow(["2", "Gunung Semeru erupsi lagi, awan panas guguran", "x"])
        w.writerow(["3", "pendakian minggu depan seru bgt wkwk", "x"])
    out = tmp_path / "out.csv"
    assert main(["geoparse", str(src), "-o", str(out), "-q"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == ["1", "2", "3"] and rows[0]["source"] == "qlue"
    assert rows[0]["hazard"] == "flood" and rows[0]["relevant"] == "1" and rows[0]["adm2"] == "31.73"
    assert rows[0]["adm4"] == "31.73.01.1005" and float(rows[0]["geoparse_confidence"]) > 0.5
    assert rows[1]["hazard"] == "volcano" and rows[1]["adm2"] == "35.08"
    assert rows[2]["hazard"] == "" and rows[2]["relevant"] == "0" and rows[2]["adm1"] == ""


def test_cli_needs_text_column(tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    src.write_text("id,body\n1,x\n")
    assert main(["geoparse", str(src), "-q"]) == 2
