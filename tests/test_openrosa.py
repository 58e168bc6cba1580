"""OpenRosa intake over HTTP against the session's real Kafka, with submissions shaped like ODK Collect's and
Enketo's: form list and download, HEAD pre-flight, Digest and Basic auth, photos, resubmits, conflicts, edits,
split submissions, refusals on the dead-letter topic, and 503 when the broker is away."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from services.common.config import Settings
from services.ingest.app import create_app
from services.ingest.openrosa import OpenRosaConfig, OpenRosaState
from services.ingest.openrosa_auth import OpenRosaAuth, digest_response
from tests._openrosa_samples import JPEG, collect_multipart, collect_xml, enketo_xml, new_instance_id
from tests.kafka_utils import read_topic

pytestmark = pytest.mark.kafka

VOLUNTEER = httpx.DigestAuth("vol-1", "vol-token")
RESPONSE_NS = "{http://openrosa.org/http/response}"


def _state(root: Path, tokens) -> OpenRosaState:  # noqa: ANN001
    return OpenRosaState(OpenRosaConfig(root / "attachments", root / "openrosa.sqlite3", 1024 * 1024),
                         OpenRosaAuth(tokens))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("openrosa")


@pytest.fixture(scope="module")
def client(kafka: str, auth_file, root: Path) -> TestClient:  # noqa: ANN001
    app = create_app(Settings(kafka=kafka, auth_file=str(auth_file), state_dir=root / "state"))
    app.state.openrosa = _state(root, app.state.tokens)
    with TestClient(app, base_url="http://ingest.siaga.test") as c:
        yield c


def submit(client: TestClient, xml: bytes, photos: dict[str, bytes] | None = None, incomplete: bool = False,
           auth: httpx.Auth | None = VOLUNTEER) -> httpx.Response:
    """POST as ODK Collect does: multipart, XML as a file part, photos as parts named after their files."""
    files = [("xml_submission_file", ("rapid_2026-11-28_10-04-52.xml", xml, "text/xml"))]
    files += [(name, (name, data, "image/jpeg")) for name, data in (photos or {}).items()]
    data = {"*isIncomplete*": "yes"} if incomplete else None
    return client.post("/openrosa/submission", files=files, data=data, auth=auth,
                       headers={"X-OpenRosa-Version": "1.0"})


def message_of(r: httpx.Response) -> tuple[str | None, str]:
    el = ET.fromstring(r.content).find(f"{RESPONSE_NS}message")
    return el.get("nature"), el.text or ""


def on_topic(kafka: str, report_id: str, expect: int = 1) -> list:
    return [rec for rec in read_topic(kafka, "reports.raw", expect) if rec.key == report_id.encode()]


def dead_letters(kafka: str, key: str) -> list[dict]:
    out = []
    for rec in read_topic(kafka, "deadletter", 1):
        value = json.loads(rec.value)
        if rec.key == b"openrosa" and value.get("key") == key:
            out.append(value)
    return out


# --- discovery and authentication ------------------------------------------------------------------------

def test_unauthenticated_requests_get_digest_and_basic_challenges(client: TestClient) -> None:
    for method, path in (("GET", "/openrosa/formList"), ("HEAD", "/openrosa/submission"),
                         ("POST", "/openrosa/submission")):
        r = client.request(method, path)
        assert r.status_code == 401, (method, path)
        assert r.headers["X-OpenRosa-Version"] == "1.0"
        challenges = r.headers.get_list("WWW-Authenticate")
        assert challenges[0].startswith("Digest ") and 'qop="auth"' in challenges[0] and "nonce=" in challenges[0]
        assert challenges[1].startswith("Basic ")


def test_form_list_and_download(client: TestClient) -> None:
    r = client.get("/openrosa/formList", auth=VOLUNTEER)
    assert r.status_code == 200 and r.headers["X-OpenRosa-Version"] == "1.0"
    assert r.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(r.content)
    ns = "{http://openrosa.org/xforms/xformsList}"
    assert root.tag == f"{ns}xforms"
    (xform,) = root.findall(f"{ns}xform")
    assert xform.findtext(f"{ns}formID") == "siaga_rapid_assessment"
    assert xform.findtext(f"{ns}version") and xform.findtext(f"{ns}name")
    url = xform.findtext(f"{ns}downloadUrl")
    assert url.startswith("http://ingest.siaga.test/openrosa/")
    form = client.get(url, auth=VOLUNTEER)
    assert form.status_code == 200 and form.headers["X-OpenRosa-Version"] == "1.0"
    assert xform.findtext(f"{ns}hash") == "md5:" + hashlib.md5(form.content).hexdigest()
    assert b'<rapid_assessment id="siaga_rapid_assessment"' in form.content
    assert client.get("/openrosa/formList?formID=nope", auth=VOLUNTEER).content.count(b"<xform>") == 0
    assert client.get("/openrosa/forms/nope/form.xml", auth=VOLUNTEER).status_code == 404


def test_head_preflight_with_basic_auth(client: TestClient) -> None:
    r = client.head("/openrosa/submission", auth=("vol-1", "vol-token"))
    assert r.status_code == 204
    assert r.headers["X-OpenRosa-Version"] == "1.0"
    assert r.headers["X-OpenRosa-Accept-Content-Length"] == str(1024 * 1024)


def test_bad_password_and_wrong_role_are_refused(client: TestClient, kafka: str) -> None:
    iid = new_instance_id()
    for auth in (httpx.DigestAuth("vol-1", "not-the-token"), ("vol-1", "not-the-token"),
                 httpx.DigestAuth("nobody", "vol-token"), ("coord-1", "vol-token")):
        r = submit(client, collect_xml(iid), auth=auth)
        assert r.status_code == 401 and r.headers["X-OpenRosa-Version"] == "1.0"
        assert r.headers.get_list("WWW-Authenticate")
    r = submit(client, collect_xml(iid), auth=httpx.DigestAuth("mgr-1", "mgr-token"))
    assert r.status_code == 403 and "manager" in message_of(r)[1]
    assert on_topic(kafka, iid.removeprefix("uuid:"), 0) == []


def test_digest_round_trip_by_hand_with_stale_nonce_and_replay(client: TestClient) -> None:
    challenge = client.head("/openrosa/submission").headers.get_list("WWW-Authenticate")[0]
    params = dict(re.findall(r'(\w+)="?([^",]+)"?', challenge))

    def head(nonce: str, nc: str) -> httpx.Response:
        resp = digest_response(algorithm="MD5", username="coord-1", password="coord-token", realm=params["realm"],
                               method="HEAD", uri="/openrosa/submission", nonce=nonce, nc=nc, cnonce="0a4f113b")
        return client.head("/openrosa/submission", headers={"Authorization": (
            f'Digest username="coord-1", realm="{params["realm"]}", nonce="{nonce}", uri="/openrosa/submission", '
            f'response="{resp}", qop=auth, nc={nc}, cnonce="0a4f113b", opaque="{params["opaque"]}"')})

    assert head(params["nonce"], "00000001").status_code == 204
    assert head(params["nonce"], "00000002").status_code == 204  # nonce reuse with a higher count: ODK does this
    assert head(params["nonce"], "00000002").status_code == 401  # the same request again is a replay
    nonces = client.app.state.openrosa.auth.nonces
    old = nonces.new(now=datetime(2020, 1, 1).timestamp())
    stale = head(old, "00000001")
    assert stale.status_code == 401 and "stale=true" in stale.headers.get_list("WWW-Authenticate")[0]


# --- submissions -----------------------------------------------------------------------------------------

def test_collect_submission_with_photo_is_on_the_topic(client: TestClient, kafka: str, root: Path) -> None:
    iid = new_instance_id()
    rid = iid.removeprefix("uuid:")
    body, ctype = collect_multipart(collect_xml(iid, photo_1="1732759478123.jpg"), {"1732759478123.jpg": JPEG})
    r = client.post("/openrosa/submission", content=body, auth=VOLUNTEER,
                    headers={"Content-Type": ctype, "X-OpenRosa-Version": "1.0"})
    assert r.status_code == 201, r.text
    assert r.headers["X-OpenRosa-Version"] == "1.0"
    assert ET.fromstring(r.content).tag == f"{RESPONSE_NS}OpenRosaResponse"
    assert message_of(r)[0] == "submit_success" and rid in message_of(r)[1]
    (rec,) = on_topic(kafka, rid)
    report = json.loads(rec.value)
    assert report["reporter"] == {"id": "vol-1", "org": "PMI Kota Palu"}
    assert report["hazard"] == "earthquake" and report["figures"]["affected"] == 350
    assert report["location"] == {"lat": -0.9347, "lon": 119.9203, "accuracy_m": 4.9}
    assert report["submitted_at"].startswith("2026-11-28T10:04:52.118")
    headers = dict(rec.headers)
    assert headers["source"] == b"openrosa" and headers["submitted_by"] == b"vol-1"
    assert headers["openrosa_instance_id"] == iid.encode()
    assert report["notes"].endswith(f"Photos: {rid}/1732759478123.jpg")
    assert (root / "attachments" / rid / "1732759478123.jpg").read_bytes() == JPEG


def test_resubmit_is_202_duplicate_and_not_produced_twice(client: TestClient, kafka: str) -> None:
    iid = new_instance_id()
    xml = collect_xml(iid)
    assert submit(client, xml).status_code == 201
    again = submit(client, xml)
    assert again.status_code == 202, again.text
    nature, text = message_of(again)
    assert nature == "submit_success" and "uplicate" in text
    assert len(on_topic(kafka, iid.removeprefix("uuid:"))) == 1


def test_same_instance_id_with_other_content_is_409_and_dead_lettered(client: TestClient, kafka: str) -> None:
    iid = new_instance_id()
    assert submit(client, collect_xml(iid, dead="4")).status_code == 201
    r = submit(client, collect_xml(iid, dead="40"))
    assert r.status_code == 409 and "deprecatedID" in message_of(r)[1]
    (only,) = on_topic(kafka, iid.removeprefix("uuid:"))
    assert json.loads(only.value)["figures"]["dead"] == 4
    (dl,) = dead_letters(kafka, iid)
    assert dl["source"] == "openrosa" and dl["reason"] == "instance_conflict" and "<dead>40</dead>" in dl["payload"]


def test_edits_supersede_under_the_original_report_id(client: TestClient, kafka: str) -> None:
    first, second, third = new_instance_id(), new_instance_id(), new_instance_id()
    rid = first.removeprefix("uuid:")
    assert submit(client, collect_xml(first, dead="4", end="2026-11-28T10:04:52.118+08:00")).status_code == 201
    # Enketo edit: new instanceID, deprecatedID = the first; the phone's clock says earlier than the original.
    r = submit(client, enketo_xml(second, deprecated_id=first, dead="6", end="2026-11-28T09:00:00.000+08:00"))
    assert r.status_code == 201, r.text
    # Collect edit of the edit: still the same report.
    assert submit(client, collect_xml(third, deprecated_id=second, dead="7",
                                      end="2026-11-28T12:00:00.000+08:00")).status_code == 201
    versions = [json.loads(rec.value) for rec in on_topic(kafka, rid, 3)]
    assert [v["figures"]["dead"] for v in versions] == [4, 6, 7]
    times = [datetime.fromisoformat(v["submitted_at"]) for v in versions]
    assert times[0] < times[1] < times[2]
    assert on_topic(kafka, second.removeprefix("uuid:"), 0) == []


def test_split_submission_completes_one_report(client: TestClient, kafka: str, root: Path) -> None:
    iid = new_instance_id()
    rid = iid.removeprefix("uuid:")
    xml = collect_xml(iid, photo_1="a.jpg", photo_2="b.jpg")
    part1 = submit(client, xml, {"a.jpg": JPEG}, incomplete=True)
    assert part1.status_code == 201 and message_of(part1)[0] == "submit_success"
    assert on_topic(kafka, rid, 0) == []
    part2 = submit(client, xml, {"b.jpg": JPEG[::-1]})
    assert part2.status_code == 201
    (rec,) = on_topic(kafka, rid)
    assert json.loads(rec.value)["notes"].endswith(f"Photos: {rid}/a.jpg, {rid}/b.jpg")
    assert (root / "attachments" / rid / "a.jpg").read_bytes() == JPEG
    assert (root / "attachments" / rid / "b.jpg").read_bytes() == JPEG[::-1]
    assert submit(client, xml, {"b.jpg": JPEG[::-1]}).status_code == 202  # the last part again: a resubmit


def test_enketo_submission_without_gps(client: TestClient, kafka: str) -> None:
    iid = new_instance_id()
    r = submit(client, enketo_xml(iid, gps="", village="Petobo", hazard="banjir"))
    # "banjir" is not one of the form's codes, but FieldReport knows the alias: it is accepted as flood.
    assert r.status_code == 201, r.text
    (rec,) = on_topic(kafka, iid.removeprefix("uuid:"))
    report = json.loads(rec.value)
    assert "location" not in report and report["place_text"].startswith("Petobo, Palu Barat")
    assert report["hazard"] == "flood"


@pytest.mark.parametrize(("xml", "reason", "words"), [
    (b"<rapid_assessment id='siaga_rapid_assessment'><hazard>flood", "invalid_xml", "well-formed"),
    (b"<x id='kobo_other'><meta><instanceID>uuid:dl-unknown-form</instanceID></meta></x>", "unknown_form",
     "kobo_other"),
])
def test_unparseable_submission_is_400_with_reason(client: TestClient, kafka: str, xml: bytes, reason: str,
                                                   words: str) -> None:
    r = submit(client, xml)
    assert r.status_code == 400 and r.headers["X-OpenRosa-Version"] == "1.0"
    assert words in message_of(r)[1]
    found = [json.loads(rec.value) for rec in read_topic(kafka, "deadletter", 1) if rec.key == b"openrosa"]
    assert any(d["reason"] == reason and d["payload"] == xml.decode() and d["stage"] == "ingest.openrosa"
               for d in found)


def test_invalid_figures_are_400_naming_the_field_and_dead_lettered(client: TestClient, kafka: str) -> None:
    iid = new_instance_id()
    r = submit(client, collect_xml(iid, dead="-3"))
    assert r.status_code == 400 and "figures.dead" in message_of(r)[1]
    (dl,) = dead_letters(kafka, iid)
    assert dl["reason"] == "invalid_report"
    assert on_topic(kafka, iid.removeprefix("uuid:"), 0) == []


def test_missing_xml_part_and_non_multipart_are_400(client: TestClient) -> None:
    r = client.post("/openrosa/submission", files={"photo.jpg": ("photo.jpg", JPEG, "image/jpeg")}, auth=VOLUNTEER)
    assert r.status_code == 400 and "xml_submission_file" in message_of(r)[1]
    r = client.post("/openrosa/submission", content=collect_xml(new_instance_id()), auth=VOLUNTEER,
                    headers={"Content-Type": "text/xml"})
    assert r.status_code == 400


def test_over_the_advertised_size_is_413(client: TestClient) -> None:
    r = submit(client, collect_xml(new_instance_id(), photo_1="big.jpg"), {"big.jpg": b"\xff" * (1024 * 1024 + 1)})
    assert r.status_code == 413 and r.headers["X-OpenRosa-Version"] == "1.0"


def test_attachment_names_cannot_escape_the_instance_folder(client: TestClient, root: Path) -> None:
    iid = new_instance_id()
    r = submit(client, collect_xml(iid, photo_1="evil.jpg"), {"../../evil.jpg": JPEG})
    assert r.status_code == 201
    assert (root / "attachments" / iid.removeprefix("uuid:") / "evil.jpg").exists()
    assert not (root / "evil.jpg").exists() and not (root.parent / "evil.jpg").exists()


def test_kafka_down_means_503_and_the_retry_is_not_a_duplicate(auth_file, tmp_path: Path) -> None:  # noqa: ANN001
    from tests.conftest import _load_local_kafka

    free_port = sys.modules["local_kafka"].free_port if "local_kafka" in sys.modules else _load_local_kafka().free_port
    app = create_app(Settings(kafka=f"127.0.0.1:{free_port()}", auth_file=str(auth_file), produce_timeout_s=1.5,
                              state_dir=tmp_path))
    app.state.openrosa = _state(tmp_path, app.state.tokens)
    with TestClient(app) as c:
        xml = collect_xml(new_instance_id())
        for _ in range(2):
            r = submit(c, xml, auth=("vol-1", "vol-token"))
            assert r.status_code == 503 and r.headers["Retry-After"] and r.headers["X-OpenRosa-Version"] == "1.0"


def test_config_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SIAGA_ATTACHMENTS_DIR", str(tmp_path / "photos"))
    monkeypatch.delenv("SIAGA_OPENROSA_DB", raising=False)
    monkeypatch.setenv("SIAGA_OPENROSA_MAX_BYTES", "5000000")
    cfg = OpenRosaConfig.from_env(Settings(state_dir=tmp_path / "state"))
    assert cfg == OpenRosaConfig(tmp_path / "photos", tmp_path / "state" / "openrosa" / "instances.sqlite3", 5000000)


def test_instance_memory_survives_a_restart(kafka: str, auth_file, tmp_path: Path) -> None:  # noqa: ANN001
    iid = new_instance_id()
    xml = collect_xml(iid)
    for expected in (201, 202):  # a new process with the same state file still knows the instance
        app = create_app(Settings(kafka=kafka, auth_file=str(auth_file), state_dir=tmp_path))
        app.state.openrosa = _state(tmp_path, app.state.tokens)
        with TestClient(app) as c:
            assert submit(c, xml).status_code == expected
        app.state.openrosa.store.close()
    assert len(on_topic(kafka, iid.removeprefix("uuid:"))) == 1
