"""`python -m services.api`: serve the situation API (port from SIAGA_API_PORT, default 8000)."""

import os

import uvicorn

uvicorn.run("services.api.app:build", factory=True, host=os.environ.get("SIAGA_HOST", "127.0.0.1"),
            port=int(os.environ.get("SIAGA_API_PORT", "8000")), log_config=None,
            access_log=False, timeout_graceful_shutdown=5)
