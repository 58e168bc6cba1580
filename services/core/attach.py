"""Which sites a social media mention corroborates: same hazard, an area that contains or lies in the group's
area, and (per site, in the consolidation core) a time window around the site's reports.

Mentions are corroboration for reviewers and early warning, never figures: nothing here touches numbers.
A regency remembers its recent relevant mentions, so a site that is first reported *after* people posted
about it still gets those posts.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Hazard
from schemas.mention import MentionEnriched
from schemas.site import MentionRef
from services.core.consolidate import SEP

TEXT_LIMIT = 500


class AreaMention(BaseModel):
    """A relevant mention as its regency remembers it: where, which hazards, and the ref sites carry."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Most specific admin code the mention names")
    hazards: list[Hazard]
    ref: MentionRef


def area_mention(me: MentionEnriched) -> AreaMention | None:
    """The attachable form of an enriched mention; None when it cannot corroborate any site (irrelevant, no
    hazard, or no place at regency level or below)."""
    code = me.geo.most_specific
    if not me.relevant or not me.hazards or code is None or me.geo.adm2 is None:
        return None
    m = me.mention
    ref = MentionRef(mention_id=m.id, platform=m.platform, text=m.text[:TEXT_LIMIT], url=m.url,
                     created_at=m.created_at, relevance=round(me.relevance_score, 4))
    return AreaMention(code=code, hazards=list(me.hazards), ref=ref)


def _within(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer + ".") or (outer.startswith("TL") and inner.startswith(outer))


def matches_group(group_key: str, am: AreaMention) -> bool:
    """Same hazard, and one area contains the other (a post naming a regency corroborates its villages'
    sites; a post naming a village corroborates a site known only at its district)."""
    hazard, _, code = group_key.split(SEP)
    if hazard not in {h.value for h in am.hazards}:
        return False
    return _within(code, am.code) or _within(am.code, code)


class RegencyMentions(BaseModel):
    """The recent relevant mentions of one regency (a faust table value), bounded in number."""

    model_config = ConfigDict(extra="forbid")

    mentions: dict[str, AreaMention] = Field(default_factory=dict)

    def add(self, am: AreaMention, cap: int = 2000) -> bool:
        """Remember a mention; False when it was known already (redelivery)."""
        if am.ref.mention_id in self.mentions:
            return False
        self.mentions[am.ref.mention_id] = am
        if len(self.mentions) > cap:
            oldest = min(self.mentions.values(), key=lambda x: (x.ref.created_at.timestamp(), x.ref.mention_id))
            del self.mentions[oldest.ref.mention_id]
        return True

    def forget(self, mention_id: str) -> bool:
        """Drop a post the core refused, so that no group founded later copies it in; False if unknown."""
        return self.mentions.pop(mention_id, None) is not None

    def for_group(self, group_key: str) -> list[MentionRef]:
        """The remembered posts a group founded now starts with (a site first reported after people posted
        about its place is still corroborated by those posts)."""
        return [am.ref for am in self.mentions.values() if matches_group(group_key, am)]


def groups_for(am: AreaMention, group_keys: Iterable[str]) -> list[str]:
    return sorted(gk for gk in group_keys if matches_group(gk, am))
