"""FieldReport v1: the body a volunteer's phone sends, and the value of every `reports.raw` record."""

from __future__ import annotations

import hashlib
from typing import Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from schemas.common import Figures, GeoPoint, HazardField, NeedField


class Reporter(BaseModel):
    """Who assessed. `name` and `phone` are personal data: only coordinators may ever see them."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128, description="Stable volunteer id from the app")
    org: str | None = Field(default=None, max_length=128, description="e.g. PMI Kota Palu, CVTL Dili")
    name: str | None = Field(default=None, max_length=200, description="Personal data")
    phone: str | None = Field(default=None, max_length=40, description="Personal data")

    def public(self) -> Reporter:
        """The reporter without personal data."""
        return Reporter(id=self.id, org=self.org)


class FieldReport(BaseModel):
    """One rapid assessment. `report_id` is the idempotency key: a resubmit carries the same id."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "schema_version": 1,
                    "report_id": "5f0c2b1e-3d1a-4c1e-9a53-2b7f1f0f6a11",
                    "submitted_at": "2018-09-29T14:05:00+08:00",
                    "observed_at": "2018-09-29T13:30:00+08:00",
                    "reporter": {"id": "vol-0142", "org": "PMI Kota Palu"},
                    "location": {"lat": -0.9405, "lon": 119.8946, "accuracy_m": 12},
                    "hazard": "gempa",
                    "figures": {"affected": 350, "dead": 4, "injured": 21, "displaced": 120},
                    "needs": ["shelter", "water"],
                    "notes": "Likuifaksi, banyak rumah roboh",
                    "language": "id",
                }
            ]
        },
    )

    schema_version: Literal[1] = 1
    report_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    submitted_at: AwareDatetime = Field(description="RFC 3339 with offset, set by the phone")
    observed_at: AwareDatetime | None = Field(default=None, description="When the assessment was made")
    reporter: Reporter
    location: GeoPoint | None = None
    place_text: str | None = Field(default=None, max_length=500, description="Desa, Kecamatan, Kabupaten")
    hazard: HazardField
    figures: Figures = Field(default_factory=Figures)
    needs: list[NeedField] = Field(default_factory=list, max_length=20)
    notes: str | None = Field(default=None, max_length=4000)
    language: str | None = Field(default=None, max_length=16)

    @model_validator(mode="after")
    def _somewhere(self) -> FieldReport:
        if self.location is None and not (self.place_text and self.place_text.strip()):
            raise ValueError("either location (lat/lon) or place_text is required")
        return self

    @property
    def event_time(self):
        """When the situation was seen: the assessment time if known, else when it was sent."""
        return self.observed_at or self.submitted_at

    def content_hash(self) -> str:
        """A stable digest of the content, so a resubmit (same id, same content) is told from an edit."""
        body = self.model_dump(mode="json", exclude_none=True)
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]

    def without_personal_data(self) -> FieldReport:
        return self.model_copy(update={"reporter": self.reporter.public()})
