"""Ingest throughput, side by side with the ceilings it sits under, in one run on one broker.

- bare:   a FastAPI endpoint that reads the body and answers 202 (the HTTP ceiling)
- single: POST /v1/reports, one report per request, 64 concurrent clients
- batch:  POST /v1/reports/batch, 100 reports per request
- raw:    kafka-python producing the same report JSON with the same settings (acks=all, idempotent)

Targets (issue 8): single ≥ 60% of bare; batch ≥ 50% of raw produce. Writes bench/results/ingest.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "deploy" / "kafka"))

from bench.common import machine_info, print_table, write_result  # noqa: E402

SECONDS = float(os.environ.get("SIAGA_BENCH_SECONDS", "10"))
CLIENTS = 64
BATCH = 100


def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def serve(module_app: str, port: int, env: dict, factory: bool = False) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", module_app, "--host", "127.0.0.1", "--port", str(port),
           "--no-access-log", "--log-level", "warning"]
    if factory:
        cmd.append("--factory")
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def load(url: str, body: str, token: str | None, clients: int = CLIENTS, seconds: float = SECONDS) -> dict:
    cmd = [sys.executable, str(REPO / "bench" / "loadgen.py"), "--url", url, "--clients", str(clients),
           "--seconds", str(seconds), "--body-template", body, "--batch", str(BATCH)]
    if token:
        cmd += ["--header", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def raw_produce(bootstrap: str, n: int = 100_000) -> dict:
    from kafka import KafkaProducer

    from bench.loadgen import report_body

    bodies = [report_body(i) for i in range(n)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2,
                             batch_size=256 * 1024)
    start = time.perf_counter()
    futures = [producer.send("reports.raw", key=json.loads(b)["report_id"].encode(), value=b) for b in bodies]
    producer.flush()
    elapsed = time.perf_counter() - start
    failed = sum(1 for f in futures if f.failed())
    producer.close()
    return {"messages": n, "failed": failed, "seconds": elapsed, "messages_per_s": n / elapsed}


def main() -> int:
    import local_kafka

    from services.common.topics import ensure_topics

    with tempfile.TemporaryDirectory() as tmp:
        cluster = local_kafka.Cluster(Path(tmp) / "kafka", port=0).start()
        procs: list[subprocess.Popen] = []
        try:
            ensure_topics(cluster.bootstrap)
            auth = Path(tmp) / "auth.json"
            auth.write_text(json.dumps([{"token": "bench", "role": "volunteer", "name": "bench"}]))
            env = {**os.environ, "SIAGA_KAFKA": cluster.bootstrap, "SIAGA_AUTH_FILE": str(auth),
                   "SIAGA_LOG_LEVEL": "WARNING", "SIAGA_MAX_BODY_BYTES": str(8 * 1024 * 1024),
                   "SIAGA_RATE_PER_TOKEN": "0"}  # the load generator floods with one token on purpose
            bare_port, ingest_port = local_kafka.free_port(), local_kafka.free_port()
            procs.append(serve("bench.bare_app:app", bare_port, env))
            procs.append(serve("services.ingest.app:build", ingest_port, env, factory=True))
            wait_http(f"http://127.0.0.1:{bare_port}/healthz")
            wait_http(f"http://127.0.0.1:{ingest_port}/healthz")
            # Warm-up: the producer connects and fetches metadata on the first request.
            load(f"http://127.0.0.1:{ingest_port}/v1/reports", "report", "bench", clients=4, seconds=2)
            bare = load(f"http://127.0.0.1:{bare_port}/v1/reports", "report", None)
            single = load(f"http://127.0.0.1:{ingest_port}/v1/reports", "report", "bench")
            batch = load(f"http://127.0.0.1:{ingest_port}/v1/reports/batch", "batch", "bench", clients=8)
            raw = raw_produce(cluster.bootstrap)
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=15)
            cluster.stop()
    batch_reports_s = batch["requests_per_s"] * BATCH if batch["status"].get("200") == batch["requests"] else 0.0
    result = {
        "benchmark": "ingest",
        "machine": machine_info(),
        "settings": {"clients": CLIENTS, "seconds": SECONDS, "batch_size": BATCH, "uvicorn_workers": 1,
                     "producer": "kafka-python acks=all idempotent linger_ms=2"},
        "bare": bare, "single": single, "batch": batch, "raw_produce": raw,
        "single_vs_bare": single["requests_per_s"] / bare["requests_per_s"],
        "batch_reports_per_s": batch_reports_s,
        "batch_vs_raw": batch_reports_s / raw["messages_per_s"],
        "targets": {"single_vs_bare": 0.6, "batch_vs_raw": 0.5},
        "reproduce": "make bench (or .venv/bin/python bench/bench_ingest.py)",
    }
    write_result("ingest", result)
    print_table("ingest (reports/s)", [
        ("bare FastAPI endpoint", f"{bare['requests_per_s']:.0f}", f"p99 {bare['p99_ms']:.1f} ms", ""),
        ("POST /v1/reports x64", f"{single['requests_per_s']:.0f}", f"p99 {single['p99_ms']:.1f} ms",
         f"{result['single_vs_bare']:.0%} of bare (target 60%)"),
        ("raw kafka-python produce", f"{raw['messages_per_s']:.0f}", "", ""),
        (f"POST /v1/reports/batch x{BATCH}", f"{batch_reports_s:.0f}", f"p99 {batch['p99_ms']:.1f} ms",
         f"{result['batch_vs_raw']:.0%} of raw (target 50%)"),
    ], headers=("what", "per second", "latency", "ratio"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
