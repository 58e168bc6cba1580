"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending its next request as soon
as the previous answer arrived. Raw asyncio streams keep the client cheap, so on a 2-core machine most CPU
goes to the server being measured; every target in one comparison is driven by this same client.

    python bench/loadgen.py --url http://127.0.0.1:8001/v1/reports --clients 64 --seconds 10 \
        --body-template report --header 'Authorization: Bearer X'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
import uuid
from urllib.parse import urlsplit

REPORT_TEMPLATE = (
    '{"report_id":"%s","submitted_at":"2018-09-29T14:05:00+08:00","reporter":{"id":"bench-%d"},'
    '"location":{"lat":%.5f,"lon":%.5f},"hazard":"gempa","figures":{"affected":%d,"dead":%d}}'
)


def report_body(i: int) -> bytes:
    lat = -0.95 + (i % 97) * 0.001
    lon = 119.85 + (i % 89) * 0.001
    return (REPORT_TEMPLATE % (uuid.uuid4(), i % 50, lat, lon, 10 + i % 500, i % 3)).encode()


def batch_body(i: int, size: int) -> bytes:
    return b"[" + b",".join(report_body(i * size + k) for k in range(size)) + b"]"


def _content_length(head: bytes) -> tuple[int, bool]:
    """(Content-Length, chunked?) from a response head (status line and headers, without the blank line)."""
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return length, chunked


async def worker(host: str, port: int, path: str, headers: list[str], make_body, deadline: float,
                 stats: dict, latencies: list[float], wid: int) -> None:
    """One keep-alive connection, closed loop. The response head is read in one `readuntil` (not a `readline`
    per header): on this 2-core machine every microsecond the client spends is one the server under test
    does not get."""
    reader, writer = await asyncio.open_connection(host, port)
    method = "POST" if make_body else "GET"
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            + "".join(f"{h}\r\n" for h in headers)).encode()
    i = wid * 10_000_000
    perf_counter = time.perf_counter
    try:
        while perf_counter() < deadline:
            body = make_body(i) if make_body else b""
            i += 1
            start = perf_counter()
            writer.write(b"%bContent-Length: %d\r\n\r\n%b" % (head, len(body), body))
            try:
                response_head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:  # the server closed the connection: count it, stop this client
                stats[0] = stats.get(0, 0) + 1
                break
            length, chunked = _content_length(response_head[:-4])
            if chunked:
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            elif length:
                await reader.readexactly(length)
            latencies.append(perf_counter() - start)
            code = int(response_head.split(b" ", 2)[1])
            stats[code] = stats.get(code, 0) + 1
    finally:
        writer.close()


async def run(url: str, clients: int, seconds: float, headers: list[str], body: str | None, batch: int) -> dict:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    make_body = None
    if body == "report":
        make_body = report_body
    elif body == "batch":
        def make_body(i: int) -> bytes:
            return batch_body(i, batch)
    stats: dict[int, int] = {}
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(worker(parts.hostname, parts.port, path, headers, make_body, deadline, stats,
                                  latencies, w) for w in range(clients)))
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    total = sum(stats.values())
    return {"url": url, "clients": clients, "seconds": elapsed, "requests": total,
            "requests_per_s": total / elapsed, "status": {str(k): v for k, v in sorted(stats.items())},
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--body-template", choices=["report", "batch"], default=None)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    started = resource.getrusage(resource.RUSAGE_SELF)
    coro = run(args.url, args.clients, args.seconds, args.header, args.body_template, args.batch)
    try:  # uvloop when installed (it is, with uvicorn[standard]): a cheaper client leaves more CPU to the server
        import uvloop

        result = uvloop.run(coro)
    except ImportError:
        result = asyncio.run(coro)
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = used.ru_utime + used.ru_stime - started.ru_utime - started.ru_stime
    # The client's own CPU, to check it is not what limits the rate: per request and as cores busy.
    result["client_cpu_us_per_request"] = cpu_s / max(1, result["requests"]) * 1e6
    result["client_cores"] = cpu_s / result["seconds"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
