"""Batches of events from a faust stream, acknowledged only after the batch was processed.

Like faust's `stream.take_events(n, within=...)`, but without its timer: a batch ends when it holds `max_n`
events or when the stream's queue is empty. A busy worker gets large batches (one vectorised geotag query
each); a quiet one processes a lone report at once instead of waiting out `within`. It also avoids the
take buffer's hand-off between two tasks, a part of faust with a history of stalls and acking bugs.

Offsets are committed only for acknowledged events, and events are acknowledged after their batch: a crash
mid-batch means redelivery (at least once), never loss.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import faust


async def batches(stream: faust.StreamT, max_n: int) -> AsyncIterator[list[faust.EventT]]:
    stream.enable_acks = False  # we acknowledge, after processing
    queue = stream.channel.queue
    pending: list[faust.EventT] = []
    async for event in stream.events():
        pending.append(event)
        if len(pending) >= max_n or queue.empty():
            # Acknowledged only when the batch came back processed: if processing raised (or the worker is
            # stopping mid-batch), the events stay unacknowledged, their offsets uncommitted, and they are
            # redelivered. Acking in a `finally` would commit the offsets of a batch that failed: a lost batch.
            yield pending
            for done in pending:
                await stream.ack(done)
            pending = []
