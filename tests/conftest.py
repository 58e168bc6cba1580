"""Test session fixtures: a real Kafka broker (KRaft, from Maven jars), started once per session.

Never a mock: integration tests talk to this broker. It listens on a free loopback port so a developer's
own `make kafka-up` broker on 9092 is left alone.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SIAGA_SHARED_DATA", REPO.parent / "shared" / "data"))


def _load_local_kafka():
    spec = importlib.util.spec_from_file_location("local_kafka", REPO / "deploy" / "kafka" / "local_kafka.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_kafka"] = module
    spec.loader.exec_module(module)
    return module


local_kafka = _load_local_kafka()  # importable as `local_kafka` by the tests from here on


@contextmanager
def running_broker(root: Path) -> Iterator[object]:
    """A single-node broker under `root` with Siaga's topics, stopped on exit."""
    cluster = local_kafka.Cluster(root, port=0, nodes=1).start(timeout_s=90)
    try:
        from services.common.topics import ensure_topics

        ensure_topics(cluster.bootstrap)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with running_broker(tmp_path_factory.mktemp("kafka")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A broker for one test module alone: for tests that compare totals, which the other modules' records
    on the session broker would otherwise swell."""
    with running_broker(tmp_path_factory.mktemp("kafka-own")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def kafka(kafka_cluster) -> str:  # noqa: ANN001
    """Bootstrap address of the session's real broker, with Siaga's topics created."""
    return kafka_cluster.bootstrap


@pytest.fixture(scope="session")
def auth_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "tokens.json"
    path.write_text(json.dumps(TOKENS))
    return path


TOKENS = [
    {"token": "vol-token", "role": "volunteer", "name": "vol-1"},
    {"token": "coord-token", "role": "coordinator", "name": "coord-1"},
    {"token": "mgr-token", "role": "manager", "name": "mgr-1"},
    {"token": "comms-token", "role": "comms", "name": "comms-1"},
    {"token": "admin-token", "role": "admin", "name": "admin-1"},
]


def bearer(role: str) -> dict[str, str]:
    token = next(t["token"] for t in TOKENS if t["role"] == role)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"shared data expected at {SHARED_DATA} (set SIAGA_SHARED_DATA)"
    return SHARED_DATA


@pytest.fixture
def rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the consolidation core's site rebuilds (every apply_* goes through `_recompute`): the enrich worker's
    batching must keep them to one per group and run (tests/test_enrich_*_batches.py)."""
    import services.core.consolidate as consolidate

    count = [0]
    real = consolidate._recompute

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(consolidate, "_recompute", counted)
    return count
