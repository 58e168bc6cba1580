"""`/healthz` and `/metrics` on the faust worker's own web server (port SIAGA_ENRICH_WEB_PORT)."""

from __future__ import annotations

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def install_pages(app: faust.App) -> None:
    @app.page("/healthz")
    async def healthz(web, request):  # noqa: ANN001, ANN202
        assigned = app.assignor.assigned_actives() if app.assignor else set()
        return web.json({"status": "ok", "partitions": len(assigned),
                         "rebalancing": bool(app.rebalancing)})

    @app.page("/metrics")
    async def metrics(web, request):  # noqa: ANN001, ANN202
        # aiohttp refuses a charset inside content_type=, so the full Prometheus type goes in as a header.
        return web.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
