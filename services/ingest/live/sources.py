"""One class per platform API: how to ask for the next page after a cursor, and what the answer means.

No loop, no Kafka and no sleeping here (services.ingest.live.poller does that): a source turns (cursor) into
(mentions, next cursor), and every failure into a `PollError` or `RateLimited` the poller knows how to wait on.
Payloads go through the same parsers as exports do (services.core.mentions.parsers), one item at a time, so
one post the parser cannot read is skipped and counted instead of blocking its page forever.
"""

from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlparse

import httpx

from schemas import SocialMention
from services.core.mentions.parsers import parse_mastodon, parse_telegram, parse_x
from services.ingest.live.backoff import RateLimited, until_reset
from services.ingest.live.cursors import Cursor

log = logging.getLogger("siaga.live")

USER_AGENT = "siaga-live/1 (Indonesian Red Cross disaster assessment)"


class PollError(Exception):
    """A request that produced nothing usable; `reason` is the metrics label (network, timeout, http_5xx,
    http_4xx, bad_response). Never carries a token: messages are built here, not copied from URLs."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class Page:
    """What one request brought: the mentions, the cursor to store once they are acknowledged (None: keep
    the current one), whether more is waiting (ask again at once), and how long the platform wants us to wait
    before the next request even though this one succeeded (its rate-limit window is used up)."""

    mentions: list[SocialMention]
    cursor: Cursor | None
    more: bool = False
    wait_s: float = 0.0
    skipped: int = 0  # items the parser could not read


class Source(ABC):
    """A stream of posts on one platform, with its own cursor (key `<platform>:<source>`)."""

    platform: str
    key: str
    interval_s: float  # wait between requests once caught up

    @abstractmethod
    async def fetch(self, http: httpx.AsyncClient, cursor: Cursor | None) -> Page:
        """The page after `cursor` (None: never polled). Raises PollError or RateLimited."""

    def redact(self, text: str) -> str:
        """Remove secrets from text that may end up in a log line."""
        return text

    async def _get(self, http: httpx.AsyncClient, url: str, params: dict[str, Any], headers: dict[str, str],
                   timeout: float | None = None) -> httpx.Response:
        kwargs: dict[str, Any] = {"params": params, "headers": {"User-Agent": USER_AGENT, **headers}}
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            resp = await http.get(url, **kwargs)
        except httpx.TimeoutException as err:
            raise PollError("timeout", f"{type(err).__name__}") from err
        except httpx.TransportError as err:  # refused, reset, DNS, TLS: the network, not the platform
            raise PollError("network", self.redact(f"{type(err).__name__}: {err}")) from err
        if resp.status_code == 429:
            raise RateLimited(self.rate_limit_delay(resp), f"429 from {self.platform}")
        if resp.status_code >= 500:
            raise PollError("http_5xx", f"HTTP {resp.status_code} from {self.platform}")
        if resp.status_code >= 400:
            raise PollError("http_4xx", f"HTTP {resp.status_code} from {self.platform}: "
                                        f"{self.redact(resp.text[:300])}")
        return resp

    def rate_limit_delay(self, resp: httpx.Response) -> float | None:
        """Seconds the platform asked us to wait in a 429; None when it did not say (back-off applies)."""
        retry_after = resp.headers.get("retry-after")
        if retry_after:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                return None
        return None


def _json(resp: httpx.Response, platform: str) -> Any:
    try:
        return resp.json()
    except ValueError as err:
        raise PollError("bad_response", f"{platform} answered with something that is not JSON") from err


def _parse_each(items: Iterable[Any], parse: Callable[[Any], list[SocialMention]], platform: str
                ) -> tuple[list[SocialMention], int]:
    """Parse item by item; one unreadable item is skipped (and counted), not the whole page."""
    out: list[SocialMention] = []
    skipped = 0
    for item in items:
        try:
            out.extend(parse(item))
        except Exception as err:  # a missing field, a wrong type: the platform changed or the item is odd
            skipped += 1
            item_id = item.get("id", item.get("update_id")) if isinstance(item, dict) else None
            log.warning("unparseable item skipped", extra={"platform": platform, "item_id": item_id,
                                                           "error": f"{type(err).__name__}: {err}"})
    return out, skipped


def _max_id(ids: Iterable[str | int]) -> str | None:
    """Newest of a page's ids. X and Mastodon ids are snowflakes (digit strings too big for a float); by length,
    then by text, orders them as numbers and also orders the base62 ids some Mastodon-compatible servers use."""
    keys = [str(i) for i in ids if str(i)]
    return max(keys, key=lambda k: (len(k), k)) if keys else None


# -- X API v2 recent search ----------------------------------------------------------------------------------

X_TWEET_FIELDS = "created_at,geo,lang,author_id,entities,public_metrics,conversation_id,possibly_sensitive"
X_PLACE_FIELDS = "geo,full_name,name,country_code,place_type"


class XRecentSearch(Source):
    """`GET /2/tweets/search/recent` with `since_id`.

    X returns newest first, and `next_token` walks back towards `since_id`. While walking, the cursor keeps the
    old `since_id` plus the walk's position and the newest id seen; only when the walk reaches `since_id` does
    `since_id` move to that newest id. So a restart mid-walk resumes the walk rather than leaving a gap. A
    first start (no cursor) takes the newest page only: backfilling seven days of a busy query would spend a
    month of a basic plan's read cap in minutes.
    """

    platform = "x"

    def __init__(self, base_url: str, bearer_token: str, query: str, interval_s: float,
                 max_results: int = 100) -> None:
        self.url = base_url.rstrip("/") + "/2/tweets/search/recent"
        self.token = bearer_token
        self.query = query
        self.interval_s = interval_s
        self.max_results = max_results
        # Per query: a new query is a new stream (its own first page), not the old one's since_id.
        self.key = f"x:search:{hashlib.sha256(query.encode()).hexdigest()[:12]}"

    def redact(self, text: str) -> str:
        return text.replace(self.token, "***")

    def rate_limit_delay(self, resp: httpx.Response) -> float | None:
        return until_reset(resp.headers.get("x-rate-limit-reset")) or super().rate_limit_delay(resp)

    async def fetch(self, http: httpx.AsyncClient, cursor: Cursor | None) -> Page:
        cursor = cursor or {}
        since, walking, newest_seen = cursor.get("since_id"), cursor.get("next_token"), cursor.get("newest_id")
        params: dict[str, Any] = {"query": self.query, "max_results": self.max_results,
                                  "expansions": "geo.place_id", "tweet.fields": X_TWEET_FIELDS,
                                  "place.fields": X_PLACE_FIELDS}
        if since:
            params["since_id"] = since
        if walking:
            params["next_token"] = walking
        resp = await self._get(http, self.url, params, {"Authorization": f"Bearer {self.token}"})
        payload = _json(resp, self.platform)
        if not isinstance(payload, dict):
            raise PollError("bad_response", "X answer is not an object")
        tweets = payload.get("data") or []
        includes = payload.get("includes") or {}
        mentions, skipped = _parse_each(tweets, lambda t: parse_x({"data": [t], "includes": includes}), "x")
        meta = payload.get("meta") or {}
        newest = newest_seen or meta.get("newest_id") or _max_id(t["id"] for t in tweets if "id" in t)
        if meta.get("next_token") and since:
            nxt: Cursor = {"since_id": since, "next_token": meta["next_token"], "newest_id": newest}
            more = True
        else:
            nxt = {"since_id": newest or since} if (newest or since) else {}
            more = False
        wait = 0.0
        if resp.headers.get("x-rate-limit-remaining") == "0":  # the window is spent: the next call would be a 429
            wait = until_reset(resp.headers.get("x-rate-limit-reset")) or 0.0
        return Page(mentions, nxt or None, more=more, wait_s=wait, skipped=skipped)


# -- Telegram Bot API getUpdates -----------------------------------------------------------------------------

TELEGRAM_UPDATES = ["message", "channel_post", "edited_message", "edited_channel_post"]


class TelegramUpdates(Source):
    """`getUpdates` long polling with `offset` = last update_id + 1.

    Telegram keeps an update until a later call's offset confirms it, so the offset is only sent once the
    update's mentions were acknowledged by Kafka: a crash before that gets the same updates again.
    Updates without text or location (stickers) still move the offset.
    """

    platform = "telegram"

    def __init__(self, base_url: str, bot_token: str, long_poll_s: int, interval_s: float = 0.0,
                 limit: int = 100) -> None:
        self.token = bot_token
        self.url = f"{base_url.rstrip('/')}/bot{bot_token}/getUpdates"
        self.long_poll_s = long_poll_s
        # Long polling is the wait; without it (long_poll_s = 0) ask at most once a second.
        self.interval_s = interval_s if interval_s or long_poll_s else 1.0
        self.limit = limit
        # The bot id (before the ':') is public; the secret part never leaves this object.
        self.key = f"telegram:bot{bot_token.split(':', 1)[0]}"

    def redact(self, text: str) -> str:
        return text.replace(self.token, "***")

    def rate_limit_delay(self, resp: httpx.Response) -> float | None:
        try:
            retry_after = (resp.json().get("parameters") or {}).get("retry_after")
        except (ValueError, AttributeError):
            retry_after = None
        if isinstance(retry_after, int | float):
            return float(retry_after)
        return super().rate_limit_delay(resp)

    async def fetch(self, http: httpx.AsyncClient, cursor: Cursor | None) -> Page:
        params: dict[str, Any] = {"timeout": self.long_poll_s, "limit": self.limit,
                                  "allowed_updates": json.dumps(TELEGRAM_UPDATES)}
        if cursor and cursor.get("offset") is not None:
            params["offset"] = cursor["offset"]
        # The HTTP timeout must outlast the long poll, or every quiet period reads as a network error.
        resp = await self._get(http, self.url, params, {}, timeout=self.long_poll_s + 15)
        payload = _json(resp, self.platform)
        if not isinstance(payload, dict) or not payload.get("ok") or not isinstance(payload.get("result"), list):
            ok = payload.get("ok") if isinstance(payload, dict) else None
            raise PollError("bad_response", f"Telegram answered ok={ok} without a list of updates")
        updates = payload["result"]
        mentions, skipped = _parse_each(updates, parse_telegram, "telegram")
        ids = [u["update_id"] for u in updates if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
        nxt = {"offset": max(ids) + 1} if ids else None
        return Page(mentions, nxt, more=len(updates) >= self.limit, skipped=skipped)


# -- Mastodon timelines -------------------------------------------------------------------------------------


class MastodonTimeline(Source):
    """`GET /api/v1/timelines/tag/:hashtag` (or `/api/v1/timelines/public`), paged forward with `min_id`.

    `min_id` rather than `since_id`: both return posts newer than the id, but `since_id` gives the newest
    page, so a burst of more than a page between two polls loses its older part; `min_id` gives the page
    right after the cursor, and asking again walks forward without a gap. A first start takes the newest page.
    """

    platform = "mastodon"

    def __init__(self, base_url: str, hashtag: str | None, token: str | None, interval_s: float,
                 limit: int = 40) -> None:
        base = base_url.rstrip("/")
        self.hashtag = hashtag
        self.token = token
        self.interval_s = interval_s
        self.limit = limit
        host = urlparse(base).netloc or base
        if hashtag:
            self.url = f"{base}/api/v1/timelines/tag/{quote(hashtag, safe='')}"
            self.key = f"mastodon:{host}:tag:{hashtag.lower()}"
        else:
            self.url = f"{base}/api/v1/timelines/public"
            self.key = f"mastodon:{host}:public"

    def redact(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text

    def rate_limit_delay(self, resp: httpx.Response) -> float | None:
        return until_reset(resp.headers.get("x-ratelimit-reset")) or super().rate_limit_delay(resp)

    async def fetch(self, http: httpx.AsyncClient, cursor: Cursor | None) -> Page:
        params: dict[str, Any] = {"limit": self.limit}
        if cursor and cursor.get("min_id"):
            params["min_id"] = cursor["min_id"]
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        resp = await self._get(http, self.url, params, headers)
        statuses = _json(resp, self.platform)
        if not isinstance(statuses, list):
            raise PollError("bad_response", "Mastodon timeline is not a list")
        mentions, skipped = _parse_each(statuses, parse_mastodon, "mastodon")
        newest = _max_id(s["id"] for s in statuses if isinstance(s, dict) and s.get("id"))
        wait = 0.0
        if resp.headers.get("x-ratelimit-remaining") == "0":
            wait = until_reset(resp.headers.get("x-ratelimit-reset")) or 0.0
        return Page(mentions, {"min_id": newest} if newest else None, more=len(statuses) >= self.limit,
                    wait_s=wait, skipped=skipped)
