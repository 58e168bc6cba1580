"""SocialMention: a social media post, on `mentions.raw`. Posts corroborate; they are never figures."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.common import GeoPoint, Hazard
from schemas.geo import GeoTag

Platform = Literal["x", "telegram", "mastodon", "facebook", "other"]


class SocialMention(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    id: str = Field(min_length=1, max_length=200, description="Platform-qualified id, e.g. x:1234")
    platform: Platform
    author: str | None = Field(default=None, description="Keyed hash of the handle, never the handle")
    text: str = Field(max_length=10_000)
    created_at: AwareDatetime
    url: str | None = Field(default=None, max_length=2000)
    language: str | None = None
    point: GeoPoint | None = None
    raw: dict[str, Any] | None = None


class MentionEnriched(BaseModel):
    """A mention after enrichment (`mentions.enriched`): hazard, relevance and place read from its text.

    Corroboration only. `geo` comes from place names in the text when there are any (the post's own point
    only breaks ties there), else from the post's point; `geo_source` says which.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    mention: SocialMention
    normalised_text: str
    language: str | None = Field(default=None, description="id, en or tet, guessed from stopwords")
    hazard: Hazard | None = None
    hazards: list[Hazard] = Field(default_factory=list, description="Every hazard named, in order")
    relevant: bool
    relevance_score: float = Field(ge=0, le=1)
    relevance_method: Literal["model+rules", "rules"] = Field(
        description="'rules' when the labelled training data was not available to fit the model")
    geo: GeoTag = Field(default_factory=GeoTag)
    geo_source: Literal["text", "point", "none"] = "none"
    geoparse_confidence: float = Field(default=0.0, ge=0, le=1)
    places_named: list[str] = Field(default_factory=list, description="Place names matched in the text")
