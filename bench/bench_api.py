"""Situation API under load: p50/p99 of /v1/situation and /v1/situation.geojson over 100,000 sites with 200
concurrent clients, and the cold rebuild of the read model from a real Kafka `sites` topic.

Usage: PYTHONPATH=. .venv/bin/python bench/bench_api.py [--sites 100000] [--clients 200] [--rate 400]
       [--seconds 20] [--updates 10]
Writes bench/results/api.json and prints a table. Takes about 2-3 minutes on 2 cores.

What runs:
1. A throwaway single-node Kafka (deploy/kafka/local_kafka.py) with Siaga's topics; 100,000 synthetic sites at
   real villages (services.core.synthetic) produced to `sites`.
2. Cold rebuild, in this process: a ReadModel fed by the API's own SitesFollower from offset 0 until `ready`
   (wall and CPU seconds; the machine is shared, so both are reported).
3. The real API (`python -m services.api`, uvicorn, one process) started against that broker; time to /readyz.
4. A load generator in its own process (raw asyncio HTTP/1.1 keep-alive: light enough not to starve the
   server of CPU on 2 cores): `--clients` connections, each sending requests on a fixed schedule so that
   together they offer `--rate` requests/s (open loop: latency counts from the scheduled send time, so a slow
   server cannot hide queueing by slowing the clients down). A mix of realistic dashboard queries per
   endpoint (levels 1-3, hazard and status filters), gzip accepted as browsers do. Meanwhile `--updates`
   site changes per second go through Kafka, so cached answers really are invalidated and recomputed.
   A closed-loop run (every client back-to-back, no pacing) measures the saturation throughput too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "api.json"

SITUATION_QUERIES = [
    "/v1/situation?level=2", "/v1/situation?level=1", "/v1/situation?level=3&area=33",
    "/v1/situation?level=2&hazard=flood", "/v1/situation?level=2&status=verified",
    "/v1/situation?level=3&area=72", "/v1/situation?level=1&hazard=earthquake&since=2018-10-01T00:00:00Z",
]
GEOJSON_QUERIES = [
    "/v1/situation.geojson?level=2", "/v1/situation.geojson?level=1", "/v1/situation.geojson?level=2&hazard=flood",
    "/v1/situation.geojson?level=3&area=72", "/v1/situation.geojson?level=2&status=verified",
]


# ---------------------------------------------------------------------------------------------------- loadgen
async def _client(host: str, port: int, token: str, paths: list[str], interval: float | None, start: float,
                  stop: float, lat: list[float], errors: list[str], offset: float) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    rng = random.Random(offset)
    next_at = start + offset
    try:
        while True:
            if interval is not None:
                now = time.perf_counter()
                if next_at > now:
                    await asyncio.sleep(next_at - now)
                sent = next_at
                next_at += interval
            else:
                sent = time.perf_counter()
            if sent >= stop:
                return
            path = paths[rng.randrange(len(paths))]
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                         f"Accept-Encoding: gzip\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if status == 200:
                lat.append(time.perf_counter() - sent)
            else:
                errors.append(str(status))
    except (ConnectionError, asyncio.IncompleteReadError) as err:
        errors.append(type(err).__name__)
    finally:
        writer.close()


async def _load(host: str, port: int, tokens: list[str], paths: list[str], rate: float | None, seconds: float,
                warmup: float) -> dict:
    n = len(tokens)
    interval = n / rate if rate else None
    lat: list[float] = []
    errors: list[str] = []
    start = time.perf_counter() + 0.5
    stop = start + warmup + seconds
    tasks = [asyncio.create_task(_client(host, port, tokens[i], paths, interval, start, stop, lat, errors,
                                         (interval or 0.01) * i / n)) for i in range(n)]
    await asyncio.sleep(0.5 + warmup)
    lat.clear()
    errors.clear()
    await asyncio.gather(*tasks)
    lat.sort()

    def q(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else float("nan")

    return {"requests": len(lat), "errors": len(errors), "error_kinds": sorted(set(errors))[:5],
            "rps": round(len(lat) / seconds, 1), "p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99),
            "max_ms": round(lat[-1] * 1000, 2) if lat else None}


def loadgen_main(argv: list[str]) -> None:
    spec = json.loads(argv[0])
    res = asyncio.run(_load(spec["host"], spec["port"], spec["tokens"], spec["paths"], spec["rate"],
                            spec["seconds"], spec["warmup"]))
    print(json.dumps(res))


def run_loadgen(port: int, tokens: list[str], paths: list[str], rate: float | None, seconds: float,
                warmup: float = 3.0) -> dict:
    spec = json.dumps({"host": "127.0.0.1", "port": port, "tokens": tokens, "paths": paths, "rate": rate,
                       "seconds": seconds, "warmup": warmup})
    out = subprocess.run([sys.executable, __file__, "--loadgen", spec], capture_output=True, text=True,
                         timeout=seconds + warmup + 60, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------- phases
def produce_sites(bootstrap: str, values: list[tuple[bytes, bytes]]) -> float:
    from kafka import KafkaProducer

    t = time.perf_counter()
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=1024 * 1024,
                      compression_type="lz4" if _has_lz4() else None, max_request_size=8 * 1024 * 1024)
    for k, v in values:
        p.send("sites", key=k, value=v)
    p.flush(timeout=120)
    p.close()
    return time.perf_counter() - t


def _has_lz4() -> bool:
    try:
        import lz4  # noqa: F401
    except ImportError:
        return False
    return True


def cold_rebuild(bootstrap: str, expected: int) -> dict:
    from services.api.consumer import SitesFollower
    from services.api.readmodel import ReadModel

    model = ReadModel()
    follower = SitesFollower(bootstrap, model)
    t, c = time.perf_counter(), time.process_time()
    follower.start()
    while not model.ready:
        if time.perf_counter() - t > 300:
            raise RuntimeError("rebuild did not finish in 300 s")
        time.sleep(0.02)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    follower.stop()
    follower.join(timeout=10)
    assert len(model.sites) == expected, (len(model.sites), expected)
    return {"sites": len(model.sites), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "sites_per_s": round(len(model.sites) / wall)}


def parse_only(values: list[tuple[bytes, bytes]]) -> dict:
    """The same applies without Kafka: what the read model itself costs per record."""
    import gc

    from services.api.readmodel import ReadModel

    model = ReadModel()
    gc.disable()
    c = time.process_time()
    for k, v in values:
        model.apply(k, v)
    cpu = time.process_time() - c
    gc.enable()
    return {"cpu_s": round(cpu, 2), "us_per_site": round(cpu / len(values) * 1e6, 1)}


def updater(bootstrap: str, values: list[tuple[bytes, bytes]], per_s: float, stop: threading.Event,
            sent: list[int]) -> None:
    """Site changes during the load run: some figures of random existing sites."""
    if per_s <= 0:
        return
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    rng = random.Random(3)
    while not stop.is_set():
        k, v = values[rng.randrange(len(values))]
        d = orjson.loads(v)
        d["figures"]["affected"] = rng.randrange(1, 900)
        d["figures_max"]["affected"] = max(d["figures_max"].get("affected") or 0, d["figures"]["affected"])
        d["figures_min"]["affected"] = min(d["figures_min"].get("affected") or 10**6, d["figures"]["affected"])
        p.send("sites", key=k, value=orjson.dumps(d))
        sent[0] += 1
        stop.wait(1.0 / per_s)
    p.flush(timeout=10)
    p.close()


def wait_ready(port: int, timeout_s: float = 300) -> float:
    import httpx

    t = time.perf_counter()
    while time.perf_counter() - t < timeout_s:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return time.perf_counter() - t
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("API never became ready")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sites", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--rate", type=float, default=400.0,
                    help="/v1/situation requests/s offered by all clients together")
    ap.add_argument("--geojson-rate", type=float, default=100.0,
                    help="/v1/situation.geojson requests/s (0.5-0.8 MB gzipped each: a map layer is loaded, not "
                         "polled like the numbers)")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds per endpoint")
    ap.add_argument("--updates", type=float, default=10.0, help="site changes per second during the load")
    args = ap.parse_args()

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "deploy" / "kafka"))
    import local_kafka

    from services.common.topics import ensure_topics
    from services.core.synthetic import synthetic_site_dicts

    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_at_start": os.getloadavg()[0]}
    result: dict = {"sites": args.sites, "clients": args.clients, "offered_rps": args.rate,
                    "geojson_offered_rps": args.geojson_rate,
                    "updates_per_s": args.updates, "machine": machine}
    t0 = time.perf_counter()
    values = [(d["site_id"].encode(), orjson.dumps(d)) for d in synthetic_site_dicts(args.sites)]
    result["generate_s"] = round(time.perf_counter() - t0, 1)
    result["avg_site_bytes"] = round(sum(len(v) for _, v in values) / len(values))
    result["read_model_apply"] = parse_only(values)

    with tempfile.TemporaryDirectory(prefix="siaga-bench-api-") as tmp:
        cluster = local_kafka.Cluster(Path(tmp) / "kafka", port=0, nodes=1, heap="768m").start(timeout_s=120)
        server = None
        stop_updates = threading.Event()
        try:
            ensure_topics(cluster.bootstrap)
            result["produce_s"] = round(produce_sites(cluster.bootstrap, values), 1)
            result["cold_rebuild"] = cold_rebuild(cluster.bootstrap, args.sites)

            tokens = [f"bench-{i:03d}-{os.urandom(6).hex()}" for i in range(args.clients)]
            auth = Path(tmp) / "auth.json"
            auth.write_text(json.dumps([{"token": t, "role": "manager", "name": f"bench-{i}"}
                                        for i, t in enumerate(tokens)]))
            port = local_kafka.free_port()
            env = {**os.environ, "SIAGA_KAFKA": cluster.bootstrap, "SIAGA_AUTH_FILE": str(auth),
                   "SIAGA_API_PORT": str(port), "PYTHONPATH": str(REPO), "SIAGA_RATE_PER_TOKEN": "0"}
            log = open(Path(tmp) / "api.log", "w")  # noqa: SIM115 - closed with the directory
            server = subprocess.Popen([sys.executable, "-m", "services.api"], cwd=REPO, env=env, stdout=log,
                                      stderr=subprocess.STDOUT)
            result["api_start_to_ready_s"] = round(wait_ready(port), 1)
            import httpx

            for q in SITUATION_QUERIES + GEOJSON_QUERIES:  # polygons and first answers: not what we measure
                httpx.get(f"http://127.0.0.1:{port}{q}", headers={"Authorization": f"Bearer {tokens[0]}"},
                          timeout=120)

            sent = [0]
            upd = threading.Thread(target=updater, args=(cluster.bootstrap, values, args.updates, stop_updates,
                                                          sent), daemon=True)
            upd.start()
            runs = {}
            for name, paths, rate in (("situation", SITUATION_QUERIES, args.rate),
                                      ("situation.geojson", GEOJSON_QUERIES, args.geojson_rate)):
                runs[name] = run_loadgen(port, tokens, paths, rate, args.seconds)
                runs[name]["offered_rps"] = rate
            runs["situation_saturation"] = run_loadgen(port, tokens, SITUATION_QUERIES, None, 10.0, warmup=2.0)
            stop_updates.set()
            upd.join(timeout=15)
            result["updates_sent"] = sent[0]
            result["load"] = runs
            body = httpx.get(f"http://127.0.0.1:{port}/v1/situation.geojson?level=2",
                             headers={"Authorization": f"Bearer {tokens[0]}", "Accept-Encoding": "gzip"})
            result["geojson_level2_bytes"] = {"gzip": int(body.headers.get("content-length", 0)),
                                              "raw": len(body.content)}
        finally:
            stop_updates.set()
            if server is not None:
                server.terminate()
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
            cluster.stop()
    result["total_s"] = round(time.perf_counter() - t0, 1)
    # headline numbers at the top level, for bench/run_all.py's summary
    result["situation_p99_ms"] = result["load"]["situation"]["p99_ms"]
    result["geojson_p99_ms"] = result["load"]["situation.geojson"]["p99_ms"]
    result["cold_rebuild_s"] = result["cold_rebuild"]["wall_s"]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    _table(result)


def _table(r: dict) -> None:
    print(f"\nSiaga API benchmark: {r['sites']:,} sites, {r['clients']} clients, {r['updates_per_s']:.0f} site "
          f"updates/s during the load, load average at start {r['machine']['load_avg_at_start']:.1f} on "
          f"{r['machine']['cpus']} CPUs")
    print(f"{'endpoint':<24}{'offered':>8}{'req':>8}{'rps':>8}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
          f"{'max ms':>9}{'err':>6}")
    for name, x in r["load"].items():
        offered = x.get("offered_rps") or "max"
        print(f"{name:<24}{offered:>8}{x['requests']:>8}{x['rps']:>8}{x['p50_ms']:>9}{x['p90_ms']:>9}{x['p99_ms']:>9}"
              f"{x['max_ms']:>9}{x['errors']:>6}")
    cr = r["cold_rebuild"]
    print(f"cold rebuild from Kafka: {cr['sites']:,} sites in {cr['wall_s']} s wall / {cr['cpu_s']} s CPU "
          f"({cr['sites_per_s']:,}/s); read model alone {r['read_model_apply']['us_per_site']} us/site; "
          f"API process start to /readyz {r['api_start_to_ready_s']} s")
    print(f"results: {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--loadgen":
        loadgen_main(sys.argv[2:])
    else:
        main()
