"""Scaling enrich out and back in under load loses and doubles nothing.

The promise behind "more workers = more throughput": a worker that joins takes over partitions (their table
state recovered from the changelogs onto its own disk), a worker that leaves hands them back, and the sites
stay exactly what the offline core gives for the whole input. Each worker has its own state directory, as in
the Kubernetes deployment. Input keeps arriving during both rebalances, the moment faust's consumer races
(services/enrich/faust_races.py) used to drop messages.
"""

from __future__ import annotations

import threading
import time

import pytest
from kafka import KafkaProducer

from services.common.topics import ensure_topics
from services.core.scenario import generate
from services.devstack import Stack
from tests.test_enrich_state import caught_up, live_sites, offline_sites, offset_gaps, report_key

pytestmark = pytest.mark.kafka
FIELDS = ("figures", "figures_min", "figures_max", "reports", "reporters", "first_seen", "last_seen")


def trickle(bootstrap: str, lines: list[str], seconds: float) -> threading.Thread:
    """Produce `lines` in small steps spread over `seconds`, so input keeps arriving through every rebalance."""
    steps = max(1, int(seconds / 0.05))
    size = max(1, -(-len(lines) // steps))

    def run() -> None:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        for i in range(0, len(lines), size):
            for line in lines[i:i + size]:
                producer.send("reports.raw", key=report_key(line), value=line.encode())
            producer.flush()
            time.sleep(0.05)
        producer.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_worker_joining_and_one_leaving_under_load_change_no_site(own_kafka, auth_file, tmp_path):  # noqa: ANN001
    from local_kafka import free_port

    bootstrap = own_kafka.bootstrap
    ensure_topics(bootstrap)
    # Nationwide, so every partition is busy and each rebalance moves groups with state between workers.
    lines = generate(seed=9, sites=400, preset="national", edit_rate=0.3, resubmit_rate=0.2).lines
    first = Stack(kafka=bootstrap, workdir=tmp_path / "w1", auth_file=auth_file, enrich_port=free_port())
    second = Stack(kafka=bootstrap, workdir=tmp_path / "w2", auth_file=auth_file, enrich_port=free_port())
    with first, second:
        first.start("enrich", timeout_s=120)
        feed = trickle(bootstrap, lines, seconds=30)
        time.sleep(4)
        second.start("enrich", timeout_s=120)  # joins: partitions and their table state move to it
        time.sleep(6)
        first_gaps = offset_gaps(first)
        first.stop()  # leaves: its partitions go back to the second worker, which recovers them
        feed.join(timeout=120)
        assert not feed.is_alive(), "the input did not finish"
        caught_up(bootstrap)
        assert not first_gaps and not offset_gaps(second), (first_gaps, offset_gaps(second))

    expected = offline_sites(lines)
    got = live_sites(bootstrap)
    assert set(got) == set(expected)
    for site_id, site in expected.items():
        for field in FIELDS:
            assert got[site_id].get(field) == site.get(field), (site_id, field)
