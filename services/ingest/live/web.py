"""The live clients' one HTTP port (SIAGA_LIVE_METRICS_PORT): Prometheus metrics, and /healthz for probes.

/healthz answers 200 while the event loop that runs the clients keeps turning, 503 once it has not for
`stale_after_s` (a blocking call or a deadlock: a restart is the fix). It deliberately says nothing about the
platforms or Kafka: a source that backs off is doing what it should, a restart would only reset its back-off
and spend the rate limit again; siaga_live_backoff_seconds and its alerts cover that. Every other path
serves the metrics, as prometheus_client's own server does.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app


class Heartbeat:
    """When the event loop last ran `run()`'s beat; `healthy()` while that is at most `stale_after_s` ago."""

    def __init__(self, stale_after_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stale_after_s = stale_after_s
        self._clock = clock
        self._last = clock()  # starting up counts as alive

    def beat(self) -> None:
        self._last = self._clock()

    def age(self) -> float:
        return self._clock() - self._last

    def healthy(self) -> bool:
        return self.age() <= self.stale_after_s

    async def run(self, interval_s: float = 5.0) -> None:
        """Beat from the event loop until cancelled."""
        while True:
            self.beat()
            await asyncio.sleep(interval_s)


def make_app(heartbeat: Heartbeat, registry: CollectorRegistry = REGISTRY) -> Callable[..., Iterable[bytes]]:
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/healthz":
            return metrics(environ, start_response)
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")])
            return [b""]
        if heartbeat.healthy():
            status, body = "200 OK", b"ok\n"
        else:
            status, body = "503 Service Unavailable", f"event loop stalled for {heartbeat.age():.0f}s\n".encode()
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body] if environ["REQUEST_METHOD"] == "GET" else [b""]

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # a probe every 5 s and a scrape every 15 s are not worth a log line each


def serve(port: int, addr: str, heartbeat: Heartbeat, registry: CollectorRegistry = REGISTRY) -> WSGIServer:
    """Start serving in a daemon thread; returns the server (`server_port` is the bound port when `port` is 0).
    Raises OSError when the port cannot be bound, so a misconfigured process fails at start."""
    family = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM)[0][0]
    server_cls = type("LiveHTTPServer", (_ThreadingServer,), {"address_family": family})
    server = make_server(addr, port, make_app(heartbeat, registry), server_cls, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="siaga-live-http", daemon=True).start()
    return server
