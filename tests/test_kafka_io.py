"""AsyncProducer when kafka-python never resolves a send: a timely 503 (KafkaUnavailable), never a 500, and a
fresh producer for the next request. The real-broker version of this is tests/test_broker_faults.py."""

from __future__ import annotations

import asyncio
import threading
import time

from services.common.kafka_io import AsyncProducer, KafkaUnavailable, Message, _close_quietly


class NeverAcked:
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
