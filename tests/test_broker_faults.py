"""Broker faults on a three-node KRaft cluster (replication 3, min.insync.replicas 2) under steady load.

1. kill -9 the leader of the busiest `reports.raw` partition: every report that got a 202 is on the topic
   afterwards, exactly once (acks=all + min ISR 2 + idempotent producer), and ingest keeps accepting.
2. kill a second broker: fewer than min ISR replicas remain, so ingest must answer 503 + Retry-After, within
   the produce timeout, never 202 and never hang.
3. bring both back: ingest accepts again without a restart (the producer is not left broken).

Runs on its own cluster, not the session's single broker.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from services.devstack import Stack
from tests.conftest import bearer

pytestmark = [pytest.mark.kafka, pytest.mark.reliability]

PRODUCE_TIMEOUT_S = 3.0
# A 503 must come within the produce timeout plus the producer's own slack (delivery timeout = timeout + 1 s,
# the await = timeout + 2 s) and HTTP overhead on a busy two-core machine.
ANSWER_WITHIN_S = PRODUCE_TIMEOUT_S + 4.0


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory):  # noqa: ANN001, ANN201
    from local_kafka import Cluster  # loaded by conftest

    from services.common.topics import ensure_topics

    cluster = Cluster(tmp_path_factory.mktemp("kafka3"), port=0, nodes=3).start(timeout_s=120)
    try:
        ensure_topics(cluster.bootstrap, replication=3, min_insync=2, timeout_s=60)
        yield cluster
    finally:
        cluster.stop()


def report(rid: str) -> dict:
    return {"report_id": rid, "submitted_at": "2018-09-29T14:05:00+08:00", "reporter": {"id": "vol-load"},
            "location": {"lat": -0.9347, "lon": 119.9203}, "hazard": "gempa", "figures": {"affected": 1}}


class Load(threading.Thread):
    """One phone posting single reports back to back; remembers what got 202 and how every answer looked."""

    def __init__(self, url: str, name: str) -> None:
        super().__init__(daemon=True)
        self.url, self.tag = url, name
        self.stop = threading.Event()
        self.accepted: list[str] = []
        self.answers: list[tuple[float, int, str | None, float]] = []  # (at, status, Retry-After, seconds)

    def run(self) -> None:
        with httpx.Client(timeout=30.0, headers=bearer("volunteer")) as client:
            n = 0
            while not self.stop.is_set():
                rid = f"load-{self.tag}-{n}-{uuid.uuid4().hex[:6]}"
                n += 1
                start = time.monotonic()
                try:
                    r = client.post(f"{self.url}/v1/reports", json=report(rid))
                except httpx.HTTPError:
                    self.answers.append((start, 0, None, time.monotonic() - start))
                    time.sleep(0.1)
                    continue
                self.answers.append((start, r.status_code, r.headers.get("retry-after"), time.monotonic() - start))
                if r.status_code == 202:
                    self.accepted.append(rid)
                else:
                    time.sleep(0.05)
                time.sleep(0.01)


def accepted_count(loads: list[Load]) -> int:
    return sum(len(ld.accepted) for ld in loads)


def wait_until(predicate, timeout_s: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout_s}s")


def partition_leaders(bootstrap: str, topic: str) -> dict[int, int]:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="siaga-test-faults")
    try:
        (desc,) = admin.describe_topics([topic])
        return {p["partition_index"]: p["leader_id"] for p in desc["partitions"]}
    finally:
        admin.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        return {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def keys_on(bootstrap: str, topic: str, timeout_s: float = 60.0) -> Counter:
    """How often each key is on `topic`, read from the beginning to the end of every partition."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        seen: Counter = Counter()
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, "could not read reports.raw back to its end"
            for batch in consumer.poll(timeout_ms=500).values():
                seen.update(rec.key.decode() for rec in batch)
        return seen
    finally:
        consumer.close()


def test_kill_partition_leader_then_lose_min_isr(cluster3, auth_file, tmp_path: Path) -> None:  # noqa: ANN001
    from local_kafka import free_port

    boot = cluster3.bootstrap
    stack = Stack(kafka=boot, workdir=tmp_path / "stack", auth_file=auth_file, ingest_port=free_port(),
                  api_port=free_port(), enrich_port=free_port(),
                  extra_env={"SIAGA_TOPIC_REPLICATION": "3", "SIAGA_MIN_INSYNC": "2",
                             "SIAGA_PRODUCE_TIMEOUT_S": str(PRODUCE_TIMEOUT_S),
                             "SIAGA_RATE_PER_TOKEN": "0"})  # four flooding threads share one token
    with stack:
        stack.start("ingest", timeout_s=60)
        url = stack.services["ingest"].url
        loads = [Load(url, str(i)) for i in range(4)]
        for ld in loads:
            ld.start()
        try:
            wait_until(lambda: accepted_count(loads) >= 300, 60, "300 reports accepted before any fault")

            # 1. kill -9 the leader of the busiest reports.raw partition.
            offsets = end_offsets(boot, "reports.raw")
            busiest = max(offsets, key=offsets.get)
            victim = partition_leaders(boot, "reports.raw")[busiest]
            killed_at = time.monotonic()
            cluster3.kill_node(victim)
            before = accepted_count(loads)
            # Ingest goes on with two brokers, including on the partitions whose leader died.
            wait_until(lambda: accepted_count(loads) >= before + 300, 90, "300 more reports after the leader died")
            leaders = partition_leaders(boot, "reports.raw")
            assert victim not in leaders.values(), f"broker {victim} still leads a partition: {leaders}"
        finally:
            for ld in loads:
                ld.stop.set()
            for ld in loads:
                ld.join(timeout=30)
        accepted = [rid for ld in loads for rid in ld.accepted]
        answers = [a for ld in loads for a in ld.answers]
        assert {a[1] for a in answers} <= {202, 503}, Counter(a[1] for a in answers)
        assert all(a[2] for a in answers if a[1] == 503), "a 503 without Retry-After"
        assert sum(1 for a in answers if a[0] > killed_at and a[1] == 202) >= 300

        # Nothing accepted is lost, nothing is written twice (idempotent producer across the failover).
        on_topic = keys_on(boot, "reports.raw")
        missing = [rid for rid in accepted if on_topic[rid] == 0]
        assert not missing, f"{len(missing)} of {len(accepted)} accepted reports are not on reports.raw"
        doubled = [rid for rid in accepted if on_topic[rid] > 1]
        assert not doubled, f"{len(doubled)} accepted reports are on reports.raw more than once"

        # 2. A second broker down: one replica left, fewer than min.insync.replicas = 2.
        survivors = [n.node_id for n in cluster3.nodes if n.node_id != victim]
        cluster3.kill_node(survivors[0])
        results: list[tuple[int, str | None, float]] = []

        def post_one(client: httpx.Client) -> None:
            start = time.monotonic()
            r = client.post(f"{url}/v1/reports", json=report(f"down-{uuid.uuid4().hex}"))
            results.append((r.status_code, r.headers.get("retry-after"), time.monotonic() - start))

        with httpx.Client(timeout=60.0, headers=bearer("volunteer")) as client:
            for _ in range(2):  # one at a time ...
                post_one(client)
            threads = [threading.Thread(target=post_one, args=(client,)) for _ in range(8)]  # ... and at once
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
        assert len(results) == 10
        assert [s for s, _, _ in results] == [503] * 10, results
        assert all(ra for _, ra, _ in results), f"503 without Retry-After: {results}"
        slowest = max(sec for _, _, sec in results)
        assert slowest < ANSWER_WITHIN_S, f"a 503 took {slowest:.1f}s (produce timeout {PRODUCE_TIMEOUT_S}s)"

        # 3. Both brokers back: the same ingest process accepts again (its producer recovered by itself).
        for node_id in (victim, survivors[0]):
            cluster3.start_node(cluster3.nodes[node_id - 1])
        cluster3.wait(timeout_s=90)
        deadline = time.monotonic() + 90
        status = None
        with httpx.Client(timeout=30.0, headers=bearer("volunteer")) as client:
            while time.monotonic() < deadline and status != 202:
                status = client.post(f"{url}/v1/reports", json=report(f"back-{uuid.uuid4().hex}")).status_code
                if status != 202:
                    time.sleep(0.5)
        assert status == 202, "ingest did not accept again after the brokers came back"
