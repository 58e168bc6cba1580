"""SocialMention: a social media post, on `mentions.raw`. Posts corroborate; they are never figures."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.common import GeoPoint

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
