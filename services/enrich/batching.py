"""Batches of events from a faust stream, acknowledged only after the batch was processed.

Like faust's `stream.take_events(n, within=...)`, but without its timer: a batch ends when it holds `max_n`
events or when the stream's queue ran dry twice, the second time after waiting `linger_s` (20 ms) once. A busy
worker gets large batches (one vectorised geotag query, one table write per key, one array per regency); a
quiet one processes a lone report after 20 ms instead of waiting out `within`. The wait is needed because faust
hands a backlog over one message per task switch: without it, batches stayed at a few reports and the worker
managed ~1,300 reports per CPU-second instead of ~1,900 (bench/bench_enrich.py, same machine, same day).
It also avoids the take buffer's hand-off between two tasks, a part of faust with a history of stalls and
acking bugs. It never waits on the stream unboundedly while holding events: a rebalance clears the stream's
queue and then waits for every delivered event to be acknowledged, so a held batch is handed over after at
most `linger_s` instead of stalling the rebalance.

Offsets are committed only for acknowledged events, and events are acknowledged after their batch: a crash
mid-batch means redelivery (at least once), never loss.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import faust

from services.common.metrics import ENRICH_OFFSET_GAPS

log = logging.getLogger("siaga.enrich")
# The most a batch waits for more input once the queue ran dry: a few ms of latency per stage at light load.
LINGER_S = 0.02
# Last offset each stream delivered per input partition, forgotten at every rebalance (a partition that comes
# back may legitimately resume elsewhere). Within one assignment offsets must follow each other.
_last_delivered: dict[tuple[str, int], int] = {}


def forget_positions() -> None:
    _last_delivered.clear()


def _track(event: faust.EventT) -> None:
    """Count an input offset that does not follow the previous one of its partition (a message never seen)."""
    message = event.message
    tp = (message.topic, message.partition)
    prev = _last_delivered.get(tp)
    if prev is None:
        log.info("stream resumes %s[%d] at offset %d", message.topic, message.partition, message.offset)
    elif message.offset > prev + 1:
        # None of the input topics is compacted or transactional: a jump is a message this worker never saw.
        ENRICH_OFFSET_GAPS.labels(message.topic).inc(message.offset - prev - 1)
        log.warning("input offset gap on %s[%d]: %d follows %d", message.topic, message.partition,
                    message.offset, prev)
    _last_delivered[tp] = message.offset


async def batches(stream: faust.StreamT, max_n: int, linger_s: float = LINGER_S) -> AsyncIterator[list[faust.EventT]]:
    stream.enable_acks = False  # we acknowledge, after processing
    queue = stream.channel.queue
    source = stream.events().__aiter__()
    pending: list[faust.EventT] = []
    lingered = False
    waiting: asyncio.Future | None = None
    try:
        while True:
            if waiting is None:
                waiting = asyncio.ensure_future(source.__anext__())
            timeout = None  # nothing held: wait for the stream as long as it takes
            if pending:
                # Never wait on the stream unboundedly while holding a batch: a rebalance empties the queue and
                # then waits for the held events to be acknowledged. A message already queued arrives within a
                # few task switches; once the queue ran dry, wait `linger_s` once per batch, then hand over.
                # The pull runs in its own task and may already hold the queue's last event: give it a moment
                # (1 ms) even after lingering, or batches would end one event early, every time.
                dry = queue.empty()
                timeout = max(0.001 if dry and lingered else linger_s, 0.001)
                lingered = lingered or dry
            done, _ = await asyncio.wait({waiting}, timeout=timeout)
            if done:
                try:
                    event = waiting.result()
                except StopAsyncIteration:
                    break
                waiting = None
                _track(event)
                pending.append(event)
            if pending and (not done or len(pending) >= max_n):
                yield pending
                await _ack(stream, pending)
                pending, lingered = [], False
        if pending:
            yield pending
            await _ack(stream, pending)
    finally:
        if waiting is not None:
            waiting.cancel()


async def _ack(stream: faust.StreamT, events: list[faust.EventT]) -> None:
    """Acknowledged only when the batch came back processed: if processing raised (or the worker is stopping
    mid-batch), the events stay unacknowledged, their offsets uncommitted, and they are redelivered. Acking in
    a `finally` would commit the offsets of a batch that failed: a lost batch."""
    for done in events:
        await stream.ack(done)
