"""Send a file of reports or mentions through the ingest API: how past disasters are replayed and the demo fed.

It goes through HTTP on purpose (not straight into Kafka), so a replay exercises exactly what a volunteer's
phone does: validation, auth, batching and 503 handling with retries.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tqdm import tqdm


@dataclass
class ReplayResult:
    sent: int = 0
    accepted: int = 0
    invalid: int = 0
    unreadable: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)


def read_items(path: Path) -> Iterator[dict | None]:
    """JSON lines or CSV rows as dicts; None for a line that is not JSON (counted, not fatal)."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            yield from csv.DictReader(fh)
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                yield None
                continue
            yield item if isinstance(item, dict) else None


def detect_kind(item: dict) -> str:
    return "reports" if "report_id" in item else "mentions"


def replay(path: Path, url: str, token: str, rate: float | None = None, batch: int = 100,
           kind: str | None = None, progress: bool = True, max_retries: int = 20) -> ReplayResult:
    """Post every item of `path` in batches; `rate` caps items per second (None: as fast as accepted)."""
    result = ReplayResult()
    headers = {"Authorization": f"Bearer {token}"}
    items = list(read_items(path))
    result.unreadable = sum(1 for i in items if i is None)
    good = [i for i in items if i is not None]
    started = time.monotonic()
    with httpx.Client(base_url=url, headers=headers, timeout=30.0) as client, \
            tqdm(total=len(good), unit="item", disable=not progress, desc=path.name) as bar:
        for start in range(0, len(good), batch):
            chunk = good[start:start + batch]
            chunk_kind = kind or detect_kind(chunk[0])
            endpoint = "/v1/reports/batch" if chunk_kind == "reports" else "/v1/mentions"
            _post_with_retries(client, endpoint, chunk, chunk_kind, result, max_retries)
            result.sent += len(chunk)
            bar.update(len(chunk))
            if rate:
                ahead = result.sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    return result


def _post_with_retries(client: httpx.Client, endpoint: str, chunk: list[dict], kind: str, result: ReplayResult,
                       max_retries: int) -> None:
    pending = chunk
    for attempt in range(max_retries + 1):
        try:
            resp = client.post(endpoint, json=pending)
        except httpx.TransportError as err:
            resp, error = None, str(err)
        else:
            error = f"{resp.status_code}: {resp.text[:200]}"
        if resp is not None and kind == "reports" and resp.status_code in (200, 503) and "results" in resp.json():
            body = resp.json()
            result.accepted += body["accepted"]
            result.invalid += body["invalid"]
            result.errors.extend(f"{r.get('report_id')}: {r['errors']}" for r in body["results"]
                                 if r["status"] == "invalid")
            pending = [item for item, r in zip(pending, body["results"], strict=True) if r["status"] == "retry"]
            if not pending:
                return
        elif resp is not None and resp.status_code == 202:
            result.accepted += len(pending)
            return
        elif resp is not None and resp.status_code in (401, 403, 413, 422):
            result.invalid += len(pending)
            result.errors.append(error)
            return
        result.retries += 1
        time.sleep(min(5.0, 0.2 * 2**attempt))
    result.errors.append(f"gave up on {len(pending)} items after {max_retries} retries")
