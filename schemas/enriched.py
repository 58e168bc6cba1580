"""EnrichedReport: a report after geotagging and report-level dedup; the value on `reports.enriched`.

Keyed by regency code (`GeoTag.partition_key`), so that every report of one site meets on one partition.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.geo import GeoTag
from schemas.report import FieldReport


class EnrichedReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    action: Literal["upsert", "retract"] = Field(
        default="upsert",
        description="retract: an edit moved this report to another area; forget it here",
    )
    report: FieldReport
    geo: GeoTag
    content_hash: str
    received_at: AwareDatetime | None = Field(default=None, description="When the broker accepted it")
    source_offset: str | None = Field(default=None, description="topic/partition/offset it came from")

    @property
    def key(self) -> str:
        return self.geo.partition_key
