"""Site: what several reports describe together; the value on the compacted `sites` topic (key: site_id)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.common import Figures, Hazard, Need
from schemas.geo import GeoTag
from schemas.report import Reporter

Status = Literal["unverified", "verified", "rejected", "needs_info", "needs_review"]


class SiteReport(BaseModel):
    """One report as a site keeps it: enough for the timeline and for re-consolidation."""

    model_config = ConfigDict(extra="forbid")

    report_id: str
    content_hash: str
    submitted_at: AwareDatetime
    observed_at: AwareDatetime | None = None
    reporter: Reporter
    lat: float | None = None
    lon: float | None = None
    figures: Figures
    needs: list[Need] = Field(default_factory=list)
    notes: str | None = None
    geotag_method: str = "none"


class ReviewEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    review_id: str
    decision: str
    note: str | None = None
    reviewer: str
    decided_at: AwareDatetime


class MentionRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mention_id: str
    platform: str
    text: str
    url: str | None = None
    created_at: AwareDatetime
    relevance: float


class Site(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    site_id: str
    hazard: Hazard
    geo: GeoTag
    lat: float | None = Field(default=None, description="The first report's point, the site's anchor")
    lon: float | None = None
    figures: Figures = Field(description="The most recent report's figures: assessments update, not add")
    figures_min: Figures = Field(default_factory=Figures)
    figures_max: Figures = Field(default_factory=Figures)
    figures_version: str = Field(default="", description="Hash of `figures`, for review staleness")
    needs: list[Need] = Field(default_factory=list)
    reports: int = 0
    reporters: int = 0
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    updated_at: AwareDatetime | None = None
    status: Status = "unverified"
    status_reason: str | None = None
    reviews: list[ReviewEntry] = Field(default_factory=list)
    timeline: list[SiteReport] = Field(default_factory=list)
    mentions: list[MentionRef] = Field(default_factory=list)
    mention_count: int = 0
