"""Siaga's contracts: the pydantic models for every Kafka topic and every HTTP body.

One place defines what a report, a site or a mention is, so that ingest, enrich, the API and the
offline CLI can never disagree about a field.
"""

from schemas.common import Figures, GeoPoint, Hazard, Need
from schemas.deadletter import DeadLetter
from schemas.enriched import EnrichedReport
from schemas.geo import GeoTag
from schemas.mention import MentionEnriched, SocialMention
from schemas.report import FieldReport, Reporter
from schemas.review import ReviewDecision, ReviewEvent
from schemas.site import Site

__all__ = [
    "DeadLetter",
    "EnrichedReport",
    "FieldReport",
    "Figures",
    "GeoPoint",
    "GeoTag",
    "Hazard",
    "MentionEnriched",
    "Need",
    "Reporter",
    "ReviewDecision",
    "ReviewEvent",
    "Site",
    "SocialMention",
]
