"""The answer cache's TTL follows what an answer costs: cheap answers stay near live, dear ones stay affordable."""

from __future__ import annotations

import asyncio
import time

from services.api.cache import Answer, AnswerCache


def test_ttl_is_ten_times_the_cost_within_its_bounds() -> None:
    cache = AnswerCache(lambda: 0, ttl_s=2.0, min_ttl_s=0.2)
    assert cache.ttl_for(0.001) == 0.2
    assert abs(cache.ttl_for(0.05) - 0.5) < 1e-9
    assert cache.ttl_for(1.0) == 2.0


def test_a_cheap_answer_follows_a_change_within_the_minimum_ttl_and_a_dear_one_is_kept() -> None:
    version = [1]
    cache = AnswerCache(lambda: version[0], ttl_s=2.0, min_ttl_s=0.1)

    def cheap() -> Answer:
        return Answer(body=f"cheap at {version[0]}".encode(), as_of=None)

    def dear() -> Answer:
        time.sleep(0.1)  # ten times this is a 1 s TTL
        return Answer(body=f"dear at {version[0]}".encode(), as_of=None)

    async def scenario() -> list[str]:
        seen = []
        for key, compute in ((("cheap",), cheap), (("dear",), dear)):
            await cache.get(key, compute)  # computed at version 1
        version[0] = 2
        await asyncio.sleep(0.3)  # past the cheap answer's TTL, well within the dear one's
        for key, compute in ((("cheap",), cheap), (("dear",), dear)):
            _, how = await cache.get(key, compute)
            seen.append(how)
        deadline = time.monotonic() + 10
        while True:  # the background refresh of the cheap answer lands, and is then a hit
            answer, how = await cache.get(("cheap",), cheap)
            if answer.body == b"cheap at 2" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        seen.append(f"{how}: {answer.body.decode()}")
        return seen

    assert asyncio.run(scenario()) == ["stale", "hit", "hit: cheap at 2"]
