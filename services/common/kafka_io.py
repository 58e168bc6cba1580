"""An asyncio face on kafka-python's producer: the HTTP edge answers only after the broker acknowledged.

kafka-python's producer is thread-based and fast; awaiting its futures from the event loop (instead of
blocking on `.get()`) lets one ingest process keep hundreds of requests in flight while the producer
batches them into few broker round trips.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from services.common.metrics import PRODUCE_SECONDS

log = logging.getLogger(__name__)


def dumps(obj: object) -> bytes:
    return orjson.dumps(obj)


_M = 0x5BD1E995
_MASK32 = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the Java client's `Utils.murmur2`), equal to kafka-python's for every input.

    kafka-python's version masks after every step and reads one byte at a time; a quarter of the CPU of its
    `send()` went there. This one reads whole 32-bit words and masks only where a value can pass 32 bits.
    Same hash means same partition: every version of a report still meets on one partition, whichever
    producer (this one, the Java client, kafka-python's default) wrote it.
    """
    length = len(data)
    h = 0x9747B28C ^ length
    words = length >> 2
    if words:
        for k in struct.unpack_from(f"<{words}I", data):
            k = (k * _M) & _MASK32
            k ^= k >> 24
            k = (k * _M) & _MASK32
            h = ((h * _M) & _MASK32) ^ k
    tail = length & 3
    if tail:
        base = length - tail
        if tail == 3:
            h ^= data[base + 2] << 16
        if tail >= 2:
            h ^= data[base + 1] << 8
        h ^= data[base]
        h = (h * _M) & _MASK32
    h ^= h >> 13
    h = (h * _M) & _MASK32
    h ^= h >> 15
    return h


def key_partitioner():  # noqa: ANN201 - a kafka.partitioner.DefaultPartitioner
    """kafka-python's DefaultPartitioner with the faster `murmur2` for keyed records (unkeyed ones: unchanged)."""
    from kafka.partitioner import DefaultPartitioner

    class KeyPartitioner(DefaultPartitioner):
        def partition(self, topic, key, serialized_key, value, serialized_value, cluster):  # noqa: ANN001, ANN201
            if serialized_key is None:
                return super().partition(topic, key, serialized_key, value, serialized_value, cluster)
            partitions = cluster.partitions_for_topic(topic)
            if not partitions:  # kafka-python checks the topic is known before it asks the partitioner
                raise ValueError(f"Topic {topic} not found in ClusterMetadata")
            ordered = sorted(partitions)
            return ordered[(murmur2(serialized_key) & 0x7FFFFFFF) % len(ordered)]

    return KeyPartitioner()


class KafkaUnavailable(Exception):
    """The write was not acknowledged: tell the client to retry (503), never claim it stored."""


@dataclass(frozen=True)
class Message:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


class AsyncProducer:
    """Idempotent, acks=all producer, created lazily so a service can start (and say 503) while Kafka is down."""

    def __init__(self, bootstrap: str, timeout_s: float = 10.0, client_id: str = "siaga", **overrides) -> None:
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self.client_id = client_id
        self.overrides = overrides
        self._producer = None
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self._failed_at = 0.0
        self.retry_after_s = 1.0  # while the broker is unreachable, answer 503 at once instead of queueing

    def _get(self):  # noqa: ANN202
        if self._producer is None:
            with self._lock:
                if self._producer is None and time.monotonic() - self._failed_at < self.retry_after_s:
                    raise KafkaUnavailable(self.last_error or "Kafka unreachable")
                if self._producer is None:
                    from kafka import KafkaProducer

                    cfg = dict(
                        bootstrap_servers=self.bootstrap.split(","), acks="all", enable_idempotence=True,
                        linger_ms=2, batch_size=256 * 1024, compression_type=None, client_id=self.client_id,
                        max_block_ms=int(self.timeout_s * 1000), request_timeout_ms=int(self.timeout_s * 1000),
                        delivery_timeout_ms=int(self.timeout_s * 1000) + 1000, retries=2**31 - 1,
                        bootstrap_timeout_ms=int(self.timeout_s * 1000), partitioner=key_partitioner(),
                        # kafka-python's own sensors: recorded per batch and request in both threads, read by
                        # nobody (Siaga's metrics are prometheus-client's, services.common.metrics).
                        metrics_enabled=False,
                    )
                    cfg.update(self.overrides)
                    try:
                        producer = KafkaProducer(**cfg)
                    except Exception as err:
                        self.last_error = f"{type(err).__name__}: {err}"
                        self._failed_at = time.monotonic()
                        raise KafkaUnavailable(self.last_error) from err
                    sender = getattr(producer, "_sender", None)
                    if sender is not None:
                        sender.wakeup = _CoalescedWakeup(sender.wakeup)
                    self._producer = producer
        return self._producer

    @property
    def connected(self) -> bool:
        p = self._producer
        return p is not None and bool(p.bootstrap_connected())

    async def send_many(self, messages: Sequence[Message]) -> list[BaseException | None]:
        """Send all, await every acknowledgement; per message None (stored) or the error.

        The acknowledgements of one call are gathered in kafka-python's sender thread and wake the event loop
        once, when the last one arrived: one loop future and one timer per call, not one per message.
        """
        if not messages:
            return []
        loop = asyncio.get_running_loop()
        try:
            producer = await loop.run_in_executor(None, self._get) if self._producer is None else self._producer
        except KafkaUnavailable as err:
            return [err] * len(messages)
        start = time.perf_counter()
        n = len(messages)
        acks = _Acks(loop, n)
        done = acks.one_done
        sent: list = [None] * n  # kafka-python futures; None where send() itself failed
        errors: list[BaseException | None] = [None] * n
        send = producer.send
        wakeup = getattr(getattr(producer, "_sender", None), "wakeup", None)
        coalesce = wakeup if isinstance(wakeup, _CoalescedWakeup) else None
        if coalesce is not None:
            coalesce.defer_in(loop)
        try:
            for i, m in enumerate(messages):
                try:
                    kfut = send(m.topic, key=m.key, value=m.value, headers=list(m.headers))
                except Exception as err:  # buffer full / metadata timeout: nothing stored
                    self.last_error = f"{type(err).__name__}: {err}"
                    errors[i] = KafkaUnavailable(self.last_error)
                    done(None)
                    continue
                sent[i] = kfut
                kfut.add_callback(done)
                kfut.add_errback(done)
        finally:
            if coalesce is not None:
                coalesce.stop()
        # A timer, not wait_for(): on timeout wait_for cancels what it waits for, and reading a cancelled future
        # raises CancelledError, which turned "broker did not acknowledge" into a 500.
        timer = loop.call_later(self.timeout_s + 2, acks.give_up)
        try:
            await acks.future
        finally:
            timer.cancel()
        unresolved = False
        for i, kfut in enumerate(sent):
            if kfut is None:
                continue
            if not kfut.is_done:
                unresolved = True
                self.last_error = "KafkaUnavailable: broker did not acknowledge in time"
                errors[i] = KafkaUnavailable("broker did not acknowledge in time")
            elif kfut.exception is not None:
                err = kfut.exception
                self.last_error = f"{type(err).__name__}: {err}"
                errors[i] = err if isinstance(err, KafkaUnavailable) else KafkaUnavailable(str(err))
        if unresolved:
            self._replace(producer)
        PRODUCE_SECONDS.observe(time.perf_counter() - start)
        return errors

    async def send(self, message: Message) -> None:
        (err,) = await self.send_many([message])
        if err is not None:
            raise err

    def _replace(self, producer) -> None:  # noqa: ANN001 - a KafkaProducer
        """Drop a producer that let a send outlive its delivery timeout; the next send builds a fresh one.

        kafka-python fails every batch by `delivery_timeout_ms`, so an unresolved send past it means the client
        is wedged. Seen with kafka-python 3.0.12: when a batch that was already sent expires (a broker died),
        the idempotent producer resets its producer id but never asks for a new one, and from then on sends
        nothing at all. A new producer gets a new id; what the old one held was never acknowledged (503).
        """
        with self._lock:
            if self._producer is not producer:
                return  # a concurrent request already replaced it
            self._producer = None
        self.last_error = "producer did not resolve sends within its delivery timeout; replaced"
        log.warning("replacing a Kafka producer that stopped resolving sends", extra={"client_id": self.client_id})
        threading.Thread(target=_close_quietly, args=(producer, 0), name="kafka-producer-close", daemon=True).start()

    def close(self) -> None:
        if self._producer is not None:
            _close_quietly(self._producer, 5)
            self._producer = None


def _close_quietly(producer, timeout_s: float) -> None:  # noqa: ANN001 - a KafkaProducer
    """kafka-python's close() flushes first and raises when that times out, before it force-closes its sender
    thread (a shutdown with a broker down failed that way); finish the close in that case."""
    try:
        producer.close(timeout=timeout_s)
    except Exception as err:
        log.warning("Kafka producer did not flush on close", extra={"error": f"{type(err).__name__}: {err}"})
        sender = getattr(producer, "_sender", None)
        if sender is not None and sender.is_alive():
            sender.force_close()


class _Acks:
    """Counts the acknowledgements of one `send_many` call where kafka-python delivers them.

    `one_done` runs in the producer's sender thread (or at once in the caller's, for a send that failed
    immediately), once per message, success or failure alike; only the last one hands over to the event loop,
    which then reads each kafka-python future's outcome. `give_up` runs in the loop when the timeout passes.
    """

    __slots__ = ("loop", "future", "remaining", "lock")

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.loop = loop
        self.future: asyncio.Future = loop.create_future()
        self.remaining = n
        self.lock = threading.Lock()

    def one_done(self, _outcome: object) -> None:
        with self.lock:
            self.remaining -= 1
            if self.remaining:
                return
        _handoff(self.loop).push(self.future)

    def give_up(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class _Handoff:
    """Wakes the event loop from kafka-python's sender thread in bulk.

    One `call_soon_threadsafe` per acknowledgement wakes the loop thousands of times a second and makes the
    two threads fight for the GIL; instead the sender thread queues finished calls and wakes the loop once per
    burst (one produce response usually completes many requests).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: collections.deque[asyncio.Future] = collections.deque()
        self.scheduled = False
        self.lock = threading.Lock()

    def push(self, fut: asyncio.Future) -> None:
        self.pending.append(fut)
        with self.lock:
            if self.scheduled:
                return
            self.scheduled = True
        self.loop.call_soon_threadsafe(self.drain)

    def drain(self) -> None:
        with self.lock:
            self.scheduled = False
        while self.pending:
            fut = self.pending.popleft()
            if not fut.done():  # given up on, or cancelled with its request
                fut.set_result(None)


_handoffs: dict[int, _Handoff] = {}


def _handoff(loop: asyncio.AbstractEventLoop) -> _Handoff:
    h = _handoffs.get(id(loop))
    if h is None or h.loop is not loop:
        h = _handoffs[id(loop)] = _Handoff(loop)
    return h


class _CoalescedWakeup:
    """Stands in for the producer's `Sender.wakeup`: sends from `send_many` share one wake-up per loop iteration.

    kafka-python's `send()` wakes its sender thread (a byte down a socketpair) whenever a record starts a new
    batch, i.e. about once per partition per linger period, for every request. Each wake-up is a syscall plus a
    GIL hand-over to a thread that mostly finds the batch not yet due (`linger_ms`) and sleeps again; under load
    that was a fifth of the producer's cost on the event loop and a third of the sender thread's. While
    `send_many` calls `send()` (`defer_in`), a wake-up is instead scheduled once, at the end of the current loop
    iteration. Every other caller (flush and close, which block until the sender acts; other threads) wakes the
    sender at once, as before.
    """

    def __init__(self, wakeup: Callable[[], None]) -> None:
        self.wakeup = wakeup
        # (loop, thread id) only while send_many calls send(); one attribute, so it is read and written whole.
        self.deferring: tuple[asyncio.AbstractEventLoop, int] | None = None
        self.pending: set[asyncio.AbstractEventLoop] = set()

    def defer_in(self, loop: asyncio.AbstractEventLoop) -> None:
        """Defer wake-ups asked for by this thread until `stop()` (send_many calls it in a finally)."""
        self.deferring = (loop, threading.get_ident())

    def stop(self) -> None:
        self.deferring = None

    def __call__(self) -> None:
        deferring = self.deferring
        if deferring is None or deferring[1] != threading.get_ident():
            self.wakeup()
            return
        loop = deferring[0]
        if loop not in self.pending:
            self.pending.add(loop)
            loop.call_soon(self._flush, loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self.pending.discard(loop)
        self.wakeup()
