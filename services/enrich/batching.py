"""Batches of events from a faust stream, acknowledged only after the batch was processed.

Like faust's `stream.take_events(n, within=...)`, but without its timer: a batch ends when it holds `max_n`
events or when the stream's queue is empty. A busy worker gets large batches (one vectorised geotag query
each); a quiet one processes a lone report at once instead of waiting out `within`. It also avoids the
take buffer's hand-off between two tasks, a part of faust with a history of stalls and acking bugs.

Offsets are committed only for acknowledged events, and events are acknowledged after their batch: a crash
mid-batch means redelivery (at least once), never loss.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import faust

from services.common.metrics import ENRICH_OFFSET_GAPS

log = logging.getLogger("siaga.enrich")
# Last offset each stream delivered per input partition, forgotten at every rebalance (a partition that comes
# back may legitimately resume elsewhere). Within one assignment offsets must follow each other.
_last_delivered: dict[tuple[str, int], int] = {}


def forget_positions() -> None:
    _last_delivered.clear()


async def batches(stream: faust.StreamT, max_n: int) -> AsyncIterator[list[faust.EventT]]:
    stream.enable_acks = False  # we acknowledge, after processing
    queue = stream.channel.queue
    pending: list[faust.EventT] = []
    async for event in stream.events():
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
        pending.append(event)
        if len(pending) >= max_n or queue.empty():
            # Acknowledged only when the batch came back processed: if processing raised (or the worker is
            # stopping mid-batch), the events stay unacknowledged, their offsets uncommitted, and they are
            # redelivered. Acking in a `finally` would commit the offsets of a batch that failed: a lost batch.
            yield pending
            for done in pending:
                await stream.ack(done)
            pending = []
