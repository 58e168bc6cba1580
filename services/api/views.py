"""What a caller sees of sites: the ONE path from the read model to a body (personal data stripped here).

No HTTP in here: routes, exports and the live stream all call these, so the privacy rule cannot be
forgotten by one of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from schemas.site import Site
from services.api.privacy import view_for
from services.api.readmodel import ReadModel
from services.common.auth import Principal

_SUMMARY_EXCLUDE = {"schema_version", "timeline", "mentions", "reviews"}


def visible(site_status: str, principal: Principal) -> bool:
    """Comms see verified sites only; every other reader sees every site."""
    return principal.role != "comms" or site_status == "verified"


def site_for(model: ReadModel, site_id: str, principal: Principal) -> Site | None:
    """The site as this caller may see it (cached personal-data-free copy for managers and comms)."""
    if principal.sees_personal_data:
        return model.get(site_id)
    return model.public(site_id)


def sites_for(model: ReadModel, ids: Iterable[str], principal: Principal) -> Iterator[Site]:
    for sid in ids:
        s = site_for(model, sid, principal)
        if s is not None and visible(s.status, principal):  # re-checked: it may have changed since it was chosen
            yield s


def summary(site: Site) -> dict:
    """A SiteSummary body (JSON-ready dict) of a site that already went through `view_for`/`site_for`."""
    d = site.model_dump(mode="json", exclude=_SUMMARY_EXCLUDE)
    d["last_review"] = site.reviews[-1].model_dump(mode="json") if site.reviews else None
    return d


def summary_for(site: Site, principal: Principal) -> dict:
    return summary(view_for(site, principal))
