"""Live platform clients against a real local HTTP server and the session's real Kafka broker.

The server speaks each platform's documented shapes (built from tests/fixtures/mentions): X API v2 recent
search with since_id and next_token, Telegram getUpdates with offset and long polling, Mastodon tag timelines
with min_id. What is checked: mentions land on mentions.raw keyed by id with pseudonymised authors; the
cursor survives a restart (the server sees the stored since_id / offset / min_id, nothing is fetched from the
start again); 429s are waited out for as long as each platform says, 5xx and dropped connections are backed
off and recovered from; the cursor does not move when Kafka refuses a page; nothing runs without credentials
(and the deployed `--keep-running` command then stays up, serving /healthz and the metrics on one port).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from prometheus_client import REGISTRY

from services.common.config import Settings
from services.common.kafka_io import AsyncProducer, KafkaUnavailable
from services.core.mentions import parsers
from services.ingest.live.backoff import Backoff, until_reset
from services.ingest.live.runner import LiveClients
from services.ingest.live.web import Heartbeat, serve
from tests.kafka_utils import read_topic

pytestmark = pytest.mark.kafka

FIX = Path(__file__).parent / "fixtures" / "mentions"
REPO = Path(__file__).resolve().parents[1]


def _fixture(name: str) -> Any:
    return json.loads((FIX / name).read_text())


X_FIX = _fixture("x_tweets_v2.json")
TG_FIX = _fixture("telegram_updates.json")
MASTO_FIX = _fixture("mastodon_statuses.json")


@dataclass
class Seen:
    platform: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)
    wall: float = field(default_factory=time.time)


class FakePlatforms:
    """X, Telegram and Mastodon on one local port. `script[platform]` holds answers given before the normal
    ones: (status, headers, json body), a function returning one (evaluated when the request comes), "drop"
    (close the connection without answering) or "pass" (the normal answer)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.tweets: list[dict] = []
        self.updates: list[dict] = []
        self.statuses: dict[str, list[dict]] = defaultdict(list)
        self.script: dict[str, deque] = defaultdict(deque)
        self.seen: list[Seen] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def requests(self, platform: str) -> list[Seen]:
        return [s for s in self.seen if s.platform == platform]

    def add(self, attr: str, items: list[dict], tag: str | None = None) -> None:
        with self.cond:
            (self.statuses[tag] if tag else getattr(self, attr)).extend(items)
            self.cond.notify_all()

    # -- the platforms ---------------------------------------------------------------------------------------

    def x(self, params: dict[str, str], path: str) -> tuple[int, dict, Any]:
        since = int(params.get("since_id", 0))
        size = int(params.get("max_results", 10))
        newer = sorted((t for t in self.tweets if int(t["id"]) > since), key=lambda t: -int(t["id"]))
        start = int(params["next_token"].split(":")[1]) if "next_token" in params else 0
        page = newer[start:start + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
        if start + size < len(newer):
            meta["next_token"] = f"p:{start + size}"
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = page
            body["includes"] = {"places": X_FIX["includes"]["places"], "users": X_FIX["includes"]["users"]}
        return 200, {"x-rate-limit-remaining": "299", "x-rate-limit-reset": str(int(time.time()) + 900)}, body

    def telegram(self, params: dict[str, str], path: str) -> tuple[int, dict, Any]:
        offset = int(params.get("offset", 0))
        deadline = time.monotonic() + float(params.get("timeout", 0))
        with self.cond:  # long polling: answer as soon as there is an update, or when the timeout passes
            while True:
                pending = [u for u in self.updates if u["update_id"] >= offset]
                left = deadline - time.monotonic()
                if pending or left <= 0:
                    break
                self.cond.wait(left)
        return 200, {}, {"ok": True, "result": pending[:int(params.get("limit", 100))]}

    def mastodon(self, params: dict[str, str], path: str) -> tuple[int, dict, Any]:
        tag = unquote(path.rsplit("/", 1)[1])
        limit = int(params.get("limit", 20))
        ordered = sorted(self.statuses[tag], key=lambda s: int(s["id"]))
        if "min_id" in params:  # the page right after min_id, newest first
            page = [s for s in ordered if int(s["id"]) > int(params["min_id"])][:limit]
        else:
            page = ordered[-limit:]
        return 200, {"X-RateLimit-Remaining": "299"}, list(reversed(page))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                u = urlsplit(self.path)
                params = dict(parse_qsl(u.query))
                if u.path == "/2/tweets/search/recent":
                    platform = "x"
                elif u.path.endswith("/getUpdates"):
                    platform = "telegram"
                elif u.path.startswith("/api/v1/timelines/"):
                    platform = "mastodon"
                else:
                    self.send_error(404)
                    return
                fake.seen.append(Seen(platform, u.path, params, {k.lower(): v for k, v in self.headers.items()}))
                scripted = fake.script[platform].popleft() if fake.script[platform] else None
                if callable(scripted):
                    scripted = scripted()
                if scripted == "pass":
                    scripted = None
                if scripted == "drop":
                    self.close_connection = True
                    return
                status, headers, body = scripted or getattr(fake, platform)(params, u.path)
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client stopped a long poll
                    pass

        return Handler

    def __enter__(self) -> FakePlatforms:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def fake() -> FakePlatforms:
    with FakePlatforms() as f:
        yield f


@pytest.fixture(autouse=True)
def _author_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIAGA_AUTHOR_KEY", "live-test-key")
    parsers.reset_author_key()
    yield
    parsers.reset_author_key()


def settings(kafka: str, fake: FakePlatforms, **changes: Any) -> Settings:
    """Every client off unless `changes` turns it on; fast polling and back-off (milliseconds, not seconds)."""
    base: dict[str, Any] = dict(
        kafka=kafka, produce_timeout_s=10,
        x_bearer_token=None, x_base_url=fake.url, x_poll_s=0.05,
        telegram_bot_token=None, telegram_base_url=fake.url, telegram_long_poll_s=1,
        mastodon_base_url=None, mastodon_token=None, mastodon_hashtags="", mastodon_poll_s=0.05,
        live_backoff_base_s=0.05, live_backoff_max_s=0.4, live_metrics_port=0)
    base.update(changes)
    return Settings(**base)


def run_until(clients: LiveClients, done: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Run the clients until `done()` holds, then stop them (and fail if that never happens)."""

    async def main() -> None:
        task = asyncio.create_task(clients.run())
        deadline = time.monotonic() + timeout_s
        try:
            while not (clients.pollers and done()):
                if task.done():
                    task.result()
                    raise AssertionError("the live clients returned before the condition held")
                if time.monotonic() > deadline:
                    raise AssertionError(f"condition not met in {timeout_s}s; errors: "
                                         f"{[dict(p.errors) for p in clients.pollers]}")
                await asyncio.sleep(0.02)
        finally:
            clients.stop()
            await asyncio.wait_for(task, 10)

    asyncio.run(main())


def stored(kafka: str, ids: set[str], topic: str = "mentions.raw") -> dict[str, list[dict]]:
    """The records of `topic` whose key is one of `ids`, decoded, by key."""
    out: dict[str, list[dict]] = defaultdict(list)
    for rec in read_topic(kafka, topic, 0):
        if rec.key is not None and rec.key.decode() in ids:
            out[rec.key.decode()].append(json.loads(rec.value))
    return out


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _uid() -> int:
    return random.randrange(10**17, 9 * 10**17)


def tweets(base: int, n: int, start: int = 1) -> list[dict]:
    out = []
    for i in range(start, start + n):
        t = copy.deepcopy(X_FIX["data"][i % 2])  # with coordinates, or with a place only
        t["id"] = str(base + i)
        t["edit_history_tweet_ids"] = [t["id"]]
        t["text"] = f"Banjir {i}: {t['text']}"
        out.append(t)
    return out


# -- X ---------------------------------------------------------------------------------------------------------


def test_x_mentions_land_pseudonymised_and_the_since_id_survives_a_restart(kafka: str, fake: FakePlatforms) -> None:
    base = _uid()
    fake.add("tweets", tweets(base, 3))
    cfg = settings(kafka, fake, x_bearer_token="x-bearer-secret", x_query=f"banjir OR gempa -is:retweet {base}")
    newest = str(base + 3)

    first = LiveClients(cfg)
    run_until(first, lambda: first.pollers[0].cursor == {"since_id": newest})
    req = fake.requests("x")[0]
    assert req.headers["authorization"] == "Bearer x-bearer-secret"
    assert "since_id" not in req.params and req.params["query"] == cfg.x_query
    assert req.params["expansions"] == "geo.place_id"
    assert {"created_at", "geo", "lang", "author_id"} <= set(req.params["tweet.fields"].split(","))
    assert {"geo", "full_name"} <= set(req.params["place.fields"].split(","))

    ids = {f"x:{base + i}" for i in range(1, 5)}
    landed = stored(kafka, ids)
    assert set(landed) == ids - {f"x:{base + 4}"}
    for key, records in landed.items():
        (m,) = records
        author_id = X_FIX["data"][(int(key[2:]) - base) % 2]["author_id"]
        assert m["platform"] == "x" and m["author"] == parsers.author_pseudonym("x", author_id)
        assert author_id not in json.dumps(m) and "budi_s" not in json.dumps(m)
    assert landed[f"x:{base + 2}"][0]["point"]["lat"] == -6.1429  # the tweet's own point
    assert landed[f"x:{base + 1}"][0]["raw"]["place"]["full_name"] == "Lumajang, Jawa Timur"  # its place
    cursors = stored(kafka, {first.sources[0].key}, "mentions.cursors")[first.sources[0].key]
    assert cursors[-1]["cursor"] == {"since_id": newest}

    # Restart: the stored since_id is sent, only the new tweet comes back, nothing old is produced again.
    fake.add("tweets", tweets(base, 1, start=4))
    fake.seen.clear()
    second = LiveClients(cfg)
    run_until(second, lambda: second.pollers[0].cursor == {"since_id": str(base + 4)})
    assert fake.requests("x")[0].params["since_id"] == newest
    assert second.pollers[0].produced == 1
    landed = stored(kafka, ids)
    assert set(landed) == ids and all(len(v) == 1 for v in landed.values())


def test_x_walks_pages_back_to_since_id_and_a_restart_resumes_the_walk(kafka: str, fake: FakePlatforms) -> None:
    base = _uid()
    fake.add("tweets", tweets(base, 1))
    cfg = settings(kafka, fake, x_bearer_token="t", x_query=f"walk {base}")
    first = LiveClients(cfg)
    run_until(first, lambda: first.pollers[0].cursor == {"since_id": str(base + 1)})
    fake.add("tweets", tweets(base, 25, start=2))  # 25 new ones: three pages of 10, newest first

    # Interrupt the walk after its first page: the second request fails and the back-off is long.
    fake.script["x"].extend(["pass", (503, {}, {"title": "Service Unavailable"})])
    second = LiveClients(replace(cfg, live_backoff_base_s=10, live_backoff_max_s=10))
    second.sources[0].max_results = 10
    run_until(second, lambda: second.pollers[0].errors["http_5xx"] == 1)
    walk = second.pollers[0].cursor
    assert walk["since_id"] == str(base + 1) and walk["newest_id"] == str(base + 26) and walk["next_token"]
    assert second.pollers[0].produced == 10

    fake.seen.clear()
    third = LiveClients(cfg)
    third.sources[0].max_results = 10
    run_until(third, lambda: third.pollers[0].cursor == {"since_id": str(base + 26)})
    assert fake.requests("x")[0].params["next_token"] == walk["next_token"]
    assert fake.requests("x")[0].params["since_id"] == str(base + 1)
    landed = stored(kafka, {f"x:{base + i}" for i in range(1, 27)})
    assert len(landed) == 26  # no gap between the old since_id and the newest tweet


# -- Telegram ------------------------------------------------------------------------------------------------


def updates(base: int, chat: int, kinds: list[int]) -> list[dict]:
    """Updates shaped like the fixture's: 0 a private message with a location, 1 a channel post, 2 a sticker."""
    out = []
    for n, kind in enumerate(kinds):
        u = copy.deepcopy(TG_FIX["result"][kind])
        u["update_id"] = base + n
        msg = next(v for k, v in u.items() if k != "update_id")
        msg["chat"]["id"] = chat
        msg["message_id"] = 1000 + n
        out.append(u)
    return out


def test_telegram_offset_is_last_update_plus_one_and_survives_a_restart(kafka: str, fake: FakePlatforms,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    base, chat = random.randrange(10**8, 9 * 10**8), _uid()
    token = f"{base}:AAE-secret-part-of-the-token"
    fake.add("updates", updates(base, chat, [0, 2]))  # the sticker carries nothing, but moves the offset
    cfg = settings(kafka, fake, telegram_bot_token=token)

    first = LiveClients(cfg)
    run_until(first, lambda: first.pollers[0].cursor == {"offset": base + 2})
    req = fake.requests("telegram")[0]
    assert req.path == f"/bot{token}/getUpdates" and "offset" not in req.params and req.params["timeout"] == "1"
    assert first.pollers[0].produced == 1

    fake.add("updates", updates(base, chat, [0, 2, 1])[2:])  # update base+2: a channel post
    fake.seen.clear()
    second = LiveClients(cfg)
    run_until(second, lambda: second.pollers[0].cursor == {"offset": base + 3})
    assert fake.requests("telegram")[0].params["offset"] == str(base + 2)
    assert second.pollers[0].produced == 1
    landed = stored(kafka, {f"telegram:{chat}:{1000 + n}" for n in range(3)})
    assert set(landed) == {f"telegram:{chat}:1000", f"telegram:{chat}:1002"}
    private = landed[f"telegram:{chat}:1000"][0]
    assert private["point"]["lat"] == -8.5569 and private["author"].startswith("a:")
    assert "maria_dili" not in json.dumps(private) and "Maria" not in json.dumps(private)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "secret-part" not in logged and f"telegram:bot{base}" in logged  # the bot token is never logged


def test_telegram_429_waits_retry_after(kafka: str, fake: FakePlatforms) -> None:
    base, chat = random.randrange(10**8, 9 * 10**8), _uid()
    fake.add("updates", updates(base, chat, [0]))
    fake.script["telegram"].append((429, {}, {"ok": False, "error_code": 429, "parameters": {"retry_after": 1},
                                              "description": "Too Many Requests: retry after 1"}))
    before = counter("siaga_live_errors_total", platform="telegram", reason="rate_limited")
    clients = LiveClients(settings(kafka, fake, telegram_bot_token=f"{base}:tok"))
    run_until(clients, lambda: clients.pollers[0].produced == 1)
    limited, retried = fake.requests("telegram")[:2]
    assert retried.at - limited.at >= 1.0  # retry_after honoured, although back-off alone would be 50 ms
    assert counter("siaga_live_errors_total", platform="telegram", reason="rate_limited") == before + 1


# -- Mastodon ------------------------------------------------------------------------------------------------


def statuses(base: int, n: int, start: int = 1) -> list[dict]:
    out = []
    for i in range(start, start + n):
        s = copy.deepcopy(MASTO_FIX[0])
        s["id"] = str(base + i)
        s["uri"] = f"https://mastodon.social/users/relawan/statuses/{s['id']}"
        s["url"] = f"https://mastodon.social/@relawan/{s['id']}"
        out.append(s)
    return out


def test_mastodon_tag_timeline_resumes_from_min_id_without_a_gap(kafka: str, fake: FakePlatforms) -> None:
    base = _uid()
    tag = f"banjir{base % 10**6}"
    fake.add("statuses", statuses(base, 3), tag=tag)
    cfg = settings(kafka, fake, mastodon_base_url=fake.url, mastodon_hashtags=f"#{tag}", mastodon_token="m-tok")
    first = LiveClients(cfg)
    run_until(first, lambda: first.pollers[0].cursor == {"min_id": str(base + 3)})
    req = fake.requests("mastodon")[0]
    assert req.path == f"/api/v1/timelines/tag/{tag}" and "min_id" not in req.params
    assert req.headers["authorization"] == "Bearer m-tok" and req.params["limit"] == "40"

    fake.add("statuses", statuses(base, 45, start=4), tag=tag)  # more than a page arrived while stopped
    fake.seen.clear()
    second = LiveClients(cfg)
    run_until(second, lambda: second.pollers[0].cursor == {"min_id": str(base + 48)})
    assert fake.requests("mastodon")[0].params["min_id"] == str(base + 3)
    assert second.pollers[0].produced == 45
    landed = stored(kafka, {f"mastodon:mastodon.social:{base + i}" for i in range(1, 49)})
    assert len(landed) == 48 and all(len(v) == 1 for v in landed.values())
    m = landed[f"mastodon:mastodon.social:{base + 1}"][0]
    assert m["author"] == parsers.author_pseudonym("mastodon", "relawan@mastodon.social")
    assert "relawan" not in json.dumps({k: v for k, v in m.items() if k != "url"})


def test_mastodon_429_waits_for_x_ratelimit_reset(kafka: str, fake: FakePlatforms) -> None:
    base = _uid()
    tag = f"gempa{base % 10**6}"
    fake.add("statuses", statuses(base, 1), tag=tag)

    def too_many() -> tuple[int, dict, Any]:
        reset = (datetime.now(UTC) + timedelta(seconds=1.2)).isoformat().replace("+00:00", "Z")
        return 429, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, {"error": "Too many requests"}

    fake.script["mastodon"].append(too_many)
    clients = LiveClients(settings(kafka, fake, mastodon_base_url=fake.url, mastodon_hashtags=tag))
    run_until(clients, lambda: clients.pollers[0].produced == 1)
    limited, retried = fake.requests("mastodon")[:2]
    assert retried.at - limited.at >= 1.0


# -- Back-off and recovery -----------------------------------------------------------------------------------


def test_x_5xx_dropped_connection_and_429_are_backed_off_then_recovered(kafka: str, fake: FakePlatforms) -> None:
    base = _uid()
    fake.add("tweets", tweets(base, 2))
    resets: list[int] = []

    def too_many() -> tuple[int, dict, Any]:
        resets.append(int(time.time()) + 2)  # X's reset: epoch seconds, one to two seconds from now
        return 429, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(resets[0])}, {"title": "Too Many"}

    fake.script["x"].extend([(503, {}, {"title": "Service Unavailable"}), "drop", too_many])
    before = {r: counter("siaga_live_errors_total", platform="x", reason=r)
              for r in ("http_5xx", "network", "rate_limited")}
    clients = LiveClients(settings(kafka, fake, x_bearer_token="t", x_query=f"recover {base}"))
    run_until(clients, lambda: clients.pollers[0].produced == 2)
    failed_5xx, dropped, limited, ok = fake.requests("x")[:4]
    assert dropped.at - failed_5xx.at >= 0.025  # half of the 50 ms base at least (equal jitter)
    assert limited.at - dropped.at >= 0.05  # the second failure waits longer: at least half of 100 ms
    assert ok.wall >= resets[0] - 0.01 and ok.at - limited.at >= 0.9  # not before x-rate-limit-reset
    assert "since_id" not in ok.params  # nothing was stored, so the cursor had not moved
    assert dict(clients.pollers[0].errors) == {"http_5xx": 1, "network": 1, "rate_limited": 1}
    for reason, value in before.items():
        assert counter("siaga_live_errors_total", platform="x", reason=reason) == value + 1
    assert counter("siaga_live_backoff_seconds", platform="x", source=clients.sources[0].key) == 0


def test_a_malformed_answer_and_an_unreadable_item_do_not_block_the_stream(kafka: str, fake: FakePlatforms) -> None:
    base = _uid()
    broken = tweets(base, 1, start=2)[0]
    del broken["created_at"]  # the parser cannot read it; the other tweets must still land
    fake.add("tweets", [*tweets(base, 1), broken, *tweets(base, 1, start=3)])
    fake.script["x"].append((200, {}, ["not", "what", "X", "sends"]))
    clients = LiveClients(settings(kafka, fake, x_bearer_token="t", x_query=f"odd {base}"))
    run_until(clients, lambda: clients.pollers[0].cursor == {"since_id": str(base + 3)})
    assert dict(clients.pollers[0].errors) == {"bad_response": 1, "unparseable": 1}
    assert set(stored(kafka, {f"x:{base + i}" for i in (1, 2, 3)})) == {f"x:{base + 1}", f"x:{base + 3}"}


class RefusesFirst(AsyncProducer):
    """The real producer, except that the first batch of mentions is refused as if the broker were down."""

    refused = 0

    async def send_many(self, messages):  # noqa: ANN001, ANN201
        if not self.refused and messages[0].topic == "mentions.raw":
            self.refused += 1
            return [KafkaUnavailable("broker down (test)")] * len(messages)
        return await super().send_many(messages)


def test_cursor_moves_only_after_kafka_acknowledged_the_page(kafka: str, fake: FakePlatforms) -> None:
    base = _uid()
    fake.add("tweets", tweets(base, 2))
    cfg = settings(kafka, fake, x_bearer_token="t", x_query=f"ack {base}")
    producer = RefusesFirst(kafka, timeout_s=10, client_id="siaga-live-test")
    try:
        clients = LiveClients(cfg, producer=producer)
        run_until(clients, lambda: clients.pollers[0].cursor == {"since_id": str(base + 2)})
    finally:
        producer.close()
    refused, again = fake.requests("x")[:2]
    assert "since_id" not in refused.params and "since_id" not in again.params  # the same page, asked again
    assert clients.pollers[0].errors["kafka"] == 1
    saved = stored(kafka, {clients.sources[0].key}, "mentions.cursors")[clients.sources[0].key]
    assert [c["cursor"] for c in saved] == [{"since_id": str(base + 2)}]


# -- Configuration -------------------------------------------------------------------------------------------


def test_without_credentials_every_client_is_disabled_and_nothing_runs(kafka: str, fake: FakePlatforms,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="siaga.live")
    clients = LiveClients(settings(kafka, fake))
    assert clients.sources == []
    start = time.monotonic()
    asyncio.run(asyncio.wait_for(clients.run(), 5))
    assert time.monotonic() - start < 1 and fake.seen == []
    disabled = {r.platform: r.reason for r in caplog.records if r.getMessage() == "live client disabled"}
    assert disabled == {"x": "SIAGA_X_BEARER_TOKEN not set", "telegram": "SIAGA_TELEGRAM_BOT_TOKEN not set",
                        "mastodon": "SIAGA_MASTODON_BASE_URL not set"}
    for platform in ("x", "telegram", "mastodon"):
        assert counter("siaga_live_enabled", platform=platform) == 0


def test_siaga_listen_exits_cleanly_when_nothing_is_configured(kafka: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIAGA_")}
    env.update(SIAGA_KAFKA=kafka, SIAGA_LIVE_METRICS_PORT="0")
    out = subprocess.run([sys.executable, "-m", "services.ingest.live"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "no live client configured" in out.stderr
    check = subprocess.run([sys.executable, "-m", "services.cli", "listen", "--check"], cwd=REPO,
                           env={**env, "SIAGA_MASTODON_BASE_URL": "https://mastodon.example",
                                "SIAGA_MASTODON_HASHTAGS": "banjir,#gempa"},
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines() == ["mastodon\tmastodon:mastodon.example:tag:banjir\tevery 60s",
                                         "mastodon\tmastodon:mastodon.example:tag:gempa\tevery 60s"]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_healthz_follows_the_event_loop_and_metrics_share_its_port() -> None:
    now = [1000.0]
    beat = Heartbeat(stale_after_s=60, clock=lambda: now[0])
    server = serve(0, "127.0.0.1", beat)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert _get(f"{base}/healthz") == (200, "ok\n")
        status, body = _get(f"{base}/metrics")
        assert status == 200 and "siaga_live_enabled" in body and "siaga_live_backoff_seconds" in body
        now[0] += 59
        assert _get(f"{base}/healthz")[0] == 200
        now[0] += 2  # the loop has not beaten for 61 s: stalled
        assert _get(f"{base}/healthz") == (503, "event loop stalled for 61s\n")
        beat.beat()
        assert _get(f"{base}/healthz")[0] == 200
        head = urllib.request.Request(f"{base}/healthz", method="HEAD")
        with urllib.request.urlopen(head, timeout=5) as resp:
            assert resp.status == 200 and resp.read() == b""
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_siaga_listen_keep_running_stays_up_without_credentials_until_sigterm(kafka: str) -> None:
    """The deployed command (deploy/: `python -m services.ingest.live --keep-running`): with nothing configured
    it must not exit (Kubernetes and compose would restart it in a loop) but serve /healthz and the metrics, and
    stop cleanly on SIGTERM."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIAGA_")}
    env.update(SIAGA_KAFKA=kafka, SIAGA_LIVE_METRICS_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "services.ingest.live", "--keep-running"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"exited with {proc.returncode}: {proc.communicate()[1]}"
            try:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "/healthz never answered"
                time.sleep(0.1)
        assert (status, body) == (200, "ok\n")
        metrics = _get(f"http://127.0.0.1:{port}/metrics")[1]
        for platform in ("x", "telegram", "mastodon"):
            assert f'siaga_live_enabled{{platform="{platform}"}} 0.0' in metrics
        time.sleep(0.5)
        assert proc.poll() is None, "it exited although --keep-running"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "no live client configured" in stderr and "staying up idle" in stderr


# -- Pure parts ----------------------------------------------------------------------------------------------


def test_reset_headers_in_epoch_seconds_and_iso_8601() -> None:
    now = 1_700_000_000.0
    assert until_reset("1700000042", now) == 42
    assert until_reset("2023-11-14T22:14:02.5Z", now) == pytest.approx(42.5)  # 1700000042.5 in ISO form
    assert until_reset("1699999000", now) == 0  # a reset in the past: no negative wait
    assert until_reset(None, now) is None and until_reset("soon", now) is None


def test_backoff_grows_with_jitter_up_to_its_cap_and_resets() -> None:
    b = Backoff(1.0, 8.0, random.Random(1))
    delays = [b.next_delay() for _ in range(6)]
    for n, d in enumerate(delays):
        ceiling = min(8.0, 2.0 ** n)
        assert ceiling / 2 <= d <= ceiling
    assert len(set(delays)) == len(delays)  # jittered
    b.reset()
    assert b.next_delay() <= 1.0
