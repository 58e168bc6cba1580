"""Personal data out of everything a manager or comms token can read: ONE function over a Site.

Every route, export and the live stream build their bodies from `view_for(site, principal)`; nothing else
reads a Site for a caller. Personal data here means:

- reporters' names and phone numbers (`timeline[].reporter.name/phone`), dropped;
- who reviewed (`reviews[].reviewer`, and the name inside `status_reason`), shown as "coordinator": the
  decision and its time stay visible, the person is for coordinators to see;
- phone numbers and the site's own reporter/reviewer names inside free text (report notes, review notes,
  status_reason), replaced by "[redacted]".

Volunteer ids (pseudonymous app ids) and organisations stay: they are how a manager counts distinct
reporters and knows which branch to call.
"""

from __future__ import annotations

import re

from schemas.site import Site
from services.common.auth import Principal

REDACTED = "[redacted]"
REVIEWER_HIDDEN = "coordinator"
# Indonesian (+62 / 0 8xx) and Timor-Leste (+670) numbers, loosely: 8+ digits with spaces, dots or dashes.
_PHONE = re.compile(r"(?<![\w.])(?:\+|00)?(?:62|670|0)?[\s.-]?\(?\d{2,4}\)?(?:[\s.-]?\d{2,5}){2,4}(?!\w)")


def _scrub(text: str | None, names: set[str]) -> str | None:
    if not text:
        return text
    out = _PHONE.sub(lambda m: REDACTED if sum(c.isdigit() for c in m.group()) >= 8 else m.group(), text)
    for name in sorted(names, key=len, reverse=True):
        if len(name) >= 3:
            out = re.sub(re.escape(name), REDACTED, out, flags=re.IGNORECASE)
    return out


def has_personal_data(site: Site) -> bool:
    """Cheap check: sites from the consolidation core normally carry none, so most need no copy."""
    if site.reviews:
        return True
    for r in site.timeline:
        if r.reporter.name is not None or r.reporter.phone is not None or r.notes:
            return True
    return bool(site.status_reason)


def strip_personal_data(site: Site) -> Site:
    """The site as a manager or comms may see it. Never mutates the input."""
    if not has_personal_data(site):
        return site
    names = {r.reporter.name for r in site.timeline if r.reporter.name}
    names |= {r.reporter.phone for r in site.timeline if r.reporter.phone}
    reviewers = {rv.reviewer for rv in site.reviews}
    names_all = names | reviewers
    timeline = [
        r.model_copy(update={"reporter": r.reporter.public(), "notes": _scrub(r.notes, names_all)})
        if (r.reporter.name is not None or r.reporter.phone is not None or r.notes) else r
        for r in site.timeline
    ]
    reviews = [rv.model_copy(update={"reviewer": REVIEWER_HIDDEN, "note": _scrub(rv.note, names_all)})
               for rv in site.reviews]
    return site.model_copy(update={"timeline": timeline, "reviews": reviews,
                                   "status_reason": _scrub(site.status_reason, names_all)})


def view_for(site: Site, principal: Principal) -> Site:
    """What this caller may see of a site (coordinators and admins: everything)."""
    return site if principal.sees_personal_data else strip_personal_data(site)
