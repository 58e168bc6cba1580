"""An asyncio face on kafka-python's producer: the HTTP edge answers only after the broker acknowledged.

kafka-python's producer is thread-based and fast; awaiting its futures from the event loop (instead of
blocking on `.get()`) lets one ingest process keep hundreds of requests in flight while the producer
batches them into few broker round trips.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from services.common.metrics import PRODUCE_SECONDS

log = logging.getLogger(__name__)


def dumps(obj: object) -> bytes:
    return orjson.dumps(obj)


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
                        bootstrap_timeout_ms=int(self.timeout_s * 1000),
                    )
                    cfg.update(self.overrides)
                    try:
                        self._producer = KafkaProducer(**cfg)
                    except Exception as err:
                        self.last_error = f"{type(err).__name__}: {err}"
                        self._failed_at = time.monotonic()
                        raise KafkaUnavailable(self.last_error) from err
        return self._producer

    @property
    def connected(self) -> bool:
        p = self._producer
        return p is not None and bool(p.bootstrap_connected())

    async def send_many(self, messages: Sequence[Message]) -> list[BaseException | None]:
        """Send all, await every acknowledgement; per message None (stored) or the error."""
        loop = asyncio.get_running_loop()
        try:
            producer = await loop.run_in_executor(None, self._get) if self._producer is None else self._producer
        except KafkaUnavailable as err:
            return [err] * len(messages)
        start = time.perf_counter()
        waiters: list[asyncio.Future] = []
        for m in messages:
            fut: asyncio.Future = loop.create_future()
            waiters.append(fut)
            try:
                kfut = producer.send(m.topic, key=m.key, value=m.value, headers=list(m.headers))
            except Exception as err:  # buffer full / metadata timeout: nothing stored
                self.last_error = f"{type(err).__name__}: {err}"
                fut.set_result(KafkaUnavailable(self.last_error))
                continue
            kfut.add_callback(_resolver(loop, fut, None))
            kfut.add_errback(_resolver(loop, fut, True))
        # asyncio.wait, not wait_for(gather(...)): on timeout wait_for cancels the waiters, and reading a
        # cancelled future raises CancelledError, which turned "broker did not acknowledge" into a 500.
        done = (await asyncio.wait(waiters, timeout=self.timeout_s + 2))[0] if waiters else set()
        results = [f.result() if f in done else KafkaUnavailable("broker did not acknowledge in time")
                   for f in waiters]
        if len(done) < len(waiters):
            self._replace(producer)
        PRODUCE_SECONDS.observe(time.perf_counter() - start)
        out: list[BaseException | None] = []
        for r in results:
            if isinstance(r, BaseException):
                self.last_error = f"{type(r).__name__}: {r}"
                out.append(r if isinstance(r, KafkaUnavailable) else KafkaUnavailable(str(r)))
            else:
                out.append(None)
        return out

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


class _Resolutions:
    """Hands broker acknowledgements from kafka-python's sender thread to the event loop in bulk.

    One `call_soon_threadsafe` per acknowledgement wakes the loop thousands of times a second and makes the
    two threads fight for the GIL; instead the sender thread queues results and wakes the loop once per burst.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: collections.deque[tuple[asyncio.Future, object]] = collections.deque()
        self.scheduled = False
        self.lock = threading.Lock()

    def push(self, fut: asyncio.Future, value: object) -> None:
        self.pending.append((fut, value))
        with self.lock:
            if self.scheduled:
                return
            self.scheduled = True
        self.loop.call_soon_threadsafe(self.drain)

    def drain(self) -> None:
        with self.lock:
            self.scheduled = False
        while self.pending:
            fut, value = self.pending.popleft()
            if not fut.done():
                fut.set_result(value)


_resolutions: dict[int, _Resolutions] = {}


def _resolver(loop: asyncio.AbstractEventLoop, fut: asyncio.Future, is_error: bool | None):  # noqa: ANN202
    res = _resolutions.get(id(loop))
    if res is None or res.loop is not loop:
        res = _resolutions[id(loop)] = _Resolutions(loop)

    def resolve(value: object) -> None:
        res.push(fut, value if is_error else None)

    return resolve
