"""Where people post but no volunteer has reported: areas with at least K relevant mentions in the last H hours
and no field-report site, ranked. These are where to send assessors next. Also the number of distinct
mentions per area, which sums of per-site counts would overstate (one post can corroborate several sites).

Plain Python over compact facts; "now" is the newest mention seen, not the wall clock, so a replayed past
disaster gives the answers it would have given at the time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from schemas.mention import MentionEnriched


@dataclass(frozen=True, slots=True)
class MentionFact:
    mention_id: str
    codes: tuple[str | None, str | None, str | None, str | None]  # adm1..adm4 named by the post
    names: tuple[str | None, str | None, str | None, str | None]
    hazards: tuple[str, ...]
    ts: float
    relevance: float
    platform: str
    text: str
    url: str | None

    def code(self, level: int) -> str | None:
        return self.codes[level - 1]


def mention_fact(me: MentionEnriched) -> MentionFact | None:
    """Only relevant posts that name a place (province at least) count."""
    g = me.geo
    if not me.relevant or g.adm1 is None:
        return None
    m = me.mention
    return MentionFact(m.id, (g.adm1, g.adm2, g.adm3, g.adm4), (g.adm1_name, g.adm2_name, g.adm3_name, g.adm4_name),
                       tuple(h.value for h in me.hazards), m.created_at.timestamp(), me.relevance_score,
                       m.platform, m.text[:500], m.url)


def _keep(f: MentionFact, hazard: str | None, since: float | None, until: float | None) -> bool:
    return ((hazard is None or hazard in f.hazards) and (since is None or f.ts >= since)
            and (until is None or f.ts <= until))


def counts_by_area(facts: Iterable[MentionFact], level: int, hazard: str | None = None, since: float | None = None,
                   until: float | None = None) -> dict[str, int]:
    """Distinct relevant mentions per area code at `level` (a post naming only a province is not counted at
    regency level: it names no regency)."""
    out: dict[str, int] = {}
    for f in facts:
        code = f.code(level)
        if code is not None and _keep(f, hazard, since, until):
            out[code] = out.get(code, 0) + 1
    return out


def signals(facts: Iterable[MentionFact], reported: set[str], level: int, min_mentions: int, hours: float,
            now: float, hazard: str | None = None, top: int = 10) -> list[dict]:
    """Areas at `level` with ≥ `min_mentions` relevant mentions in the `hours` before `now` whose code is not in
    `reported` (areas that have a field-report site), most mentioned first, with the best mentions behind each."""
    since = now - hours * 3600.0
    by_area: dict[str, list[MentionFact]] = {}
    for f in facts:
        code = f.code(level)
        if code is not None and code not in reported and _keep(f, hazard, since, now):
            by_area.setdefault(code, []).append(f)
    out = []
    for code, fs in by_area.items():
        if len(fs) < min_mentions:
            continue
        fs.sort(key=lambda f: (-f.relevance, -f.ts, f.mention_id))
        hazards = sorted({h for f in fs for h in f.hazards})
        out.append({
            "code": code, "name": fs[0].names[level - 1], "level": level, "mentions": len(fs),
            "hazards": hazards, "first_at": min(f.ts for f in fs), "last_at": max(f.ts for f in fs),
            "top": [{"mention_id": f.mention_id, "platform": f.platform, "text": f.text, "url": f.url,
                     "created_at": f.ts, "relevance": f.relevance} for f in fs[:top]],
        })
    out.sort(key=lambda a: (-a["mentions"], -a["last_at"], a["code"]))
    return out
