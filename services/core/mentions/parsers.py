"""Parse real platform payloads into SocialMention: X API v2, Telegram Bot API, Mastodon.

Privacy decisions (documented in the report to the lead, applied here):
- `author` is HMAC-SHA256 over "<platform>:<stable account id>" with the key in `$SIAGA_AUTHOR_KEY`. A
  keyed hash, not a plain one: handles are guessable, so an unkeyed hash could be reversed by hashing a list
  of handles. The dev default key below is public and marked as such; production must set its own.
  The same person gets the same pseudonym within a deployment (needed to spot one account flooding a
  region), and different pseudonyms across deployments with different keys.
- `raw` keeps a WHITELIST of non-personal fields (ids, language, place, public counts, hashtags), never
  the payload minus a few fields: a blacklist silently leaks whatever field a platform adds next.
- `text` is kept as posted (reviewers need it); @handles inside it are removed from the normalised text.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import warnings
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlparse

from schemas.common import GeoPoint
from schemas.mention import Platform, SocialMention

DEV_AUTHOR_KEY = "siaga-dev-author-key-NOT-SECRET"
_MAX_TEXT = 10_000
_MAX_BBOX_RADIUS_M = 25_000  # a place box wider than a city says little about where the event is


def _author_key() -> bytes:
    key = os.environ.get("SIAGA_AUTHOR_KEY")
    if not key:
        warnings.warn("SIAGA_AUTHOR_KEY not set: using the public development key", stacklevel=3)
        key = DEV_AUTHOR_KEY
    return key.encode()


_KEY: bytes | None = None


def author_pseudonym(platform: str, account_id: str | int | None) -> str | None:
    """Keyed hash of a platform account id: stable within a deployment, not reversible without the key."""
    global _KEY
    if account_id is None or account_id == "":
        return None
    if _KEY is None:
        _KEY = _author_key()
    digest = hmac.new(_KEY, f"{platform}:{str(account_id).lower()}".encode(), hashlib.sha256).hexdigest()
    return f"a:{digest[:32]}"


_PSEUDONYM = re.compile(r"^a:[0-9a-f]{32}$")


def pseudonymised(m: SocialMention) -> SocialMention:
    """The mention with its author as a pseudonym, whatever a client sent: a handle never reaches Kafka.
    An author that already is one of our pseudonyms is kept (parsers and re-submissions)."""
    if m.author is None or _PSEUDONYM.match(m.author):
        return m
    return m.model_copy(update={"author": author_pseudonym(m.platform, m.author)})


def reset_author_key() -> None:
    """Re-read `$SIAGA_AUTHOR_KEY` (tests, key rotation)."""
    global _KEY
    _KEY = None


def _dt(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    s = str(value).replace("Z", "+00:00")
    dt = datetime.fromisoformat(s)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _pick(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: d[k] for k in keys if k in d and d[k] is not None}


# -- X API v2 ------------------------------------------------------------------------------------------------

def _bbox_point(bbox: list[float]) -> GeoPoint | None:
    """Centre of an X place box [west, south, east, north], with its half-diagonal as accuracy; None if the
    box is a province or a country (a centre there would be a made-up location)."""
    if len(bbox) != 4:
        return None
    w, s, e, n = (float(v) for v in bbox)
    lat, lon = (s + n) / 2, (w + e) / 2
    dy = (n - s) * 111_320 / 2
    dx = (e - w) * 111_320 * math.cos(math.radians(lat)) / 2
    radius = math.hypot(dx, dy)
    if radius > _MAX_BBOX_RADIUS_M:
        return None
    return GeoPoint(lat=lat, lon=lon, accuracy_m=round(radius, 1))


def parse_x(payload: dict[str, Any]) -> list[SocialMention]:
    """X API v2 response: `data` (one tweet or a list) with `includes.places` for `geo.place_id`."""
    data = payload.get("data", payload if "text" in payload else [])
    tweets = data if isinstance(data, list) else [data]
    places = {p["id"]: p for p in payload.get("includes", {}).get("places", []) if "id" in p}
    out = []
    for t in tweets:
        geo = t.get("geo") or {}
        point = None
        coords = (geo.get("coordinates") or {}).get("coordinates")
        if coords and len(coords) == 2:
            point = GeoPoint(lon=float(coords[0]), lat=float(coords[1]))
        place = places.get(geo.get("place_id", ""))
        if point is None and place and place.get("geo", {}).get("bbox"):
            point = _bbox_point(place["geo"]["bbox"])
        raw: dict[str, Any] = _pick(t, "id", "lang", "conversation_id", "public_metrics",
                                    "possibly_sensitive")
        hashtags = [h.get("tag") for h in (t.get("entities") or {}).get("hashtags", []) if h.get("tag")]
        if hashtags:
            raw["hashtags"] = hashtags
        if place:
            raw["place"] = _pick(place, "full_name", "name", "country_code", "place_type")
        out.append(SocialMention(
            id=f"x:{t['id']}", platform="x", author=author_pseudonym("x", t.get("author_id")),
            text=t.get("text", "")[:_MAX_TEXT], created_at=_dt(t["created_at"]),
            # The i/web/status form needs no handle, so the URL does not leak one.
            url=f"https://x.com/i/web/status/{t['id']}", language=t.get("lang"), point=point, raw=raw))
    return out


# -- Telegram Bot API --------------------------------------------------------------------------------

_TG_KINDS = ("message", "channel_post", "edited_message", "edited_channel_post")


def parse_telegram(update: dict[str, Any]) -> list[SocialMention]:
    """A Bot API Update (or a list of them, as getUpdates returns in `result`)."""
    if "result" in update and isinstance(update["result"], list):
        return [m for u in update["result"] for m in parse_telegram(u)]
    kind = next((k for k in _TG_KINDS if k in update), None)
    if kind is None:
        return []
    msg = update[kind]
    text = msg.get("text") or msg.get("caption") or ""
    loc = msg.get("location")
    if loc is None and msg.get("venue"):
        loc = msg["venue"].get("location")
    point = None
    if loc:
        acc = loc.get("horizontal_accuracy")
        point = GeoPoint(lat=loc["latitude"], lon=loc["longitude"],
                         accuracy_m=min(float(acc), 100_000) if acc is not None else None)
    if not text and point is None:
        return []
    chat = msg.get("chat") or {}
    sender = msg.get("from") or msg.get("sender_chat") or {}
    url = None
    if chat.get("type") in ("channel", "supergroup") and chat.get("username"):
        url = f"https://t.me/{chat['username']}/{msg['message_id']}"  # a public channel, not a person
    raw = {"update_id": update.get("update_id"), "kind": kind, "message_id": msg.get("message_id"),
           "chat_type": chat.get("type")}
    if msg.get("edit_date"):
        raw["edit_date"] = msg["edit_date"]
    return [SocialMention(
        id=f"telegram:{chat.get('id')}:{msg['message_id']}", platform="telegram",
        author=author_pseudonym("telegram", sender.get("id")), text=text[:_MAX_TEXT],
        created_at=_dt(msg["date"]), url=url, language=None, point=point,
        raw={k: v for k, v in raw.items() if v is not None})]


# -- Mastodon ----------------------------------------------------------------------------------------------

class _HtmlText(HTMLParser):
    """Status HTML to text: paragraphs and <br> become newlines; invisible link parts are dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "span" and ("class", "invisible") in attrs or self._hidden and tag == "span":
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n\n")
        elif tag == "span" and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(content: str) -> str:
    p = _HtmlText()
    p.feed(content or "")
    p.close()
    return "".join(p.parts).strip()


def parse_mastodon(status: dict[str, Any] | list[dict[str, Any]]) -> list[SocialMention]:
    """A status (or a list, as timelines return). A boost is parsed as the boosted status."""
    if isinstance(status, list):
        return [m for s in status for m in parse_mastodon(s)]
    s = status.get("reblog") or status
    text = html_to_text(s.get("content", ""))
    if s.get("spoiler_text"):
        text = f"{s['spoiler_text']}\n{text}"
    url = s.get("url") or s.get("uri")
    host = urlparse(s.get("uri") or url or "").netloc or "unknown"
    account = s.get("account") or {}
    acct = account.get("acct") or ""
    if acct and "@" not in acct:
        acct = f"{acct}@{host}"  # local accounts have no domain in acct; make the pseudonym instance-wide
    raw = _pick(s, "id", "language", "visibility", "sensitive", "replies_count", "reblogs_count",
                "favourites_count")
    tags = [t.get("name") for t in s.get("tags", []) if t.get("name")]
    if tags:
        raw["hashtags"] = tags
    return [SocialMention(
        id=f"mastodon:{host}:{s['id']}", platform="mastodon",
        author=author_pseudonym("mastodon", acct or None),
        text=text[:_MAX_TEXT], created_at=_dt(s["created_at"]), url=url, language=s.get("language"),
        point=None, raw=raw)]


_PARSERS = {"x": parse_x, "telegram": parse_telegram, "mastodon": parse_mastodon}


def detect_platform(payload: Any) -> Platform | None:
    """Guess the platform from the payload's shape (for files of mixed exports)."""
    if isinstance(payload, list):
        return detect_platform(payload[0]) if payload else None
    if not isinstance(payload, dict):
        return None
    if "update_id" in payload or any(k in payload for k in _TG_KINDS) or (
            isinstance(payload.get("result"), list) and payload.get("ok") is not None):
        return "telegram"
    if "account" in payload and "content" in payload:
        return "mastodon"
    if "data" in payload or ("text" in payload and "edit_history_tweet_ids" in payload):
        return "x"
    return None


def parse_payload(payload: Any, platform: str | None = None) -> list[SocialMention]:
    """Any supported payload to mentions; raises ValueError when the shape is not recognised."""
    name = platform or detect_platform(payload)
    if name not in _PARSERS:
        raise ValueError(f"unrecognised social media payload (platform={platform!r})")
    return _PARSERS[name](payload)
