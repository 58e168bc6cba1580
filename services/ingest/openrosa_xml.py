"""OpenRosa submission XML -> FieldReport v1. Pure: no HTTP, no Kafka, no disk.

What ODK Collect, KoBoCollect and Enketo send for `forms/rapid_assessment.xlsx` is the form's primary instance
filled in: a root element named after the form with `id` (and `version`) attributes, the questions as child
elements (groups nest them), and `<meta><instanceID>uuid:...</instanceID></meta>`; an edited instance also
carries `<meta><deprecatedID>` naming the instance it replaces. Namespaces vary by client (no namespace, the
XForms default namespace, `orx:meta`), so elements are matched by local name. Field names are unique in the
form, so the group a question sits in does not matter.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError

from schemas import FieldReport
from schemas.common import FIGURE_NAMES
from services.ingest.forms.make_rapid_assessment import FORM_ID

KNOWN_FORMS = frozenset({FORM_ID})
BINARY_FIELDS = ("photo_1", "photo_2")
PLACE_FIELDS = ("village", "district", "regency", "province")
MAX_XML_BYTES = 256 * 1024
_REPORT_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class SubmissionError(ValueError):
    """The submission cannot become a FieldReport. `reason` is short and machine-readable (dead-letter reason)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Submission:
    form_id: str
    form_version: str | None
    instance_id: str
    deprecated_id: str | None
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def attachment_names(self) -> tuple[str, ...]:
        """File names the instance refers to (the client sends the files as other multipart parts)."""
        return tuple(v for name in BINARY_FIELDS if (v := self.fields.get(name)))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse_submission(xml: bytes) -> Submission:
    """Parse the `xml_submission_file` part. Raises SubmissionError with the reason a volunteer can act on."""
    if len(xml) > MAX_XML_BYTES:
        raise SubmissionError("too_large", f"the submission XML is over {MAX_XML_BYTES} bytes")
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise SubmissionError("invalid_xml", "DTDs and entity declarations are not accepted in a submission")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise SubmissionError("invalid_xml", f"the submission is not well-formed XML: {err}") from err
    form_id = root.get("id")
    if not form_id:
        raise SubmissionError("unknown_form", "the submission's root element has no id attribute (form id)")
    if form_id not in KNOWN_FORMS:
        raise SubmissionError("unknown_form", f"form '{form_id}' is not served here; expected one of "
                                              f"{sorted(KNOWN_FORMS)}")
    fields: dict[str, str] = {}
    meta: dict[str, str] = {}

    def walk(el: ET.Element, parent: str) -> None:
        children = list(el)
        name = _local(el.tag)
        if not children:
            text = (el.text or "").strip()
            if parent == "meta":
                meta.setdefault(name, text)
            else:
                fields.setdefault(name, text)
            return
        for child in children:
            walk(child, name)

    for child in root:
        walk(child, _local(root.tag))
    instance_id = meta.get("instanceID") or (root.get("instanceID") or "").strip()
    if not instance_id:
        raise SubmissionError("no_instance_id", "the submission has no meta/instanceID")
    report_id_for(instance_id)  # refuse ids that cannot become a report_id now, before anything is stored
    deprecated = meta.get("deprecatedID") or None
    if deprecated:
        report_id_for(deprecated)
    return Submission(form_id=form_id, form_version=root.get("version"), instance_id=instance_id,
                      deprecated_id=deprecated, fields=fields)


def report_id_for(instance_id: str) -> str:
    """`uuid:5f0c...` -> `5f0c...`: the same shape of report_id the JSON API uses."""
    rid = instance_id.strip()
    if rid.lower().startswith("uuid:"):
        rid = rid[5:]
    if not _REPORT_ID.match(rid):
        raise SubmissionError("invalid_instance_id", f"instanceID {instance_id[:140]!r} must be 1-128 characters "
                                                     "of A-Z a-z 0-9 . _ : -")
    return rid


def parse_geopoint(value: str) -> dict[str, float] | None:
    """ODK geopoint `lat lon [altitude [accuracy]]` -> GeoPoint fields (altitude is not kept)."""
    parts = value.split()
    if not parts:
        return None
    try:
        nums = [float(p) for p in parts]
    except ValueError as err:
        raise SubmissionError("invalid_report", f"gps: {value!r} is not 'lat lon altitude accuracy'") from err
    if len(nums) < 2:
        raise SubmissionError("invalid_report", f"gps: {value!r} is not 'lat lon altitude accuracy'")
    point = {"lat": nums[0], "lon": nums[1]}
    if len(nums) >= 4:
        point["accuracy_m"] = nums[3]
    return point


def _datetime(fields: Mapping[str, str], name: str) -> datetime | None:
    text = fields.get(name) or ""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as err:
        raise SubmissionError("invalid_report", f"{name}: {text!r} is not an ISO 8601 date-time") from err
    if value.tzinfo is None:
        raise SubmissionError("invalid_report", f"{name}: {text!r} has no UTC offset")
    return value


def to_field_report(sub: Submission, *, reporter_id: str, received_at: datetime, report_id: str | None = None,
                    not_before: datetime | None = None, attachment_refs: Sequence[str] = ()) -> FieldReport:
    """The FieldReport a submission stands for.

    - `report_id`: defaults to the instanceID without `uuid:`; an edit passes the report_id of the instance it
      replaces, so the pipeline sees a new version of the same report.
    - `submitted_at`: the form's `end` (when the volunteer finalised it; repeatable for a resubmit), else
      `received_at`. An edit must sort after the version it replaces: it gets at least `not_before` + 1 ms.
    - `observed_at`: the `observed` question, else `start` (when the form was opened, normally on site).
    - `reporter.id`: the authenticated user name, never what the device claims.
    - photos: `attachment_refs` (where ingest stored them) are listed at the end of `notes`.
    """
    f = sub.fields
    submitted_at = _datetime(f, "end") or received_at
    if not_before is not None and submitted_at <= not_before:
        submitted_at = not_before + timedelta(milliseconds=1)
    observed_at = _datetime(f, "observed") or _datetime(f, "start")
    notes = [f"Hazard: {f['hazard_other']}"] if f.get("hazard_other") else []
    if f.get("notes"):
        notes.append(f["notes"])
    if attachment_refs:
        notes.append("Photos: " + ", ".join(attachment_refs))
    body = {
        "report_id": report_id or report_id_for(sub.instance_id),
        "submitted_at": submitted_at,
        "observed_at": observed_at,
        "reporter": {"id": reporter_id, "org": f.get("org") or None},
        "location": parse_geopoint(f.get("gps", "")),
        "place_text": ", ".join(f[p] for p in PLACE_FIELDS if f.get(p)) or None,
        "hazard": f.get("hazard") or None,
        "figures": {name: f[name] for name in FIGURE_NAMES if f.get(name)},
        "needs": (f.get("needs") or "").split(),
        "notes": "\n\n".join(notes) or None,
    }
    try:
        return FieldReport.model_validate(body)
    except ValidationError as err:
        problems = []
        for e in err.errors(include_url=False, include_input=False):
            loc = ".".join(str(p) for p in e["loc"]) or "(report)"
            problems.append(f"{loc}: {e['msg']}")
        raise SubmissionError("invalid_report", "; ".join(problems)) from err
