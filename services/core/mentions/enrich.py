"""Enrich mentions: normalise, guess language, detect hazard, judge relevance, geoparse.

Batch-first (`enrich_mentions`) because the two costly steps vectorise: the relevance model transforms all
texts at once and the geotagger tags all points at once. `enrich_mention` is the one-item convenience.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from schemas.common import Hazard
from schemas.geo import GeoTag
from schemas.mention import MentionEnriched, SocialMention
from services.core.mentions import relevance
from services.core.mentions.geoparse import Geoparser, get_geoparser
from services.core.mentions.lexicon import find_hazards, guess_language, primary_hazard
from services.core.mentions.normalise import tokenize

PointTagger = Callable[[list[float], list[float]], list[GeoTag]]


def _default_point_tagger() -> PointTagger | None:
    try:
        from services.core.geotag import get_geotagger
    except ImportError:
        return None
    return lambda lons, lats: get_geotagger().tag_points(lons, lats)


def enrich_mentions(mentions: Sequence[SocialMention], *, geoparser: Geoparser | None = None,
                    point_tagger: PointTagger | None = None,
                    model: relevance.RelevanceModel | None = None) -> list[MentionEnriched]:
    """Enrich a batch; order preserved. Geoparser, point tagger and model default to the shared ones."""
    if not mentions:
        return []
    gp = geoparser or get_geoparser()
    toks = [tokenize(m.text) for m in mentions]
    hits = [find_hazards(t.words) for t in toks]
    normalised = [t.text() for t in toks]
    judged = relevance.judge(normalised, [t.words for t in toks], hits, model)

    point_tags: dict[int, GeoTag] = {}
    located = [i for i, m in enumerate(mentions) if m.point is not None]
    if located:
        tagger = point_tagger or _default_point_tagger()
        if tagger is not None:
            tags = tagger([mentions[i].point.lon for i in located], [mentions[i].point.lat for i in located])
            point_tags = dict(zip(located, tags, strict=True))

    out = []
    for i, m in enumerate(mentions):
        hazards = _unique(h.hazard for h in hits[i])
        pt = point_tags.get(i)
        parsed = gp.parse(toks[i], pt, volcano=Hazard.volcano in hazards)
        if parsed.geo.most_specific is not None:
            geo, source, conf = parsed.geo, "text", parsed.confidence
        elif pt is not None and pt.most_specific is not None:
            geo, source, conf = pt, "point", 0.0
        else:
            geo, source, conf = parsed.geo, "none", 0.0
        r = judged[i]
        out.append(MentionEnriched.model_construct(
            schema_version=1, mention=m, normalised_text=normalised[i],
            language=guess_language(toks[i].words, m.language), hazard=primary_hazard(hits[i]),
            hazards=hazards, relevant=r.relevant, relevance_score=r.score, relevance_method=r.method,
            geo=geo, geo_source=source,
            geoparse_confidence=conf, places_named=list(parsed.matched)))
    return out


def enrich_mention(m: SocialMention, **kwargs: object) -> MentionEnriched:
    return enrich_mentions([m], **kwargs)[0]  # type: ignore[arg-type]


def _unique(items: object) -> list[Hazard]:
    seen: list[Hazard] = []
    for h in items:  # type: ignore[attr-defined]
        if h not in seen:
            seen.append(h)
    return seen
