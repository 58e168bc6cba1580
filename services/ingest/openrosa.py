"""OpenRosa intake: ODK Collect, KoBoCollect and Enketo submit the rapid-assessment form here, unchanged.

Endpoints (all under /openrosa/, all answering with `X-OpenRosa-Version: 1.0`):

- `GET  /openrosa/formList`: the OpenRosa form list (formID, name, version, md5 hash, downloadUrl).
- `GET  /openrosa/forms/{form_id}/form.xml`: the XForm, converted from the committed XLSForm by pyxform.
- `HEAD /openrosa/submission`: 204 once authenticated, with `X-OpenRosa-Accept-Content-Length`.
- `POST /openrosa/submission`: multipart/form-data with `xml_submission_file` and attachments.

A submission becomes one FieldReport on `reports.raw`, exactly like `POST /v1/reports` (same record, same
key, `source` header `openrosa`), and 201 is answered only after the broker acknowledged; 503 + Retry-After
otherwise. Per instanceID (see openrosa_store.py):

- same instanceID, same XML, already produced: 202 "duplicate", nothing produced again;
- same instanceID, different XML: 409, and a dead-letter record (the phone keeps its copy);
- a split submission (every POST but the last has a `*isIncomplete*` part = `yes`): attachments of each part
  are kept, the report is produced once, by the last part;
- an edit (a new instanceID whose meta/deprecatedID names the old one): produced under the OLD report_id,
  with a submitted_at later than the old version's, so enrich's version rule (later submitted_at wins) applies.

Photos are written to SIAGA_ATTACHMENTS_DIR (default var/attachments)/<instance>/<file name> and listed in the
report's notes as `Photos: <instance>/<file name>` (paths relative to that directory).
Submissions that cannot become a FieldReport get 400 with the reason, and go to `deadletter` (source
`openrosa`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from schemas import DeadLetter, FieldReport
from services.common.auth import Principal
from services.common.config import REPO_ROOT, Settings
from services.common.kafka_io import KafkaUnavailable, Message
from services.common.metrics import DEADLETTER as DEADLETTER_COUNT
from services.common.metrics import INGEST_REPORTS
from services.common.topics import DEADLETTER
from services.ingest.bodies import BodyTooLarge, read_body
from services.ingest.errors import RETRY_AFTER_S
from services.ingest.forms import FORMS
from services.ingest.openrosa_auth import AuthResult, OpenRosaAuth
from services.ingest.openrosa_store import PARTIAL, PRODUCED, InstanceRecord, InstanceStore
from services.ingest.openrosa_xml import Submission, SubmissionError, parse_submission, report_id_for, to_field_report
from services.ingest.reports import report_message

log = logging.getLogger("siaga.ingest.openrosa")
router = APIRouter(prefix="/openrosa", tags=["openrosa"])

OPENROSA_VERSION = {"X-OpenRosa-Version": "1.0"}
SUBMITTERS = frozenset({"volunteer", "coordinator", "admin"})
XML_PART = "xml_submission_file"
INCOMPLETE_PART = "*isIncomplete*"
MAX_ATTACHMENTS_PER_POST = 50


@dataclass(frozen=True)
class OpenRosaConfig:
    attachments_dir: Path
    db_path: Path
    max_bytes: int  # advertised as X-OpenRosa-Accept-Content-Length: clients split larger submissions

    @classmethod
    def from_env(cls, cfg: Settings) -> OpenRosaConfig:
        env = os.environ.get
        return cls(
            attachments_dir=Path(env("SIAGA_ATTACHMENTS_DIR") or REPO_ROOT / "var" / "attachments"),
            db_path=Path(env("SIAGA_OPENROSA_DB") or cfg.state_dir / "openrosa" / "instances.sqlite3"),
            max_bytes=int(env("SIAGA_OPENROSA_MAX_BYTES") or 10 * 1024 * 1024),
        )


class OpenRosaState:
    def __init__(self, config: OpenRosaConfig, auth: OpenRosaAuth) -> None:
        self.config = config
        self.auth = auth
        self.store = InstanceStore(config.db_path)


def state(app: FastAPI) -> OpenRosaState:
    """The router's state on `app.state.openrosa`, made on first use (tests may put their own there first)."""
    st = getattr(app.state, "openrosa", None)
    if st is None:
        st = OpenRosaState(OpenRosaConfig.from_env(app.state.cfg), OpenRosaAuth(app.state.tokens))
        app.state.openrosa = st
    return st


# --- responses ---------------------------------------------------------------------------------------------

def xml_response(body: str | bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="text/xml; charset=utf-8",
                    headers={**OPENROSA_VERSION, **(headers or {})})


def message(status: int, text: str, nature: str = "error", headers: dict[str, str] | None = None) -> Response:
    """An OpenRosa response document; ODK Collect shows `text` to the volunteer."""
    body = ('<OpenRosaResponse xmlns="http://openrosa.org/http/response">'
            f'<message nature="{nature}">{escape(text)}</message></OpenRosaResponse>')
    return xml_response(body, status, headers)


async def authorize(request: Request) -> Principal | Response:
    st = state(request.app)
    header = request.headers.get("authorization", "")
    result = (st.auth.authenticate(request.method, request.url.path, request.url.query, header) if header
              else AuthResult(None, "authentication required"))
    if result.principal is None:
        if header:
            INGEST_REPORTS.labels("rejected", "auth").inc()
        resp = message(401, f"Login needed: {result.problem}. User name and token from your coordinator.")
        for challenge in st.auth.challenges(stale=result.stale):
            resp.headers.append("WWW-Authenticate", challenge)
        return resp
    if result.principal.role not in SUBMITTERS:
        return message(403, f"role '{result.principal.role}' may not submit assessments")
    return result.principal


# --- form discovery ----------------------------------------------------------------------------------------

@router.get("/formList", responses={200: {"content": {"text/xml": {}}}})
async def form_list(request: Request, formID: str | None = None) -> Response:  # noqa: N803 - OpenRosa's name
    """The OpenRosa form list: what ODK Collect's "Download form" shows."""
    who = await authorize(request)
    if isinstance(who, Response):
        return who
    items = []
    for form_id, load in FORMS.items():
        if formID and formID != form_id:
            continue
        form = await run_in_threadpool(load)
        url = str(request.url_for("openrosa_form_xml", form_id=form_id))
        items.append(f"<xform><formID>{escape(form.form_id)}</formID><name>{escape(form.title)}</name>"
                     f"<version>{escape(form.version)}</version><hash>{form.md5}</hash>"
                     f"<downloadUrl>{escape(url)}</downloadUrl></xform>")
    return xml_response('<?xml version="1.0" encoding="UTF-8"?>'
                        f'<xforms xmlns="http://openrosa.org/xforms/xformsList">{"".join(items)}</xforms>')


@router.get("/forms/{form_id}/form.xml", name="openrosa_form_xml", responses={200: {"content": {"text/xml": {}}}})
async def form_xml(request: Request, form_id: str) -> Response:
    who = await authorize(request)
    if isinstance(who, Response):
        return who
    load = FORMS.get(form_id)
    if load is None:
        return message(404, f"no form '{form_id}' here")
    form = await run_in_threadpool(load)
    return xml_response(form.xml)


# --- submission --------------------------------------------------------------------------------------------

@router.head("/submission", status_code=204)
async def submission_head(request: Request) -> Response:
    """The pre-flight ODK Collect sends before submitting: authenticates, learns the size limit."""
    who = await authorize(request)
    if isinstance(who, Response):
        return who
    limit = str(state(request.app).config.max_bytes)
    return Response(status_code=204, headers={**OPENROSA_VERSION, "X-OpenRosa-Accept-Content-Length": limit})


@dataclass
class Parts:
    xml: bytes | None = None
    incomplete: bool = False
    files: list[tuple[str, bytes]] = dataclasses.field(default_factory=list)


async def read_parts(request: Request, body: bytes) -> Parts:
    async def stream():  # noqa: ANN202
        yield body
        yield b""

    parser = MultiPartParser(request.headers, stream(), max_files=MAX_ATTACHMENTS_PER_POST + 1, max_fields=20)
    form = await parser.parse()
    parts = Parts()
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                if name == XML_PART:
                    parts.xml = data
                else:
                    parts.files.append((value.filename or name, data))
            elif name == XML_PART:
                parts.xml = value.encode("utf-8")
            elif name == INCOMPLETE_PART:
                parts.incomplete = value.strip().lower() in ("yes", "true", "1")
    finally:
        await form.close()
    return parts


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str | None:
    """A file or directory name that stays inside its directory: no separators, no leading dot."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(".")[:128]
    return cleaned or None


def save_attachments(directory: Path, files: list[tuple[str, bytes]]) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    saved = []
    for name, data in files:
        fname = safe_name(name)
        if fname is None:
            continue
        tmp = directory / f".{fname}.part"
        tmp.write_bytes(data)
        os.replace(tmp, directory / fname)
        saved.append(fname)
    return saved


async def dead_letter(request: Request, reason: str, detail: str, payload: bytes, key: str | None) -> None:
    """Keep what we refused, with why, on `deadletter`. A 4xx is still the answer when Kafka is down."""
    DEADLETTER_COUNT.labels("openrosa", reason).inc()
    record = DeadLetter(source="openrosa", key=key, stage="ingest.openrosa", reason=reason, detail=detail[:4000],
                        payload=payload.decode("utf-8", "replace")[:100_000], at=datetime.now(UTC))
    msg = Message(DEADLETTER.name, b"openrosa", record.model_dump_json().encode())
    try:
        await request.app.state.producer.send(msg)
    except KafkaUnavailable as err:
        log.warning("dead letter not stored", extra={"reason": reason, "key": key, "error": str(err)})


async def refuse(request: Request, status: int, reason: str, detail: str, payload: bytes = b"",
                 key: str | None = None) -> Response:
    INGEST_REPORTS.labels("rejected", reason).inc()
    await dead_letter(request, reason, detail, payload, key)
    return message(status, detail)


def openrosa_message(report: FieldReport, principal: Principal, sub: Submission) -> Message:
    """The JSON API's `reports.raw` record, marked as coming from OpenRosa and naming the instance."""
    msg = report_message(report, principal)
    headers = [(k, b"openrosa" if k == "source" else v) for k, v in msg.headers]
    headers.append(("openrosa_instance_id", sub.instance_id.encode()))
    if sub.deprecated_id:
        headers.append(("openrosa_deprecated_id", sub.deprecated_id.encode()))
    return dataclasses.replace(msg, headers=tuple(headers))


@router.post("/submission", status_code=201,
             responses={201: {"description": "Stored in Kafka (or a part of a split submission kept)"},
                        202: {"description": "Duplicate: this instance was already received"},
                        400: {"description": "Not a valid submission of a known form"},
                        401: {"description": "Digest or Basic authentication needed"},
                        409: {"description": "The instanceID was already used for different content"},
                        413: {"description": "Over X-OpenRosa-Accept-Content-Length"},
                        503: {"description": "Kafka unavailable; nothing stored; retry"}})
async def submission(request: Request) -> Response:
    """Receive one OpenRosa submission (or one part of a split one)."""
    who = await authorize(request)
    if isinstance(who, Response):
        return who
    principal = who
    st = state(request.app)
    received_at = datetime.now(UTC)
    try:
        body = await read_body(request, st.config.max_bytes)
    except BodyTooLarge as err:
        INGEST_REPORTS.labels("rejected", "too_large").inc()
        return message(413, str(err))
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return await refuse(request, 400, "not_multipart",
                            "expected multipart/form-data with an xml_submission_file part", body[:100_000])
    try:
        parts = await read_parts(request, body)
    except MultiPartException as err:
        return await refuse(request, 400, "invalid_multipart", f"unreadable multipart body: {err}", body[:100_000])
    if parts.xml is None:
        return await refuse(request, 400, "no_xml", "the submission has no xml_submission_file part")
    try:
        sub = parse_submission(parts.xml)
    except SubmissionError as err:
        return await refuse(request, 400, err.reason, err.detail, parts.xml)

    digest = hashlib.sha256(parts.xml).hexdigest()
    prev = await run_in_threadpool(st.store.get, sub.instance_id)
    if prev is not None and prev.xml_sha256 != digest:
        return await refuse(request, 409, "instance_conflict",
                            f"instance {sub.instance_id} was already received with different content; "
                            "an edit needs a new instanceID with meta/deprecatedID", parts.xml, sub.instance_id)

    folder = st.config.attachments_dir / (safe_name(report_id_for(sub.instance_id)) or "_")
    incoming = {safe_name(name) for name, _ in parts.files}
    if prev is not None and prev.state == PRODUCED:
        await run_in_threadpool(save_attachments, folder, parts.files)
        INGEST_REPORTS.labels("duplicate", "").inc()
        return message(202, f"Duplicate: report {prev.report_id} was already received. / Laporan sudah diterima.",
                       nature="submit_success")

    report_id, not_before = report_id_for(sub.instance_id), None
    if sub.deprecated_id:
        old = await run_in_threadpool(st.store.get, sub.deprecated_id)
        report_id = old.report_id if old else report_id_for(sub.deprecated_id)
        not_before = old.submitted_at if old else None
    refs = [f"{folder.name}/{n}" for name in sub.attachment_names
            if (n := safe_name(name)) and (n in incoming or (folder / n).exists())]
    try:
        report = to_field_report(sub, reporter_id=principal.name, received_at=received_at, report_id=report_id,
                                 not_before=not_before, attachment_refs=refs)
    except SubmissionError as err:
        return await refuse(request, 400, err.reason, err.detail, parts.xml, sub.instance_id)
    await run_in_threadpool(save_attachments, folder, parts.files)
    record = InstanceRecord(sub.instance_id, digest, report.report_id, report.submitted_at, PARTIAL)

    if parts.incomplete:
        await run_in_threadpool(st.store.put, record)
        return message(201, f"Part received ({len(parts.files)} file(s)); send the rest. / Bagian diterima.",
                       nature="submit_success")
    missing = [n for n in sub.attachment_names if f"{folder.name}/{safe_name(n)}" not in refs]
    if missing:
        log.warning("submission complete without some attachments",
                    extra={"instance_id": sub.instance_id, "missing": missing})
    try:
        await request.app.state.producer.send(openrosa_message(report, principal, sub))
    except KafkaUnavailable as err:
        INGEST_REPORTS.labels("unavailable", "kafka").inc()
        return message(503, f"Server busy, nothing stored: send again later. / Server sibuk, kirim lagi nanti. ({err})",
                       headers={"Retry-After": RETRY_AFTER_S})
    await run_in_threadpool(st.store.put, dataclasses.replace(record, state=PRODUCED))
    INGEST_REPORTS.labels("accepted", "").inc()
    return message(201, f"Report {report.report_id} received. Thank you! / Laporan diterima. Terima kasih!",
                   nature="submit_success")

