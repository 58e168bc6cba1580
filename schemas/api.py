"""Response bodies of the situation API."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from schemas.common import Figures


class AreaSummary(BaseModel):
    code: str
    name: str | None = None
    level: int
    sites: int
    reports: int
    reporters: int = 0
    figures: Figures
    figures_min: Figures = Field(default_factory=Figures)
    figures_max: Figures = Field(default_factory=Figures)
    mentions: int = 0
    last_update: AwareDatetime | None = None


class SituationResponse(BaseModel):
    as_of: AwareDatetime = Field(description="Time of the newest event the answer includes")
    level: int
    areas: list[AreaSummary]
