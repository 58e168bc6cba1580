"""DeadLetter: anything that could not be processed, with why, on the `deadletter` topic. Never silent loss."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class DeadLetter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="Topic or endpoint the input came from")
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    stage: str = Field(description="Which step refused it: ingest, enrich.geotag, consolidate ...")
    reason: str = Field(description="Short machine-readable reason, e.g. invalid_schema")
    detail: str = Field(default="", description="Human-readable detail, field errors included")
    payload: str = Field(default="", description="The original bytes, decoded as UTF-8 with replacement")
    at: AwareDatetime
