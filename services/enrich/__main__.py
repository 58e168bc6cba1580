"""`python -m services.enrich`: run the enrich worker with structured logs."""

from __future__ import annotations

import logging

from services.common.config import settings
from services.common.logs import JsonFormatter, setup_logging
from services.common.topics import ensure_topics


def main() -> None:
    setup_logging("enrich")
    cfg = settings()
    ensure_topics(cfg.kafka, cfg.replication, cfg.min_insync)
    (cfg.state_dir / "faust").mkdir(parents=True, exist_ok=True)
    from services.enrich.app import app  # imported after topics exist: faust declares its own tables only

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("enrich"))
    import faust

    app.conf.loghandlers = [handler]
    faust.Worker(app, loglevel="info", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
