"""Request and response bodies of the situation API (services/api)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.common import Figures, Hazard, Need
from schemas.geo import GeoTag
from schemas.review import Decision
from schemas.site import ReviewEntry, Site, Status

_PALU_FIGURES = {"affected": 1234, "dead": 4, "injured": 21, "missing": None, "displaced": 120,
                 "houses_damaged": 57}


class AreaSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "code": "72.71", "name": "Kota Palu", "level": 2, "sites": 12, "reports": 31, "reporters": 9,
        "figures": _PALU_FIGURES, "figures_min": _PALU_FIGURES, "figures_max": _PALU_FIGURES, "mentions": 4,
        "last_update": "2018-09-29T06:00:00Z"}]})

    code: str = Field(description="Admin code at the level (Kemendagri 2025 or Timor-Leste P-code), or "
                                  "'unlocated' for sites without a code at this level")
    name: str | None = None
    level: int
    sites: int = Field(description="Sites in the area that match the filters")
    reports: int = Field(description="Field reports behind those sites (latest versions only)")
    reporters: int = Field(default=0, description="Distinct reporters (volunteer ids) across the area's sites")
    figures: Figures = Field(description="Sum over sites of each site's current figures")
    figures_min: Figures = Field(default_factory=Figures, description="Sum of each site's lowest reported value")
    figures_max: Figures = Field(default_factory=Figures, description="Sum of each site's highest reported value")
    mentions: int = Field(default=0, description="Social media posts attached as corroboration (never figures)")
    last_update: AwareDatetime | None = None


class SituationResponse(BaseModel):
    as_of: AwareDatetime = Field(description="Time of the newest event the answer includes")
    level: int
    status: str = Field(default="all", description="The status filter applied (comms callers: always verified)")
    ready: bool = Field(default=True, description="False while the read model is still replaying Kafka at "
                                                  "start-up: totals may then be incomplete")
    areas: list[AreaSummary]


class SiteSummary(BaseModel):
    """A site without its timeline and mentions: what lists, exports and the live stream carry."""

    site_id: str
    hazard: Hazard
    status: Status
    status_reason: str | None = None
    geo: GeoTag
    lat: float | None = None
    lon: float | None = None
    figures: Figures
    figures_min: Figures
    figures_max: Figures
    figures_version: str = Field(description="Send it back with a review: the figures you saw")
    needs: list[Need]
    reports: int
    reporters: int
    mention_count: int
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    updated_at: AwareDatetime | None = None
    last_review: ReviewEntry | None = Field(default=None, description="The latest decision, who and when "
                                                                      "(the reviewer's name for coordinators only)")


class SitesPage(BaseModel):
    as_of: AwareDatetime | None = Field(description="Newest event applied to the read model")
    ready: bool = True
    total: int = Field(description="Sites matching the filters (all pages)")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
    items: list[SiteSummary]


class SiteDetail(BaseModel):
    as_of: AwareDatetime | None = Field(description="Newest event applied to the read model")
    site: Site = Field(description="The site with its reports' timeline, attached mentions and every review")


class ReviewRequest(BaseModel):
    """A coordinator's decision about one site."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"decision": "verified", "note": "Dicek via telepon dengan Kades", "figures_version": "9f1c0a7e3b2d4c11"}]})

    decision: Decision
    note: str | None = Field(default=None, max_length=2000)
    figures_version: str | None = Field(default=None, max_length=64,
                                        description="The site's figures_version you reviewed. Strongly advised: "
                                                    "a verification of figures that changed since is refused (409)")
    review_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$",
                                  description="Idempotency key of this decision (or send an Idempotency-Key header)")


class BatchReviewItem(ReviewRequest):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"site_id": "earthquake~72.71~72.71.03.1004~3f2a9c0d1e", "decision": "verified",
         "figures_version": "9f1c0a7e3b2d4c11"}]})

    site_id: str = Field(min_length=1, max_length=300)


class BatchReviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviews: list[BatchReviewItem] = Field(min_length=1)


class ReviewAccepted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "accepted", "review_id": "6d1f1a52-6a8e-5d4b-9e55-0b4d2b1f8e30",
        "site_id": "earthquake~72.71~72.71.03.1004~3f2a9c0d1e", "decision": "verified",
        "figures_version": "9f1c0a7e3b2d4c11", "reviewer": "coord-1", "decided_at": "2018-09-29T07:00:00Z"}]})

    status: Literal["accepted"] = "accepted"
    review_id: str
    site_id: str
    decision: Decision
    figures_version: str | None
    reviewer: str
    decided_at: AwareDatetime


class BatchReviewResult(BaseModel):
    index: int
    site_id: str | None = None
    status: Literal["accepted", "not_found", "conflict", "retry"]
    review_id: str | None = None
    detail: str | None = None


class BatchReviewResponse(BaseModel):
    accepted: int
    not_found: int
    conflict: int
    retry: int
    results: list[BatchReviewResult]


class FigureSource(BaseModel):
    value: int | None = Field(description="Sum over verified sites that give this figure; null if none does")
    sites: int = Field(description="Verified sites giving this figure")
    reports: int = Field(description="Field reports behind those sites")


class FiguresText(BaseModel):
    id: str = Field(description="Bahasa Indonesia, ready to post")
    en: str = Field(description="English, ready to post")


class FiguresResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "as_of": "2018-09-29T06:00:00Z", "area": {"code": "72.71", "name": "Kota Palu", "level": 2},
        "hazard": "earthquake", "sites": 5, "reports": 12,
        "figures": {"affected": {"value": 1234, "sites": 5, "reports": 12}},
        "time_zone": "WITA", "utc_offset": "+08:00",
        "text": {"id": "Per 29 September 2018 pukul 14.00 WITA, gempa bumi di Kota Palu, Sulawesi Tengah: "
                       "1.234 jiwa terdampak. Sumber: 12 laporan kaji cepat terverifikasi dari 5 lokasi (PMI).",
                 "en": "As of 29 September 2018, 14:00 WITA (UTC+8), earthquake in Kota Palu, Sulawesi Tengah: "
                       "1,234 people affected. Source: 12 verified rapid-assessment reports from 5 sites (PMI)."}}]})

    as_of: AwareDatetime = Field(description="Newest update among the verified sites counted (now if none)")
    area: dict | None = Field(description="The area asked for: code, name, level")
    hazard: Hazard | None
    status: Literal["verified"] = "verified"
    sites: int
    reports: int
    figures: dict[str, FigureSource] = Field(description="Per figure: the total and the sites and reports behind it")
    time_zone: str = Field(description="WIB, WITA, WIT or TLT: the local time zone of the text")
    utc_offset: str
    text: FiguresText
