"""Live site changes for dashboards: the read model's thread-side callbacks bridged into asyncio queues.

The Kafka follower applies records on its own thread; `StreamHub` is the read model's one listener while
clients are connected and hands each change to every client's event loop with `call_soon_threadsafe` (never
touching an asyncio object from the wrong thread). Each client has a bounded queue: a client too slow to keep
up is told to `reset` (reload the list) instead of making the server buffer without limit.
What each client may see (personal data, comms = verified only) is decided in `events_for`, per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass, field

import orjson

from schemas.site import Site
from services.api.readmodel import ReadModel
from services.api.views import summary_for, visible
from services.common.auth import Principal

log = logging.getLogger("siaga.api.stream")

Change = tuple[int, str, Site | None, Site | None]  # version, site_id, site now (None: gone), site before


@dataclass(eq=False)
class StreamClient:
    principal: Principal
    loop: asyncio.AbstractEventLoop
    hazard: str | None = None
    area: str | None = None
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=2000))
    overflowed: bool = False

    def offer(self, change: Change) -> None:  # runs on the client's event loop
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            self.overflowed = True  # the consumer (woken by the full queue) sends `reset` and closes

    def wants(self, site: Site) -> bool:
        if self.hazard is not None and site.hazard.value != self.hazard:
            return False
        g = site.geo
        return self.area is None or self.area in (g.adm1, g.adm2, g.adm3, g.adm4)


class StreamHub:
    def __init__(self, model: ReadModel) -> None:
        self.model = model
        self.clients: set[StreamClient] = set()
        self._lock = threading.Lock()
        self._unsubscribe = None

    def _on_change(self, site_id: str, site: Site | None, prev: Site | None) -> None:  # follower thread
        change = (self.model.version, site_id, site, prev)
        with self._lock:
            clients = list(self.clients)
        for c in clients:
            with contextlib.suppress(RuntimeError):  # loop closed: the client is going away
                c.loop.call_soon_threadsafe(c.offer, change)

    def connect(self, client: StreamClient) -> None:
        with self._lock:
            self.clients.add(client)
            if self._unsubscribe is None:
                self._unsubscribe = self.model.subscribe(self._on_change)

    def disconnect(self, client: StreamClient) -> None:
        with self._lock:
            self.clients.discard(client)
            if not self.clients and self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None


def sse(event: str, data: object, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n".encode() if event_id is not None else b""
    return head + b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def events_for(client: StreamClient, change: Change) -> bytes | None:
    """The SSE bytes this client may get for one change, or None: `site` (a SiteSummary, personal data
    stripped for managers and comms) or `removed` (the site is gone, or for comms no longer verified)."""
    version, site_id, site, prev = change
    p = client.principal
    now_visible = site is not None and visible(site.status, p) and client.wants(site)
    was_visible = prev is not None and visible(prev.status, p) and client.wants(prev)
    if now_visible:
        return sse("site", summary_for(site, p), version)
    if was_visible:
        return sse("removed", {"site_id": site_id}, version)
    return None


def resume_event(client: StreamClient, version: int, site_id: str, site: Site | None) -> bytes | None:
    """After a reconnect: the current state of a site that changed meanwhile (`removed` when it is gone or no
    longer visible to this client; the previous state is not known any more)."""
    if site is not None and not client.wants(site):
        return None
    if site is not None and visible(site.status, client.principal):
        return sse("site", summary_for(site, client.principal), version)
    return sse("removed", {"site_id": site_id}, version)
