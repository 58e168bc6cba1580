"""Enrich worker throughput on the real broker: reports/s through one faust worker, geotagging and
consolidation included (issue 4 target: ≥ 10,000 reports/s per worker end to end).

Method: produce N scenario reports (real village points; resubmits and edits included) to `reports.raw`
while the worker is stopped, start one worker, and time from its first output record to the moment the last
input has been consolidated (consumer group at the end of both input topics). Broker timestamps of the output
records bound the processing window; start-up (JVM-free, but index loading) is reported separately.
In the same run, first: faust's floor (one agent iterating the events, nothing else) and its ceiling (the
worker's two hops with no work), both from bench/faust_ceiling.py, so the worker's rate can be read against
what faust's own per-message path leaves.
Writes bench/results/enrich.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "deploy" / "kafka"))

from bench.common import machine_info, print_table, process_cpu_s, write_result  # noqa: E402

N_SITES = int(os.environ.get("SIAGA_BENCH_ENRICH_SITES", "10000"))
# Sites all over Indonesia, mixed hazards: realistic group sizes and every partition busy.
PRESET = os.environ.get("SIAGA_BENCH_ENRICH_PRESET", "national")


def produce(bootstrap: str, lines: list[str]) -> int:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, batch_size=512 * 1024)
    n = 0
    for line in lines:
        try:
            rid = json.loads(line)["report_id"]
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
        producer.send("reports.raw", key=str(rid).encode(), value=line.encode())
        n += 1
    producer.flush()
    producer.close()
    return n


def group_done(bootstrap: str, group: str, topics: list[str]) -> tuple[bool, int]:
    """Whether `group` committed offsets at the end of every partition of `topics`; and the total lag."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        try:
            committed = admin.list_group_offsets(group)
            committed = committed.get(group, committed)  # kafka-python 3.x nests the answer by group id
        except KafkaError:  # the group (or __consumer_offsets) does not exist yet
            return False, -1
        tps = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or [])]
        ends = consumer.end_offsets(tps)
        lag = sum(ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in tps)
        return lag == 0, lag
    finally:
        admin.close()
        consumer.close()


def topic_times(bootstrap: str, topic: str) -> tuple[int, float, float]:
    """Count, first and last broker timestamp (s) of a topic's records."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    ends = consumer.end_offsets(tps)
    count, first, last = 0, float("inf"), 0.0
    while any(consumer.position(tp) < ends[tp] for tp in tps):
        for records in consumer.poll(timeout_ms=500, max_records=20000).values():
            for r in records:
                count += 1
                first = min(first, r.timestamp / 1000)
                last = max(last, r.timestamp / 1000)
    consumer.close()
    return count, first, last


def run_worker(stack, name: str, bootstrap: str, group: str, topics: list[str]) -> dict:  # noqa: ANN001
    """Start one worker over the waiting input; time and CPU from healthy until its group is at the end."""
    start = time.perf_counter()
    stack.start(name, timeout_s=180)
    healthy = time.perf_counter()
    pid = stack.services[name].proc.pid
    cpu_at_healthy = process_cpu_s(pid)
    deadline = time.monotonic() + 900
    lag = -1
    while time.monotonic() < deadline:
        done, lag = group_done(bootstrap, group, topics)
        if done:
            break
        time.sleep(0.25)
    end = time.perf_counter()
    return {"healthy_s": healthy - start, "wall_s": end - start, "done_after_healthy_s": end - healthy,
            "cpu_s": process_cpu_s(pid) - cpu_at_healthy, "lag": lag}


def main() -> int:
    import local_kafka

    from services.common.topics import ensure_topics
    from services.core.scenario import generate
    from services.devstack import Stack

    scenario = generate(seed=11, sites=N_SITES, preset=PRESET)
    with tempfile.TemporaryDirectory() as tmp:
        cluster = local_kafka.Cluster(Path(tmp) / "kafka", port=0).start()
        try:
            ensure_topics(cluster.bootstrap)
            t0 = time.perf_counter()
            n = produce(cluster.bootstrap, scenario.lines)
            produce_s = time.perf_counter() - t0
            auth = Path(tmp) / "auth.json"
            auth.write_text("[]")
            stack = Stack(kafka=cluster.bootstrap, workdir=Path(tmp) / "stack", auth_file=auth,
                          enrich_port=local_kafka.free_port(), extra_env={"SIAGA_LOG_LEVEL": "WARNING"})
            # Side by side in one run: faust's plumbing alone first (bench/faust_ceiling.py), then the worker.
            from bench.faust_ceiling import CEILING_GROUP, FLOOR_GROUP, MIDDLE
            from services.devstack import Service

            stack.services["ceiling"] = Service("ceiling", "bench.faust_ceiling", stack.enrich_port)  # runs alone
            stack.extra_env["SIAGA_BENCH_CEILING_MODE"] = "floor"
            with stack:
                floor = run_worker(stack, "ceiling", cluster.bootstrap, FLOOR_GROUP, ["reports.raw"])
            stack.extra_env["SIAGA_BENCH_CEILING_MODE"] = "two_hops"
            with stack:
                ceiling = run_worker(stack, "ceiling", cluster.bootstrap, CEILING_GROUP, ["reports.raw", MIDDLE])
            del stack.extra_env["SIAGA_BENCH_CEILING_MODE"]
            with stack:
                worker = run_worker(stack, "enrich", cluster.bootstrap, "siaga-enrich",
                                    ["reports.raw", "reports.enriched"])
                healthy_s, wall_s, work_cpu_s, lag = (worker["healthy_s"], worker["wall_s"], worker["cpu_s"],
                                                      worker["lag"])
                load = os.getloadavg()
            enriched, e_first, e_last = topic_times(cluster.bootstrap, "reports.enriched")
            sites, s_first, s_last = topic_times(cluster.bootstrap, "sites")
        finally:
            cluster.stop()
    window = max(e_last, s_last) - e_first
    result = {
        "benchmark": "enrich", "machine": machine_info(),
        "settings": {"scenario_sites": N_SITES, "preset": PRESET, "workers": 1, "partitions": 6,
                     "village_polygons": (REPO / "data" / "local" / "idn_desa_kel_polygons.parquet").exists()},
        # enriched_records are arrays on reports.enriched: one per regency and batch
        "input_messages": n, "produce_s": produce_s, "worker_healthy_s": healthy_s,
        "enriched_records": enriched, "site_records": sites, "final_lag": lag,
        "processing_window_s": window,
        "stage1_window_s": e_last - e_first, "stage2_first_to_last_site_s": s_last - s_first,
        "stage2_lag_behind_stage1_s": s_last - e_last, "reports_per_s": n / window if window > 0 else None,
        "wall_incl_startup_s": wall_s,
        "worker_cpu_s_after_healthy": work_cpu_s, "reports_per_cpu_s": n / work_cpu_s if work_cpu_s > 0 else None,
        "done_after_healthy_s": worker["done_after_healthy_s"],
        "faust_ceiling": {
            "what": "same two faust hops, bulk writer and per-regency arrays, no parsing, geotagging, tables or "
                    "consolidation (bench/faust_ceiling.py), same input, same run, before the worker",
            **ceiling,
            "reports_per_cpu_s": n / ceiling["cpu_s"] if ceiling["cpu_s"] > 0 else None,
            "reports_per_s_after_healthy": n / ceiling["done_after_healthy_s"],
        },
        "faust_floor": {
            "what": "one faust agent iterating reports.raw event by event with faust's own acks, no batching, no "
                    "output, nothing else (bench/faust_ceiling.py, SIAGA_BENCH_CEILING_MODE=floor), same input, "
                    "same run, first",
            **floor,
            "reports_per_cpu_s": n / floor["cpu_s"] if floor["cpu_s"] > 0 else None,
            "reports_per_s_after_healthy": n / floor["done_after_healthy_s"],
            "cpu_us_per_report": floor["cpu_s"] / n * 1e6,
        },
        "worker_share_of_ceiling_per_cpu_s": (ceiling["cpu_s"] / work_cpu_s) if work_cpu_s > 0 else None,
        "load_average_at_end": load, "target_reports_per_s": 10_000,
        "reproduce": "make bench (or .venv/bin/python bench/bench_enrich.py)",
    }
    write_result("enrich", result)
    print_table("enrich worker (one worker, real broker)", [
        ("input reports (incl. resubmits/edits)", n, ""),
        ("processing window", f"{window:.1f} s", "first enriched record → last site record"),
        ("reports/s", f"{result['reports_per_s'] or 0:.0f}", "target 10,000"),
        ("reports per worker CPU-second", f"{result['reports_per_cpu_s'] or 0:.0f}", "one core's worth"),
        ("worker start to healthy", f"{healthy_s:.1f} s", "index + model preload"),
        ("faust plumbing alone: reports per CPU-second",
         f"{result['faust_ceiling']['reports_per_cpu_s'] or 0:.0f}", "two hops, no work (same run)"),
        ("faust plumbing alone: reports/s", f"{result['faust_ceiling']['reports_per_s_after_healthy']:.0f}",
         "healthy → group at the end"),
        ("faust floor (one agent, no work): reports per CPU-second",
         f"{result['faust_floor']['reports_per_cpu_s'] or 0:.0f}", "the most any faust worker gets (same run)"),
        ("worker / plumbing, per CPU-second", f"{result['worker_share_of_ceiling_per_cpu_s'] or 0:.0%}", ""),
    ], headers=("what", "value", "note"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
