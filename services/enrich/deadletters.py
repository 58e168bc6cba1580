"""Dead-letter records for messages the worker cannot process: kept with their reason, never dropped."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas import DeadLetter
from services.common.metrics import DEADLETTER


def dead_letter_record(message, stage: str, reason: str, detail: str,  # noqa: ANN001 - faust Message
                       payload: bytes | None = None) -> DeadLetter:
    """`payload`: the part of the message refused, when only part of it was (one report of an array); the
    record's partition and offset still say which message it came from."""
    DEADLETTER.labels(message.topic, reason).inc()
    value = (message.value or b"") if payload is None else payload
    key = message.key
    return DeadLetter(
        source=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
        stage=stage,
        reason=reason,
        detail=detail[:4000],
        payload=value.decode("utf-8", "replace")[:100_000] if isinstance(value, bytes) else str(value),
        at=datetime.now(UTC),
    )
