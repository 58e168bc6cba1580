"""Platform payloads (in each platform's documented shape) into SocialMention, without leaking handles."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.core.mentions import parsers
from services.core.mentions.parsers import (
    author_pseudonym,
    html_to_text,
    parse_mastodon,
    parse_payload,
    parse_telegram,
    parse_x,
)

FIX = Path(__file__).parent / "fixtures" / "mentions"


def _load(name: str) -> object:
    return json.loads((FIX / name).read_text())


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIAGA_AUTHOR_KEY", "test-key")
    parsers.reset_author_key()
    yield
    parsers.reset_author_key()


def test_x_points_places_and_pseudonyms() -> None:
    ms = parse_x(_load("x_tweets_v2.json"))
    assert [m.id for m in ms] == ["x:1760000000000000001", "x:1760000000000000002", "x:1760000000000000003"]
    first, second, third = ms
    assert (first.point.lon, first.point.lat) == (106.7352, -6.1429)  # GeoJSON order is lon, lat
    assert first.created_at == datetime(2017, 2, 21, 1, 15, tzinfo=UTC)
    assert first.language == "in" and first.raw["hashtags"] == ["banjirjakarta"]
    assert second.point is not None and second.point.accuracy_m < 25_000  # city box centre
    assert abs(second.point.lon - 113.2) < 1e-9
    assert third.point is None  # a country-sized box is no location
    assert third.raw["place"]["place_type"] == "country"
    dumped = json.dumps([m.model_dump(mode="json") for m in ms])
    for personal in ("2244994945", "budi_s", "Budi Santoso"):
        assert personal not in dumped
    assert first.author == author_pseudonym("x", "2244994945") and first.author.startswith("a:")
    assert "/i/web/status/" in first.url


def test_telegram_location_caption_and_skips() -> None:
    ms = parse_telegram(_load("telegram_updates.json"))
    assert len(ms) == 2  # the sticker-only update carries nothing to read
    dili, channel = ms
    assert dili.id == "telegram:111222333:512" and dili.point.lat == -8.5569 and dili.point.accuracy_m == 25
    assert dili.created_at == datetime.fromtimestamp(1586000000, tz=UTC)
    assert dili.url is None  # a private chat has no public link
    assert channel.text.startswith("Banjir bandang") and channel.url == "https://t.me/infobencana_ntt/88"
    dumped = json.dumps([m.model_dump(mode="json") for m in ms])
    assert "maria_dili" not in dumped and "Maria" not in dumped


def test_mastodon_html_and_boosts() -> None:
    original, boost = parse_mastodon(_load("mastodon_statuses.json"))
    assert "<" not in original.text and "Agam & Tanah Datar" in original.text
    assert "bnpb.go.id/berita" in original.text and "https://bnpb" not in original.text  # invisible
    assert original.id == "mastodon:mastodon.social:111234567890123456"
    assert boost.id == original.id and boost.author == original.author  # a boost is the boosted post
    assert original.language == "id" and original.raw["hashtags"] == ["banjirlahar"]
    assert "relawan" not in json.dumps(original.model_dump(mode="json", exclude={"url"}))


def test_html_to_text_paragraphs() -> None:
    assert html_to_text("<p>a</p><p>b<br>c</p>") == "a\n\nb\nc"


def test_key_changes_pseudonym(monkeypatch: pytest.MonkeyPatch) -> None:
    a = author_pseudonym("x", "42")
    monkeypatch.setenv("SIAGA_AUTHOR_KEY", "another-key")
    parsers.reset_author_key()
    assert author_pseudonym("x", "42") != a
    assert author_pseudonym("telegram", "42") != author_pseudonym("x", "42")
    assert author_pseudonym("x", None) is None


def test_parse_payload_detects_platform() -> None:
    assert parse_payload(_load("x_tweets_v2.json"))[0].platform == "x"
    assert parse_payload(_load("telegram_updates.json"))[0].platform == "telegram"
    assert parse_payload(_load("mastodon_statuses.json"))[0].platform == "mastodon"
    with pytest.raises(ValueError):
        parse_payload({"foo": 1})
