"""The situation API: what disaster managers, coordinators and communications teams read, built from the
`sites` topic, and where coordinators' review decisions enter Kafka.

Routes (services/api/routes_*.py) only translate HTTP into calls of pure code (services.core.*, and the
HTTP-free helpers here: views/privacy, reviews, stream, geo_layers); the read model is a replica of Kafka,
rebuilt at every start.
"""

from __future__ import annotations

import logging
import sys
from collections import OrderedDict
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.api.cache import AnswerCache
from services.api.consumer import SitesFollower
from services.api.geo_layers import AreaShapes
from services.api.mentions_model import MentionsModel
from services.api.readmodel import ReadModel
from services.api.reviews import IdempotencyMemory
from services.api.stream import StreamHub
from services.common.auth import TokenStore
from services.common.config import Settings, settings
from services.common.kafka_io import AsyncProducer
from services.common.logs import setup_logging
from services.common.metrics import instrument
from services.common.topics import MENTIONS_ENRICHED, ensure_topics_in_background

log = logging.getLogger("siaga.api")

DESCRIPTION = """
Aggregated rapid-assessment figures by admin area for PMI and CVTL, the sites behind them, live changes,
review decisions and exports.

**Access** (bearer tokens from `SIAGA_AUTH_FILE`): `manager` reads everything except personal data;
`coordinator` reads everything, sees reporters' names and phones and records reviews; `comms` reads verified
sites, verified figures and exports of verified sites only; `admin` may do everything; `volunteer` tokens
read nothing here. 401 = no or unknown token, 403 = the role may not do this.

**Freshness**: every answer carries `as_of` (and the header `X-Siaga-As-Of`); `X-Siaga-Ready: false` while
the read model is still replaying Kafka after a start (`/readyz` says 503 until then).

**Areas**: Indonesia by Kemendagri 2025 codes (`72.71`), Timor-Leste by OCHA P-codes (`TL01`); HDX P-codes
(`ID7271`) are accepted in `area` and translated.
"""


def create_app(cfg: Settings | None = None, follow: bool = True, shapes: AreaShapes | None = None) -> FastAPI:
    cfg = cfg or settings()
    model = ReadModel()
    mentions = MentionsModel()

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        follower = mention_follower = None
        if follow:
            ensure_topics_in_background(cfg)
            follower = SitesFollower(cfg.kafka, model)
            follower.start()
            mention_follower = SitesFollower(cfg.kafka, mentions, topic=MENTIONS_ENRICHED.name)
            mention_follower.start()
            app.state.shapes.warm((2, 1, 3))  # first map request must not wait for the polygons
        app.state.follower = follower
        yield
        for f in (follower, mention_follower):
            if f is not None:
                f.stop()
        app.state.producer.close()

    app = FastAPI(title="Siaga situation API", version="1", lifespan=lifespan, description=DESCRIPTION,
                  openapi_tags=[
                      {"name": "situation", "description": "Totals per admin area, as JSON and GeoJSON"},
                      {"name": "sites", "description": "The sites behind the totals, their timelines and mentions"},
                      {"name": "figures", "description": "Verified figures with ready-to-post text"},
                      {"name": "review", "description": "Coordinators' decisions (onto the `reviews` topic)"},
                      {"name": "stream", "description": "Live site changes (Server-Sent Events)"},
                      {"name": "exports", "description": "CSV with HXL hashtags, and GeoJSON"},
                      {"name": "ops", "description": "Health, readiness, metrics"}])
    app.state.cfg = cfg
    app.state.model = model
    app.state.mentions = mentions
    app.state.follower = None
    app.state.tokens = TokenStore.from_file(cfg.auth_file)
    app.state.shapes = shapes or AreaShapes()
    app.state.cache = AnswerCache(lambda: model.version,
                                  ttl_s=cfg.api_cache_ttl_s, min_ttl_s=cfg.api_cache_min_ttl_s)
    app.state.id_cache = OrderedDict()
    app.state.hub = StreamHub(model)
    app.state.heartbeat_s = 15.0
    app.state.idempotency = IdempotencyMemory()
    app.state.producer = AsyncProducer(cfg.kafka, timeout_s=cfg.produce_timeout_s, client_id="siaga-api")
    instrument(app, "api")

    from services.api import (
        routes_export,
        routes_figures,
        routes_ops,
        routes_review,
        routes_signals,
        routes_sites,
        routes_situation,
        routes_stream,
    )

    for module in (routes_ops, routes_situation, routes_sites, routes_figures, routes_review, routes_stream,
                   routes_export, routes_signals):
        app.include_router(module.router)
    return app


def build() -> FastAPI:
    """Entry point for `uvicorn --factory services.api.app:build` (and `python -m services.api`)."""
    setup_logging("api")
    # Answers are recomputed in worker threads while the event loop serves cached bytes: hand the GIL over
    # more often (default 5 ms) so a recomputation does not add its slices to every waiting request.
    sys.setswitchinterval(0.001)
    return create_app()
