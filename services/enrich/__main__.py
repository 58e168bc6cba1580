"""`python -m services.enrich`: run the enrich worker with structured logs."""

from __future__ import annotations

import logging

from services.common.config import settings
from services.common.logs import JsonFormatter, setup_logging
from services.common.topics import ensure_topics


def preload() -> None:
    """Load the spatial index, gazetteer and relevance model before consuming, not inside the first batch
    (which would stall the event loop for seconds and make faust think the worker hangs)."""
    from services.core.geotag import get_geotagger
    from services.core.mentions.geoparse import get_geoparser
    from services.core.mentions.relevance import get_model

    get_geotagger()
    get_geoparser()
    get_model()
    from services.common.gc_tuning import tune_gc_for_streaming

    tune_gc_for_streaming()  # after loading: the indexes are frozen out of every collection


def main() -> None:
    setup_logging("enrich")
    cfg = settings()
    ensure_topics(cfg.kafka, cfg.replication, cfg.min_insync)
    (cfg.state_dir / "faust").mkdir(parents=True, exist_ok=True)
    preload()
    from services.enrich.app import app  # imported after topics exist: faust declares its own tables only

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("enrich"))
    import faust

    app.conf.loghandlers = [handler]
    faust.Worker(app, loglevel="info", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
