"""`services.enrich.batching.batches` against a stand-in stream: batch sizes, acknowledgement after processing,
and a held batch handed over even when the stream stops delivering (a rebalance clears faust's queue and then
waits for every delivered event to be acknowledged)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from services.enrich.batching import batches, forget_positions


class FakeStream:
    """Events from an asyncio.Queue, like a faust stream over its channel's queue."""

    def __init__(self) -> None:
        self.channel = SimpleNamespace(queue=asyncio.Queue())
        self.acked: list[int] = []
        self.enable_acks = True

    def put(self, *offsets: int) -> None:
        for offset in offsets:
            message = SimpleNamespace(topic="reports.raw", partition=0, offset=offset)
            self.channel.queue.put_nowait(SimpleNamespace(message=message))

    async def events(self):  # noqa: ANN201
        while True:
            await asyncio.sleep(0)
            yield await self.channel.queue.get()

    async def ack(self, event: SimpleNamespace) -> None:
        self.acked.append(event.message.offset)


def run(coro):  # noqa: ANN001, ANN201
    forget_positions()
    return asyncio.run(asyncio.wait_for(coro, timeout=10))


def test_a_backlog_comes_as_full_batches_acknowledged_after_processing():
    async def main() -> list[list[int]]:
        stream = FakeStream()
        stream.put(*range(10))
        seen = []
        gen = batches(stream, max_n=4, linger_s=0.01)
        for _ in range(3):
            batch = await gen.__anext__()
            assert not set(e.message.offset for e in batch) & set(stream.acked), "acked before processing"
            seen.append([e.message.offset for e in batch])
        await gen.aclose()
        return seen

    assert run(main()) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


class ClearedStream(FakeStream):
    """Delivers two events, then never another, while its queue still looks non-empty: what a rebalance does
    when it clears faust's queue between the batch's emptiness check and the stream's read."""

    async def events(self):  # noqa: ANN201
        for _ in range(2):
            await asyncio.sleep(0)
            yield self.channel.queue.get_nowait()
        await asyncio.Event().wait()  # blocked for good
        yield  # pragma: no cover


def test_a_held_batch_is_handed_over_when_the_stream_stops_delivering():
    async def main() -> tuple[list[int], float]:
        stream = ClearedStream()
        stream.put(1, 2, 3)  # the third stays queued: the batch sees a non-empty queue and would wait for it
        gen = batches(stream, max_n=100, linger_s=0.02)
        loop = asyncio.get_running_loop()
        start = loop.time()
        batch = await gen.__anext__()
        took = loop.time() - start
        await gen.aclose()
        return [e.message.offset for e in batch], took

    offsets, took = run(main())
    assert offsets == [1, 2]
    assert took < 1.0


def test_a_batch_whose_processing_failed_is_not_acknowledged():
    async def main() -> list[int]:
        stream = FakeStream()
        stream.put(1, 2)

        async def agent() -> None:
            async for _batch in batches(stream, max_n=10, linger_s=0.01):
                raise RuntimeError("processing failed")

        with pytest.raises(RuntimeError):
            await agent()
        return stream.acked

    assert run(main()) == []
