"""Mentions into `mentions.raw`: the one path every social media post takes to Kafka.

Shared by `POST /v1/mentions` and the live platform clients (`services.ingest.live`) so that both apply the
same rules: the author is pseudonymised here, whatever the caller did before (a handle never reaches Kafka),
the key is the mention id (the enrich/attach side is idempotent by it, so a re-sent mention is harmless),
and a mention counts as accepted only once the broker acknowledged it (acks=all).
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas import SocialMention
from services.common.kafka_io import AsyncProducer, Message
from services.common.metrics import MENTIONS
from services.common.topics import MENTIONS_RAW
from services.core.mentions.parsers import pseudonymised


def mention_message(mention: SocialMention) -> Message:
    """The `mentions.raw` record of a mention: pseudonymised, keyed by its platform-qualified id."""
    m = pseudonymised(mention)
    return Message(MENTIONS_RAW.name, m.id.encode(), m.model_dump_json(exclude_none=True).encode())


async def produce_mentions(producer: AsyncProducer, mentions: Iterable[SocialMention]) -> list[BaseException | None]:
    """Send the mentions and await every acknowledgement; per mention None (stored) or the error.

    Counted in `siaga_mentions_total` as `accepted` / `unavailable`, one per mention."""
    msgs = [mention_message(m) for m in mentions]
    if not msgs:
        return []
    errors = await producer.send_many(msgs)
    failed = sum(e is not None for e in errors)
    if failed:
        MENTIONS.labels("unavailable").inc(failed)
    if len(errors) - failed:
        MENTIONS.labels("accepted").inc(len(errors) - failed)
    return errors
