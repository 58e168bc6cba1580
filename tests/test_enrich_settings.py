"""The worker's faust settings come from Siaga's own configuration (services.common.config)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def standby_replicas_of_worker(**env: str) -> str:
    """In a fresh process: the app reads its configuration when it is imported."""
    unset = ("SIAGA_ENRICH_STANDBY_REPLICAS", "TABLE_STANDBY_REPLICAS")
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    code = "import services.enrich.app as w; print(w.app.conf.table_standby_replicas)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**clean, **env}, capture_output=True,
                         text=True, timeout=120, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_standby_replicas_follow_siaga_config_and_default_to_one() -> None:
    assert standby_replicas_of_worker(SIAGA_ENRICH_STANDBY_REPLICAS="0") == "0"
    assert standby_replicas_of_worker() == "1"
