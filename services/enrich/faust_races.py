"""Two races in faust-streaming 0.15's consumer that lose input messages around every table recovery, and the
smallest wrappers that close them. No faust code is replaced or copied: the original methods still run.

Both were found by `tests/test_enrich_state.py` (about one run in five: a restarted worker skipped a range of
`reports.enriched` or `reports.raw` offsets) and confirmed with faust's consumer instrumented by hand.

1. **Resume before seek.** `Recovery.on_recovery_completed` resumes the input partitions, then awaits
   `consumer.perform_seek()` while the consumer's flow already runs (it ran to read the changelogs). Records
   delivered during the seek are bookkept against read offsets the seek then resets: the jump is recorded as a
   "gap", faust counts gap offsets as acknowledged and commits past messages no stream saw. Fix: the resume
   faust asks for is held until the whole method (seek included) has returned, then applied if no newer
   rebalance has started, for the partitions still assigned; if it raised (a newer rebalance), it is dropped
   and the newer recovery resumes its own partitions after its own seek.
2. **An empty partition set means "all partitions".** faust pauses partitions only by leaving them out of the
   set it hands to aiokafka's `fetched_records(partitions)`, and hands over the live set object. When recovery
   pauses the last active partitions mid-wait, the set becomes empty, aiokafka reads an empty set as "no
   filter" and returns buffered records of paused inputs; faust drops them (not active) after aiokafka has
   already advanced the positions past them. The messages are neither processed nor gap-counted: the group's
   lag sticks. Fix: fetch for a copy of the set, never for an empty one, and seek back any partition that was
   paused while its records were in flight, so their position stays at the first record not handed over.

Upstream reports of the same family: faust-streaming/faust#216 (the first race, fixed there only for apps
without tables), #596 and #606 (open). `batching.batches` counts any offset jump that still reaches a stream
(`siaga_enrich_offset_gaps_total`, alert `SiagaEnrichOffsetGap`).
"""

from __future__ import annotations

import functools
from typing import Any

from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

_PATCHED = "_siaga_patched"


def install() -> None:
    """Apply both fixes, once per process (idempotent)."""
    _seek_before_resume()
    _fetch_only_active()


def _seek_before_resume() -> None:
    original = Recovery.on_recovery_completed
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    async def on_recovery_completed(self: Recovery, generation_id: int = 0) -> None:
        consumer = self.app.consumer
        held: list[set] = []
        consumer.resume_partitions = held.append  # faust's resume, before its seek, only records the wish
        try:
            await original(self, generation_id)
        except BaseException:
            held.clear()  # a new rebalance (RebalanceAgain), a stop: its own recovery resumes after its own seek
            raise
        finally:
            del consumer.resume_partitions  # back to the class's method
        if self.app.consumer_generation_id != generation_id:
            return  # superseded meanwhile: the newer recovery decides
        assigned = consumer.assignment()
        for tps in held:  # the seek is done: now the inputs may flow, from their committed offsets
            consumer.resume_partitions({tp for tp in tps if tp in assigned})

    setattr(on_recovery_completed, _PATCHED, True)
    Recovery.on_recovery_completed = on_recovery_completed  # type: ignore[method-assign]


def withhold_paused(records: dict, still_active: set) -> dict:
    """Remove from `records` the partitions no longer in `still_active`; the offset to rewind each one to."""
    rewind = {}
    for tp in [tp for tp in records if tp not in still_active]:
        batch = records.pop(tp)
        if batch:
            rewind[tp] = batch[0].offset
    return rewind


def _fetch_only_active() -> None:
    original = AIOKafkaConsumerThread._fetch_records
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    async def _fetch_records(self: AIOKafkaConsumerThread, consumer: Any, active_partitions: set,
                             timeout: float | None = None, max_records: int | None = None) -> dict:
        # `set()` copies the live set (changed by the main thread; this runs in faust's consumer thread) in one
        # step under the GIL.
        wanted = set(active_partitions)
        if not wanted:
            return {}  # to aiokafka an empty set would mean every partition, paused ones included
        records = await original(self, consumer, wanted, timeout=timeout, max_records=max_records)
        still = set(active_partitions) | set(self.consumer._buffered_partitions)
        for tp, offset in withhold_paused(records, still).items():
            consumer.seek(tp, offset)  # faust would have dropped them: their position goes back to the first
        return records

    setattr(_fetch_records, _PATCHED, True)
    AIOKafkaConsumerThread._fetch_records = _fetch_records  # type: ignore[method-assign]
