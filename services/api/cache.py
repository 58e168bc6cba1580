"""Cached answers for the aggregated endpoints, keyed by (read-model version, query).

- A hit is an answer computed at the current read-model version, or younger than its TTL (during a busy
  response every site update changes the version, and recomputing a 100,000-site aggregation per update per
  query would eat the CPU the requests need). Served as stored bytes.
- The TTL follows what the answer cost: `cost_factor` times its computation (wall time, so a busy process
  reads as dear and refreshes less), between `min_ttl_s` and `ttl_s`. A regional response of a few thousand
  sites computes in milliseconds and is fresh within `min_ttl_s`; a national one whose aggregation takes 200 ms
  is recomputed at most every 2 s. Up to that cap, keeping one hot query fresh costs about a tenth of a core;
  an answer dearer than 0.2 s costs more, and every distinct query has its own entry, all computed one at a
  time. (A fixed 2 s TTL alone kept every answer up to 2 s behind the model, more than the whole
  report-to-dashboard budget.)
- An answer past its TTL after the model changed is still served at once ("stale") while ONE
  background refresh recomputes it, up to `max_stale_s`.
- A miss (or an answer older than `max_stale_s`) is computed once for all concurrent askers (single flight),
  in a worker thread so the event loop keeps serving cached answers meanwhile.

So an answer lags the read model by at most about its TTL plus one computation; `as_of` in the body and the
`X-Siaga-As-Of` header stay truthful because they belong to the stored answer.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import anyio

GZIP_MIN = 1400  # below one packet compression gains nothing
GZIP_LEVEL = 4  # JSON of numbers and coordinates: ~4x smaller; higher levels cost more than they save


@dataclass
class Answer:
    body: bytes
    as_of: datetime | None
    media_type: str = "application/json"
    _gz: bytes | None = field(default=None, repr=False)

    def gzipped(self) -> bytes:
        if self._gz is None:
            self._gz = gzip.compress(self.body, compresslevel=GZIP_LEVEL, mtime=0)
        return self._gz


@dataclass
class _Entry:
    version: int
    created: float
    answer: Answer
    ttl_s: float
    refreshing: bool = False


class AnswerCache:
    def __init__(self, version: Callable[[], int], ttl_s: float = 2.0, max_stale_s: float = 15.0,
                 max_entries: int = 256, min_ttl_s: float = 0.2, cost_factor: float = 10.0) -> None:
        self._version = version
        self.ttl_s = ttl_s
        self.min_ttl_s = min_ttl_s  # ttl_for caps at ttl_s
        self.cost_factor = cost_factor
        # One computation at a time: several at once only fight over the GIL (and the requests with them).
        self._limiter: anyio.CapacityLimiter | None = None
        self.max_stale_s = max_stale_s
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._inflight: dict[tuple, asyncio.Future] = {}
        self.stats = {"hit": 0, "stale": 0, "miss": 0}

    def ttl_for(self, cost_s: float) -> float:
        """How long an answer that took `cost_s` to compute is served after the read model changed."""
        return min(self.ttl_s, max(self.min_ttl_s, self.cost_factor * cost_s))

    def _store(self, key: tuple, version: int, answer: Answer, cost_s: float) -> None:
        self._entries[key] = _Entry(version, time.monotonic(), answer, self.ttl_for(cost_s))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def _compute(self, key: tuple, compute: Callable[[], Answer]) -> Answer:
        version = self._version()  # read before computing: a change during it makes the answer stale, not lost

        def run() -> tuple[Answer, float]:
            start = time.perf_counter()
            answer = compute()
            if len(answer.body) > GZIP_MIN:
                answer.gzipped()  # here, in the worker thread: never on the event loop
            return answer, time.perf_counter() - start

        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        answer, cost_s = await anyio.to_thread.run_sync(run, limiter=self._limiter)
        self._store(key, version, answer, cost_s)
        return answer

    async def get(self, key: tuple, compute: Callable[[], Answer]) -> tuple[Answer, str]:
        entry = self._entries.get(key)
        if entry is not None:
            age = time.monotonic() - entry.created
            if entry.version == self._version() or age < entry.ttl_s:
                self.stats["hit"] += 1
                return entry.answer, "hit"
            if age < self.max_stale_s:
                if not entry.refreshing:
                    entry.refreshing = True
                    asyncio.get_running_loop().create_task(self._refresh(key, compute, entry))
                self.stats["stale"] += 1
                return entry.answer, "stale"
        self.stats["miss"] += 1
        fut = self._inflight.get(key)
        if fut is not None:
            return await asyncio.shield(fut), "miss"
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            answer = await self._compute(key, compute)
            fut.set_result(answer)
            return answer, "miss"
        except BaseException as err:
            fut.set_exception(err)
            fut.exception()  # mark retrieved: waiters (if any) re-raise it
            raise
        finally:
            self._inflight.pop(key, None)

    async def _refresh(self, key: tuple, compute: Callable[[], Answer], entry: _Entry) -> None:
        try:
            await self._compute(key, compute)
        except Exception:
            entry.refreshing = False  # try again on a later request
