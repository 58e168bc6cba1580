"""Roles on every endpoint (401/403/200) and personal data never visible to managers or comms."""

from __future__ import annotations

import json

import pytest

from schemas.site import Site
from services.api.privacy import REDACTED, strip_personal_data, view_for
from services.common.auth import Principal
from tests._api_factory import SECRET_NAME, SECRET_PHONE, SECRET_REVIEWER, build_app, client, make_site
from tests.conftest import bearer

SITE = "earthquake~72.71~72.71.01.1004~0000000001"
UNKNOWN = "earthquake~72.71~72.71.01.1004~ffffffffff"
READS = [
    "/v1/situation?level=2", "/v1/situation.geojson?level=1", "/v1/sites", f"/v1/sites/{SITE}", "/v1/figures",
    "/v1/export/sites.csv", "/v1/export/sites.geojson",
]
REVIEWS = [(f"/v1/sites/{UNKNOWN}/review", {"decision": "verified"}),
           ("/v1/reviews", {"reviews": [{"site_id": UNKNOWN, "decision": "rejected"}]})]
SECRETS = (SECRET_NAME, SECRET_PHONE[3:], "3456-7890", SECRET_REVIEWER)


@pytest.fixture(scope="module")
def api(auth_file):  # noqa: ANN001, ANN201
    app = build_app(auth_file)
    with client(app) as c:
        yield c


@pytest.mark.parametrize("path", READS + ["/v1/stream"] + [p for p, _ in REVIEWS])
def test_no_token_is_401_with_a_clear_message(api, path: str) -> None:  # noqa: ANN001
    call = api.post if "review" in path else api.get
    r = call(path, json={}) if call == api.post else call(path)
    assert r.status_code == 401
    assert "bearer token" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"
    r = (api.post(path, json={}, headers={"Authorization": "Bearer nope"}) if call == api.post
         else api.get(path, headers={"Authorization": "Bearer nope"}))
    assert r.status_code == 401 and "unknown" in r.json()["detail"]


@pytest.mark.parametrize("path", READS + ["/v1/stream"])
def test_volunteers_read_nothing_here(api, path: str) -> None:  # noqa: ANN001
    r = api.get(path, headers=bearer("volunteer"))
    assert r.status_code == 403
    assert "volunteer" in r.json()["detail"]


@pytest.mark.parametrize("role", ["manager", "coordinator", "comms", "admin"])
@pytest.mark.parametrize("path", READS)
def test_readers_may_read(api, path: str, role: str) -> None:  # noqa: ANN001
    r = api.get(path, headers=bearer(role))
    assert r.status_code == 200, r.text
    assert r.headers["x-siaga-as-of"].startswith("2018-09-29T06:00:00")


@pytest.mark.parametrize("role", ["volunteer", "manager", "comms"])
@pytest.mark.parametrize(("path", "body"), REVIEWS)
def test_only_coordinators_and_admins_review(api, path: str, body: dict, role: str) -> None:  # noqa: ANN001
    r = api.post(path, json=body, headers=bearer(role))
    assert r.status_code == 403
    assert "coordinator" in r.json()["detail"]


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_reviewers_pass_the_role_check(api, role: str) -> None:  # noqa: ANN001
    # An unknown site: the answer comes after the role check and before any Kafka write.
    r = api.post(f"/v1/sites/{UNKNOWN}/review", json={"decision": "verified"}, headers=bearer(role))
    assert r.status_code == 404
    r = api.post("/v1/reviews", json={"reviews": [{"site_id": UNKNOWN, "decision": "rejected"}]}, headers=bearer(role))
    assert r.status_code == 200 and r.json()["not_found"] == 1


def test_comms_sees_verified_only(api) -> None:  # noqa: ANN001
    h = bearer("comms")
    assert api.get("/v1/situation?status=all", headers=h).status_code == 403
    assert api.get("/v1/sites?status=unverified", headers=h).status_code == 403
    assert api.get("/v1/situation", headers=h).json()["status"] == "verified"
    statuses = {s["status"] for s in api.get("/v1/sites", headers=h).json()["items"]}
    assert statuses == {"verified"}
    unverified = "earthquake~72.71~72.71.04.1001~0000000003"
    assert api.get(f"/v1/sites/{unverified}", headers=h).status_code == 404
    assert api.get(f"/v1/sites/{unverified}", headers=bearer("manager")).status_code == 200
    csv_text = api.get("/v1/export/sites.csv", headers=h).text
    assert "unverified" not in csv_text and "needs_review" not in csv_text and "rejected" not in csv_text


def _every_body(api, role: str) -> list[str]:  # noqa: ANN001
    h = bearer(role)
    bodies = []
    ids = []
    cursor = None
    while True:
        params = {"limit": 2, **({"status": "any"} if role != "comms" else {})}
        if cursor:
            params["cursor"] = cursor
        r = api.get("/v1/sites", params=params, headers=h)
        assert r.status_code == 200
        bodies.append(r.text)
        ids += [s["site_id"] for s in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert ids
    for sid in ids:
        r = api.get(f"/v1/sites/{sid}", headers=h)
        assert r.status_code == 200
        bodies.append(r.text)
    for path in READS + ["/v1/situation.geojson?level=4&area=72.71", "/v1/figures?area=72.71",
                         "/v1/export/sites.csv?status=any", "/v1/export/sites.geojson?status=any"]:
        if role == "comms":
            path = path.replace("?status=any", "")
        r = api.get(path, headers=h)
        assert r.status_code == 200, (path, r.text)
        bodies.append(r.text)
    return bodies


@pytest.mark.parametrize("role", ["manager", "comms"])
def test_personal_data_never_reaches_managers_or_comms(api, role: str) -> None:  # noqa: ANN001
    for body in _every_body(api, role):
        for secret in SECRETS:
            assert secret not in body


def test_coordinators_do_see_personal_data(api) -> None:  # noqa: ANN001
    """The same walk for a coordinator finds the name, phone and reviewer: so the test above can fail."""
    text = "\n".join(_every_body(api, "coordinator"))
    for secret in SECRETS:
        assert secret in text
    csv_text = api.get("/v1/export/sites.csv", headers=bearer("coordinator")).text
    assert "#contact+name+list" in csv_text and SECRET_NAME in csv_text
    assert "#contact+name" not in api.get("/v1/export/sites.csv", headers=bearer("manager")).text


def test_strip_personal_data_is_one_pure_function() -> None:
    site = make_site(1, status="needs_review")
    stripped = strip_personal_data(site)
    dumped = json.dumps(stripped.model_dump(mode="json"))
    for secret in SECRETS:
        assert secret not in dumped
    assert REDACTED in dumped
    assert all(r.reporter.id and r.reporter.org for r in stripped.timeline)  # ids and orgs stay
    assert stripped.reviews[0].decided_at == site.reviews[0].decided_at  # when stays, who goes
    assert site.timeline[0].reporter.name == SECRET_NAME  # the input is untouched
    assert view_for(site, Principal("c", "coordinator")) is site
    assert view_for(site, Principal("m", "manager")) == stripped
    clean = make_site(2, personal=False)
    assert strip_personal_data(clean) is clean  # nothing to strip: no copy
    assert Site.model_validate(stripped.model_dump())  # still a valid Site
