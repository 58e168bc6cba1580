"""End to end on one machine: reports/s sustained through ingest → Kafka → enrich → Kafka → API, and the delay
from a report's 202 to it showing in GET /v1/situation, while social mentions flow alongside.

Method: an open-loop feeder posts batches of new reports (real village points all over Indonesia, flood) at a target
rate and records, per batch, the time of its 202 and the running total of accepted reports. A poller reads
the total `reports` of /v1/situation every 50 ms; a batch's delay is the first poll at which the total
reached that batch's running total, minus its 202 time. A second feeder posts mentions at their own rate.
Issue 8 target: 2,000 reports/s with p95 under 2 s while mentions flow at 5,000/s. Writes
bench/results/e2e.json.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "deploy" / "kafka"))

from bench.common import machine_info, print_table, process_cpu_s, write_result  # noqa: E402

REPORT_RATE = float(os.environ.get("SIAGA_BENCH_E2E_RATE", "2000"))
MENTION_RATE = float(os.environ.get("SIAGA_BENCH_E2E_MENTION_RATE", "5000"))
SECONDS = float(os.environ.get("SIAGA_BENCH_E2E_SECONDS", "30"))
# Enrich workers (processes) in the consumer group: partitions are the unit of scale; each extra worker runs from
# its own state directory, as a second machine would.
ENRICH_WORKERS = int(os.environ.get("SIAGA_BENCH_E2E_ENRICH_WORKERS", "1"))
BATCH = 100
MENTION_BATCH = 500


def villages() -> list[tuple[str, float, float]]:
    """Indonesia's real village centroids, (name, lat, lon), in a fixed shuffled order: a national flood
    season, where most reports open a new site and some update one (the 10th report of a run of ten goes to
    the village of the first)."""
    import random

    with (REPO / "data" / "indonesia" / "idn_desa_kel_centroids.csv").open(newline="") as fh:
        rows = [(r["nama"], float(r["lat"]), float(r["lng"])) for r in csv.DictReader(fh)]
    random.Random(7).shuffle(rows)
    return rows


class Feeder(threading.Thread):
    def __init__(self, url: str, token: str, rate: float, seconds: float, make_batch, size: int) -> None:  # noqa: ANN001
        super().__init__(daemon=True)
        self.url, self.token, self.rate, self.seconds = url, token, rate, seconds
        self.make_batch, self.size = make_batch, size
        self.accepted = 0
        self.marks: list[tuple[float, int]] = []  # (time of the 2xx, running total accepted)
        self.errors = 0

    def run(self) -> None:
        interval = self.size / self.rate
        start = time.perf_counter()
        n = 0
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {self.token}"}) as client:
            while time.perf_counter() - start < self.seconds:
                due = start + n * interval
                if (wait := due - time.perf_counter()) > 0:
                    time.sleep(wait)
                body = self.make_batch(n)
                n += 1
                try:
                    r = client.post(self.url, json=body)
                except httpx.HTTPError:
                    self.errors += 1
                    continue
                if r.status_code in (200, 202):
                    got = r.json().get("accepted", len(body)) if r.status_code == 200 else len(body)
                    self.accepted += got
                    self.marks.append((time.perf_counter(), self.accepted))
                else:
                    self.errors += 1
        self.elapsed = time.perf_counter() - start


class CpuMeter:
    """Cores each process used between `start()` and `stop()`: where the machine's two cores went."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.cores: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        out = {name: process_cpu_s(pid) for name, pid in self.pids.items()}
        out["bench (feeders, poller)"] = time.process_time()
        return out

    def start(self) -> None:
        self.t0, self.c0 = time.perf_counter(), self._read()

    def stop(self) -> None:
        elapsed, c1 = time.perf_counter() - self.t0, self._read()
        self.cores = {name: round((c1[name] - self.c0[name]) / elapsed, 2) for name in c1}
        self.cores["total"] = round(sum(self.cores.values()), 2)


def wait_for_group(bootstrap: str, group: str, members: int, timeout_s: float = 180) -> None:
    """Until the consumer group is stable with all its workers: a worker joining later moves partitions and
    their tables mid-run, which measures a rebalance instead of the steady state."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            desc = admin.describe_groups([group]).get(group, {})
            if desc.get("group_state") == "Stable" and len(desc.get("members", [])) == members:
                return
            time.sleep(0.5)
        raise RuntimeError(f"group {group} did not settle with {members} members")
    finally:
        admin.close()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def main() -> int:
    import local_kafka

    from services.common.topics import ensure_topics
    from services.devstack import Stack

    places = villages()
    run = uuid.uuid4().hex[:6]

    def report_batch(n: int) -> list[dict]:
        out = []
        for k in range(BATCH):
            i = n * BATCH + k
            _name, lat, lon = places[(i - 9 if i % 10 == 9 else i) % len(places)]
            out.append({"report_id": f"{run}-{n}-{k}", "submitted_at": "2017-02-21T09:00:00+07:00",
                        "reporter": {"id": f"v{k % 40}"}, "location": {"lat": lat, "lon": lon},
                        "hazard": "banjir", "figures": {"affected": 10 + k, "displaced": k}})
        return out

    def mention_batch(n: int) -> list[dict]:
        return [{"id": f"x:{run}{n}{k}", "platform": "x", "created_at": "2017-02-21T09:30:00+07:00",
                 "text": f"Banjir di Kelurahan {places[(n * MENTION_BATCH + k) % len(places)][0]} warga mengungsi"}
                for k in range(MENTION_BATCH)]

    with tempfile.TemporaryDirectory() as tmp:
        cluster = local_kafka.Cluster(Path(tmp) / "kafka", port=0).start()
        try:
            ensure_topics(cluster.bootstrap)
            auth = Path(tmp) / "auth.json"
            auth.write_text(json.dumps([{"token": "v", "role": "volunteer", "name": "v"},
                                        {"token": "c", "role": "coordinator", "name": "c"},
                                        {"token": "m", "role": "manager", "name": "m"}]))
            stack = Stack(kafka=cluster.bootstrap, workdir=Path(tmp) / "stack", auth_file=auth,
                          ingest_port=local_kafka.free_port(), api_port=local_kafka.free_port(),
                          enrich_port=local_kafka.free_port(),
                          extra_env={"SIAGA_LOG_LEVEL": "WARNING", "SIAGA_RATE_PER_TOKEN": "0"})
            extra = [Stack(kafka=cluster.bootstrap, workdir=Path(tmp) / f"enrich{i}", auth_file=auth,
                           enrich_port=local_kafka.free_port(), extra_env=stack.extra_env)
                     for i in range(2, ENRICH_WORKERS + 1)]
            with stack, contextlib.ExitStack() as more:
                stack.start(timeout_s=180)
                for other in extra:
                    more.enter_context(other)
                    other.start("enrich", timeout_s=180)
                if extra:
                    wait_for_group(cluster.bootstrap, "siaga-enrich", ENRICH_WORKERS)
                pids = {name: svc.proc.pid for name, svc in stack.services.items()}
                pids.update({f"enrich{i}": other.services["enrich"].proc.pid
                             for i, other in enumerate(extra, start=2)})
                pids["broker"] = int(cluster.nodes[0].pid_file.read_text())
                cpu, feeding_cpu = CpuMeter(pids), CpuMeter(pids)
                api = stack.services["api"].url
                ingest = stack.services["ingest"].url
                reports = Feeder(f"{ingest}/v1/reports/batch", "v", REPORT_RATE, SECONDS, report_batch, BATCH)
                mentions = Feeder(f"{ingest}/v1/mentions", "c", MENTION_RATE, SECONDS, mention_batch,
                                  MENTION_BATCH)
                seen: list[tuple[float, int]] = []
                stop = threading.Event()

                def poll() -> None:
                    with httpx.Client(timeout=10, headers={"Authorization": "Bearer m"}) as client:
                        while not stop.is_set():
                            try:
                                body = client.get(f"{api}/v1/situation", params={"level": 1}).json()
                                seen.append((time.perf_counter(), sum(a["reports"] for a in body["areas"])))
                            except (httpx.HTTPError, KeyError, ValueError):
                                pass
                            time.sleep(0.05)

                # Warm-up: the worker joins its group and restores its tables after /healthz already answers;
                # measure from the moment a probe report shows, not from process start.
                probe = [{"report_id": f"{run}-probe", "submitted_at": "2017-02-21T08:00:00+07:00",
                          "reporter": {"id": "probe"}, "location": {"lat": places[0][1], "lon": places[0][2]},
                          "hazard": "banjir", "figures": {"affected": 1}}]
                httpx.post(f"{ingest}/v1/reports/batch", json=probe, headers={"Authorization": "Bearer v"}, timeout=30)
                warm_deadline = time.monotonic() + 180
                while time.monotonic() < warm_deadline:
                    r = httpx.get(f"{api}/v1/situation", params={"level": 1}, headers={"Authorization": "Bearer m"})
                    if sum(a["reports"] for a in r.json()["areas"]) >= 1:
                        break
                    time.sleep(0.5)
                poller = threading.Thread(target=poll, daemon=True)
                poller.start()
                cpu.start()
                feeding_cpu.start()
                reports.start()
                if MENTION_RATE > 0:
                    mentions.start()
                reports.join()
                if MENTION_RATE > 0:
                    mentions.join()
                feeding_cpu.stop()  # while input arrived at the offered rate
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and (not seen or seen[-1][1] < reports.accepted + 1):
                    time.sleep(0.2)
                cpu.stop()  # feeding and catching up: the whole time the pipeline worked for these reports
                stop.set()
                poller.join()
        finally:
            cluster.stop()

    delays = []
    idx = 0
    for t_ack, total in reports.marks:
        while idx < len(seen) and seen[idx][1] < total + 1:  # + the warm-up probe
            idx += 1
        if idx < len(seen):
            delays.append(max(0.0, seen[idx][0] - t_ack))
    visible = seen[-1][1] - 1 if seen else 0
    from services.common.config import settings

    api_cfg = settings()  # what the API process read from the same environment
    result = {
        "benchmark": "e2e", "machine": machine_info(),
        "settings": {"target_reports_per_s": REPORT_RATE, "target_mentions_per_s": MENTION_RATE,
                     "seconds": SECONDS, "report_batch": BATCH, "mention_batch": MENTION_BATCH,
                     "services": f"1 ingest (uvicorn, 1 process), {ENRICH_WORKERS} enrich worker(s), 1 api; 1 broker",
                     "api_cache_ttl": "SIAGA_API_CACHE_MIN_TTL_S / SIAGA_API_CACHE_TTL_S: "
                                      f"{api_cfg.api_cache_min_ttl_s} / {api_cfg.api_cache_ttl_s} s"},
        "cores_used_while_feeding": feeding_cpu.cores,
        "cores_used_while_feeding_and_catching_up": cpu.cores,
        "reports_accepted": reports.accepted, "reports_visible": visible,
        "reports_per_s": reports.accepted / reports.elapsed, "report_errors": reports.errors,
        "mentions_accepted": mentions.accepted,
        "mentions_per_s": mentions.accepted / getattr(mentions, "elapsed", 1) if MENTION_RATE > 0 else 0,
        "p50_s": percentile(delays, 0.50), "p95_s": percentile(delays, 0.95), "p99_s": percentile(delays, 0.99),
        "reproduce": "make bench (or .venv/bin/python bench/bench_e2e.py); SIAGA_BENCH_E2E_RATE / _MENTION_RATE",
    }
    write_result("e2e", result)
    print_table("end to end (ingest → enrich → api)", [
        ("reports accepted /s", f"{result['reports_per_s']:.0f}", f"offered {REPORT_RATE:.0f}"),
        ("mentions accepted /s", f"{result['mentions_per_s']:.0f}", f"offered {MENTION_RATE:.0f}"),
        ("all accepted visible in /v1/situation", str(visible >= reports.accepted), f"{visible}/{reports.accepted}"),
        ("202 → visible p50 / p95 / p99", f"{result['p50_s']:.2f} / {result['p95_s']:.2f} / {result['p99_s']:.2f} s",
         "target p95 < 2 s"),
        *[(f"cores: {name}", f"{cores:.2f}", f"{cpu.cores[name]:.2f} incl. catching up")
          for name, cores in feeding_cpu.cores.items()],
    ], headers=("what", "measured", "note"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
