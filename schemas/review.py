"""Review decisions by coordinators: the value on the `reviews` topic (keyed by the site's regency)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Decision = Literal["verified", "rejected", "needs_info"]


class ReviewDecision(BaseModel):
    """What a coordinator sends to the API."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"decision": "verified",
                                                                                "note": "Dicek via telepon"}]})

    decision: Decision
    note: str | None = Field(default=None, max_length=2000)


class ReviewEvent(BaseModel):
    """A decision as a fact on Kafka: who decided what about which site, and when."""

    model_config = ConfigDict(extra="forbid")

    review_id: str = Field(description="Idempotency key: the same review applied twice changes nothing")
    site_id: str
    decision: Decision
    note: str | None = None
    reviewer: str
    decided_at: AwareDatetime
    figures_version: str | None = Field(default=None, description="The site figures' hash the reviewer saw")
