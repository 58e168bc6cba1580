"""EnrichedReport: a report after geotagging and report-level dedup; what `reports.enriched` carries.

Keyed by regency code (`GeoTag.partition_key`), so that every report of one site meets on one partition.
A record's value is one EnrichedReport object, or a JSON array of them: the reports one enrich batch sent to
that regency, in the order they were judged (`ENRICHED_BATCH`). Arrays exist for throughput: the consuming
stream pays its per-message cost once per regency and batch instead of once per report.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

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


# A `reports.enriched` value that is an array: validated whole, applied in order.
ENRICHED_BATCH = TypeAdapter(list[EnrichedReport])


def parse_enriched(value: bytes) -> list[EnrichedReport]:
    """The reports in one `reports.enriched` value, either form. Raises pydantic's ValidationError."""
    if value[:1] == b"[":
        return ENRICHED_BATCH.validate_json(value)
    return [EnrichedReport.model_validate_json(value)]
