"""`python -m services.ingest`: serve the ingest API (port from SIAGA_INGEST_PORT, default 8001)."""

import os

import uvicorn

uvicorn.run("services.ingest.app:build", factory=True, host=os.environ.get("SIAGA_HOST", "127.0.0.1"),
            port=int(os.environ.get("SIAGA_INGEST_PORT", "8001")), log_config=None,
            access_log=False, timeout_graceful_shutdown=5)
