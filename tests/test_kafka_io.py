"""AsyncProducer when kafka-python never resolves a send: a timely 503 (KafkaUnavailable), never a 500, and a
fresh producer for the next request. The real-broker version of this is tests/test_broker_faults.py."""

from __future__ import annotations

import asyncio
import threading
import time

from services.common.kafka_io import AsyncProducer, KafkaUnavailable, Message, _close_quietly


class NeverAcked:
    """A kafka-python FutureRecordMetadata that never resolves."""

    is_done = False
    exception = None

    def add_callback(self, fn) -> None:  # noqa: ANN001
        pass

    def add_errback(self, fn) -> None:  # noqa: ANN001
        pass


class FakeSender:
    def __init__(self) -> None:
        self.forced = threading.Event()

    def is_alive(self) -> bool:
        return not self.forced.is_set()

    def force_close(self) -> None:
        self.forced.set()


class WedgedProducer:
    """Like kafka-python 3.0.12 after it reset its producer id: takes sends, resolves none, cannot flush."""

    def __init__(self) -> None:
        self._sender = FakeSender()

    def send(self, topic, key=None, value=None, headers=None):  # noqa: ANN001, ANN201
        return NeverAcked()

    def close(self, timeout=None) -> None:  # noqa: ANN001
        raise TimeoutError("Timeout waiting for future")  # what flush() inside close() raises


def test_unacknowledged_send_is_a_timely_unavailable_and_the_producer_is_replaced() -> None:
    ap = AsyncProducer("127.0.0.1:1", timeout_s=0.2)
    wedged = ap._producer = WedgedProducer()
    start = time.monotonic()
    errors = asyncio.run(ap.send_many([Message("reports.raw", b"k", b"v"), Message("reports.raw", b"k2", b"v")]))
    took = time.monotonic() - start
    assert all(isinstance(e, KafkaUnavailable) for e in errors), errors  # was CancelledError: a 500
    assert took < 0.2 + 2 + 1.0
    assert ap._producer is None  # the next request builds a new producer (and gets a new producer id)
    assert wedged._sender.forced.wait(5), "the wedged producer's sender thread was not closed"


def test_close_finishes_when_flush_times_out() -> None:
    wedged = WedgedProducer()
    _close_quietly(wedged, 0)
    assert wedged._sender.forced.is_set()


def test_murmur2_equals_kafka_pythons_so_keys_keep_their_partitions() -> None:
    import os

    from kafka.partitioner.default import DefaultPartitioner
    from kafka.partitioner.default import murmur2 as reference

    from services.common.kafka_io import key_partitioner, murmur2

    keys = [os.urandom(n) for n in range(0, 70) for _ in range(40)] + [b"\xff" * 33, b"report-1", "é".encode()]
    for key in keys:
        assert murmur2(key) == reference(key), key

    class Cluster:
        def topics(self) -> set[str]:
            return {"reports.raw"}

        def partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(6))

        def available_partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(6))

    ours, stock = key_partitioner(), DefaultPartitioner()
    for key in keys:
        assert (ours.partition("reports.raw", None, key, None, None, Cluster())
                == stock.partition("reports.raw", None, key, None, None, Cluster()))


class ThreadAcked:
    """Resolves like kafka-python: from another thread, success or failure, callbacks after the state is set."""

    def __init__(self, error: Exception | None = None) -> None:
        self.is_done, self.exception, self.error = False, None, error
        self.callbacks: list = []
        self.errbacks: list = []

    def add_callback(self, fn) -> None:  # noqa: ANN001
        self.callbacks.append(fn)

    def add_errback(self, fn) -> None:  # noqa: ANN001
        self.errbacks.append(fn)

    def resolve(self) -> None:
        self.is_done, self.exception = True, self.error
        for fn in self.errbacks if self.error else self.callbacks:
            fn(self.error or "metadata")


class Sender:
    def __init__(self) -> None:
        self.wakeups = 0

    def wakeup(self) -> None:
        self.wakeups += 1


class ThreadedProducer:
    """send() queues; a thread resolves every send a little later, the third one as a failure."""

    def __init__(self) -> None:
        from services.common.kafka_io import _CoalescedWakeup

        self._sender = Sender()
        self._sender.wakeup = _CoalescedWakeup(self._sender.wakeup)
        self.futures: list[ThreadAcked] = []

    def send(self, topic, key=None, value=None, headers=None):  # noqa: ANN001, ANN201
        if key == b"refused":
            raise RuntimeError("buffer full")
        fut = ThreadAcked(RuntimeError("NotEnoughReplicas") if key == b"k2" else None)
        self.futures.append(fut)
        self._sender.wakeup()  # as kafka-python does when a record starts a new batch
        threading.Timer(0.05, fut.resolve).start()
        return fut


def test_send_many_reports_each_message_and_wakes_the_sender_once_per_loop_iteration() -> None:
    ap = AsyncProducer("127.0.0.1:1", timeout_s=2)
    producer = ap._producer = ThreadedProducer()
    keys = [b"k0", b"k1", b"k2", b"refused", b"k4"]
    errors = asyncio.run(ap.send_many([Message("reports.raw", k, b"v") for k in keys]))
    assert [e is None for e in errors] == [True, True, False, False, True]
    assert all(isinstance(e, KafkaUnavailable) for e in errors if e is not None)
    assert "NotEnoughReplicas" in str(errors[2]) and "buffer full" in str(errors[3])
    assert producer._sender.wakeups == 1  # four new "batches", one wake-up
    assert ap._producer is producer  # everything was answered: the producer is kept

    async def concurrent() -> list[None]:
        return await asyncio.gather(*(ap.send(Message("reports.raw", b"k%d" % i, b"v")) for i in (5, 6, 7)))

    asyncio.run(concurrent())
    assert producer._sender.wakeups == 2  # three requests in one loop iteration share a wake-up
    producer._sender.wakeup()  # outside send_many (flush, close): at once
    assert producer._sender.wakeups == 3
