"""The OpenRosa pieces that need no broker: the XLSForm and its XForm, XML -> FieldReport, Digest arithmetic."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from schemas.common import FIGURE_NAMES, Hazard, Need
from services.common.auth import TokenStore
from services.ingest.forms import make_rapid_assessment as maker
from services.ingest.forms import rapid_assessment
from services.ingest.openrosa_auth import Nonces, OpenRosaAuth, digest_response, parse_auth_params
from services.ingest.openrosa_xml import (
    SubmissionError,
    parse_geopoint,
    parse_submission,
    report_id_for,
    to_field_report,
)
from tests._openrosa_samples import collect_xml, enketo_xml, new_instance_id
from tests.conftest import TOKENS

XF = "{http://www.w3.org/2002/xforms}"
NOW = datetime(2026, 11, 28, 2, 30, tzinfo=UTC)


# --- the form --------------------------------------------------------------------------------------------

def test_committed_xlsx_is_what_the_script_writes(tmp_path) -> None:  # noqa: ANN001
    from openpyxl import load_workbook

    fresh = load_workbook(maker.write(tmp_path / "f.xlsx"))
    committed = load_workbook(maker.XLSX)
    assert fresh.sheetnames == committed.sheetnames == ["survey", "choices", "settings"]
    def rows(wb, sheet: str) -> list[tuple]:  # noqa: ANN001
        return [r for r in wb[sheet].iter_rows(values_only=True) if any(r)]

    for name in fresh.sheetnames:
        assert rows(fresh, name) == rows(committed, name), f"sheet {name}: rerun make_rapid_assessment.py, commit"


def test_xform_has_the_fieldreport_codes_both_languages_and_constraints() -> None:
    form = rapid_assessment()
    assert form.form_id == "siaga_rapid_assessment" and form.version == maker.VERSION
    assert re.fullmatch(r"md5:[0-9a-f]{32}", form.md5)
    root = ET.fromstring(form.xml)
    model = root.find(f".//{XF}model")
    choices = {inst.get("id"): [i.findtext(f"{XF}name") for i in inst.iter(f"{XF}item")]
               for inst in model.findall(f"{XF}instance") if inst.get("id")}
    assert choices["hazard"] == [h.value for h in Hazard]
    assert choices["need"] == [n.value for n in Need]
    langs = {t.get("lang") for t in model.iter(f"{XF}translation")}
    assert langs == {"English (en)", "Bahasa Indonesia (id)"}
    binds = {b.get("nodeset").rsplit("/", 1)[-1]: b for b in model.iter(f"{XF}bind")}
    for name in FIGURE_NAMES:
        assert binds[name].get("type") == "int"
        assert binds[name].get("constraint") == ". >= 0 and . <= 10000000"
    assert binds["gps"].get("type") == "geopoint"
    assert binds["hazard"].get("required") == "true()"
    assert "gps" in binds["regency"].get("required")  # names are required only without GPS
    assert binds["instanceID"].get("{http://openrosa.org/javarosa}preload") == "uid"
    assert binds["username"].get("{http://openrosa.org/javarosa}preloadParams") == "username"
    assert binds["needs"] is not None and binds["photo_1"].get("type") == "binary"
    bn = ET.tostring(model).decode()
    assert "Gempa bumi" in bn and "Jumlah orang terdampak" in bn


# --- XML -> FieldReport ----------------------------------------------------------------------------------

def test_collect_submission_becomes_a_fieldreport() -> None:
    iid = new_instance_id()
    sub = parse_submission(collect_xml(iid, photo_1="1732759478123.jpg"))
    assert sub.instance_id == iid and sub.deprecated_id is None and sub.form_version == maker.VERSION
    assert sub.attachment_names == ("1732759478123.jpg",)
    r = to_field_report(sub, reporter_id="vol-1", received_at=NOW, attachment_refs=["x/1732759478123.jpg"])
    assert r.report_id == iid.removeprefix("uuid:")
    assert r.submitted_at == datetime.fromisoformat("2026-11-28T10:04:52.118+08:00")
    assert r.observed_at == datetime.fromisoformat("2026-11-28T09:58:11.402+08:00")  # `start` when no `observed`
    assert (r.location.lat, r.location.lon, r.location.accuracy_m) == (-0.9347, 119.9203, 4.9)
    assert r.place_text == "Balaroa, Palu Barat, Kota Palu, Sulawesi Tengah"
    assert r.hazard is Hazard.earthquake
    assert r.figures.model_dump(exclude_none=True) == {"affected": 350, "dead": 4, "injured": 21,
                                                       "displaced": 120, "houses_damaged": 85}
    assert [n.value for n in r.needs] == ["shelter", "water", "health"]
    assert r.reporter.id == "vol-1" and r.reporter.org == "PMI Kota Palu"
    assert r.notes == "Likuifaksi, banyak rumah roboh\n\nPhotos: x/1732759478123.jpg"


@pytest.mark.parametrize("default_ns", [True, False])
def test_enketo_submission_with_orx_meta_and_no_gps(default_ns: bool) -> None:
    iid, old = new_instance_id(), new_instance_id()
    xml = enketo_xml(iid, deprecated_id=old, default_ns=default_ns, gps="", village="", hazard="other",
                     hazard_other="angin puting beliung", observed="2026-11-28T08:00:00.000+09:00", dead="0")
    sub = parse_submission(xml)
    assert (sub.instance_id, sub.deprecated_id) == (iid, old)
    r = to_field_report(sub, reporter_id="vol-1", received_at=NOW)
    assert r.location is None and r.place_text == "Palu Barat, Kota Palu, Sulawesi Tengah"
    assert r.hazard is Hazard.other and r.notes.startswith("Hazard: angin puting beliung\n\n")
    assert r.observed_at == datetime.fromisoformat("2026-11-28T08:00:00+09:00") and r.figures.dead == 0


def test_edit_sorts_after_the_version_it_replaces() -> None:
    sub = parse_submission(collect_xml(new_instance_id(), end="2026-11-28T10:00:00.000+08:00"))
    old_at = datetime.fromisoformat("2026-11-28T10:30:00+08:00")  # the phone's clock went back
    r = to_field_report(sub, reporter_id="v", received_at=NOW, report_id="orig", not_before=old_at)
    assert r.report_id == "orig" and r.submitted_at == old_at + timedelta(milliseconds=1)
    later = to_field_report(sub, reporter_id="v", received_at=NOW, not_before=old_at - timedelta(hours=1))
    assert later.submitted_at == datetime.fromisoformat("2026-11-28T10:00:00+08:00")


def test_missing_end_falls_back_to_receipt_time() -> None:
    r = to_field_report(parse_submission(collect_xml(new_instance_id(), end="")), reporter_id="v", received_at=NOW)
    assert r.submitted_at == NOW


@pytest.mark.parametrize(("xml", "reason", "words"), [
    (b"<rapid_assessment id='siaga_rapid_assessment'><hazard>flood", "invalid_xml", "well-formed"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x id="siaga_rapid_assessment"/>', "invalid_xml",
     "DTD"),
    (b"<data id='other_form'><meta><instanceID>uuid:1</instanceID></meta></data>", "unknown_form", "other_form"),
    (b"<data><meta><instanceID>uuid:1</instanceID></meta></data>", "unknown_form", "no id"),
    (b"<data id='siaga_rapid_assessment'><hazard>flood</hazard><meta/></data>", "no_instance_id", "instanceID"),
    (b"<data id='siaga_rapid_assessment'><meta><instanceID>uuid:a/b</instanceID></meta></data>",
     "invalid_instance_id", "a/b"),
])
def test_unparseable_submissions_say_why(xml: bytes, reason: str, words: str) -> None:
    with pytest.raises(SubmissionError) as err:
        parse_submission(xml)
    assert err.value.reason == reason and words in err.value.detail


@pytest.mark.parametrize(("changes", "field"), [
    ({"dead": "-3"}, "figures.dead"),
    ({"affected": "12.5"}, "figures.affected"),
    ({"hazard": "meteor"}, "hazard"),
    ({"gps": "", "village": "", "district": "", "regency": "", "province": ""}, "place_text"),
    ({"gps": "91.0 119.9 0 5"}, "location.lat"),
    ({"gps": "-0.9 abc"}, "gps"),
    ({"end": "2026-11-28T10:04:52"}, "end"),
])
def test_invalid_content_is_refused_with_the_field(changes: dict, field: str) -> None:
    sub = parse_submission(collect_xml(new_instance_id(), **changes))
    with pytest.raises(SubmissionError) as err:
        to_field_report(sub, reporter_id="v", received_at=NOW)
    assert err.value.reason == "invalid_report"
    assert field in err.value.detail


def test_report_ids_and_geopoints() -> None:
    assert report_id_for("uuid:5f0c2b1e-3d1a") == "5f0c2b1e-3d1a"
    assert report_id_for("enketo:abc.1") == "enketo:abc.1"
    assert parse_geopoint("-8.55 125.57") == {"lat": -8.55, "lon": 125.57}
    assert parse_geopoint("") is None


# --- Digest arithmetic -----------------------------------------------------------------------------------

def test_digest_response_matches_the_rfc_examples() -> None:
    # RFC 2617 section 3.5 and RFC 7616 section 3.9.1.
    assert digest_response(algorithm="MD5", username="Mufasa", password="Circle Of Life",
                           realm="testrealm@host.com", method="GET", uri="/dir/index.html",
                           nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", nc="00000001",
                           cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"
    common = dict(username="Mufasa", password="Circle of Life", realm="http-auth@example.org", method="GET",
                  uri="/dir/index.html", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc="00000001",
                  cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    assert digest_response(algorithm="MD5", **common) == "8ca523f5e9506fed4657c9700eebdbec"
    assert digest_response(algorithm="SHA-256", **common) == \
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


def test_parse_auth_params_handles_quotes_and_tokens() -> None:
    p = parse_auth_params('username="vol \\"1\\"", realm="Siaga", qop=auth, nc=00000001, uri="/a?b=1,2"')
    assert p == {"username": 'vol "1"', "realm": "Siaga", "qop": "auth", "nc": "00000001", "uri": "/a?b=1,2"}


def test_nonces_expire_and_cannot_be_forged() -> None:
    nonces = Nonces(secret=b"s" * 32, ttl_s=60)
    n = nonces.new(now=1000)
    assert nonces.check(n, now=1030) == "ok"
    assert nonces.check(n, now=1061) == "stale"
    issued, rand, _ = base64.b64decode(n).decode().split(":")
    forged = base64.b64encode(f"{issued}:{rand}:{'0' * 32}".encode()).decode()
    assert nonces.check(forged, now=1030) == "invalid"
    assert Nonces(secret=b"t" * 32).check(n, now=1030) == "invalid"
    assert nonces.check("not base64!", now=1030) == "invalid"


def test_digest_authenticates_a_token_holder_once_per_nc() -> None:
    auth = OpenRosaAuth(TokenStore(TOKENS))
    nonce = re.search(r'nonce="([^"]+)"', auth.challenges()[0]).group(1)

    def header(password: str, nc: str = "00000001", uri: str = "/openrosa/submission") -> str:
        resp = digest_response(algorithm="MD5", username="vol-1", password=password, realm="Siaga", method="POST",
                               uri=uri, nonce=nonce, nc=nc, cnonce="abc")
        return (f'Digest username="vol-1", realm="Siaga", nonce="{nonce}", uri="{uri}", algorithm=MD5, '
                f'response="{resp}", qop=auth, nc={nc}, cnonce="abc"')

    assert auth.authenticate("POST", "/openrosa/submission", "", header("wrong")).principal is None
    ok = auth.authenticate("POST", "/openrosa/submission", "", header("vol-token"))
    assert ok.principal is not None and ok.principal.name == "vol-1" and ok.principal.role == "volunteer"
    replay = auth.authenticate("POST", "/openrosa/submission", "", header("vol-token"))
    assert replay.principal is None and "replayed" in replay.problem
    assert auth.authenticate("POST", "/openrosa/submission", "", header("vol-token", nc="00000002")).principal
    other_uri = auth.authenticate("POST", "/openrosa/submission", "", header("vol-token", "00000003", "/x"))
    assert other_uri.principal is None and "uri" in other_uri.problem
    basic = "Basic " + base64.b64encode(b"vol-1:vol-token").decode()
    assert auth.authenticate("HEAD", "/openrosa/submission", "", basic).principal.name == "vol-1"
    wrong_user = "Basic " + base64.b64encode(b"coord-1:vol-token").decode()
    assert auth.authenticate("HEAD", "/openrosa/submission", "", wrong_user).principal is None
