"""Submissions of forms/rapid_assessment.xlsx shaped like the ones ODK Collect and Enketo send.

ODK Collect writes the instance on one line after `<?xml version='1.0' ?>`, declares the XForm prefixes on the
root, writes empty questions as `<x />`, and posts multipart/form-data with the XML as a file part named
`xml_submission_file` (its file name is the instance's) and each photo as a part named after its file.
Enketo pretty-prints, may keep the XForms default namespace and an `orx:meta` block, and names the XML part's
file `xml_submission_file` too. Geopoints are "lat lon altitude accuracy".
"""

from __future__ import annotations

import uuid

FORM_ID = "siaga_rapid_assessment"
VERSION = "2026112801"
COLLECT_NS = ('xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa" '
              'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:ev="http://www.w3.org/2001/xml-events" '
              'xmlns:orx="http://openrosa.org/xforms" xmlns:odk="http://www.opendatakit.org/xforms"')

DEFAULTS = {
    "start": "2026-11-28T09:58:11.402+08:00",
    "end": "2026-11-28T10:04:52.118+08:00",
    "gps": "-0.9347 119.9203 84.2 4.9",
    "village": "Balaroa", "district": "Palu Barat", "regency": "Kota Palu", "province": "Sulawesi Tengah",
    "hazard": "earthquake", "hazard_other": "", "observed": "",
    "affected": "350", "dead": "4", "injured": "21", "missing": "", "displaced": "120", "houses_damaged": "85",
    "needs": "shelter water health", "photo_1": "", "photo_2": "", "org": "PMI Kota Palu",
    "notes": "Likuifaksi, banyak rumah roboh",
}


def new_instance_id() -> str:
    return f"uuid:{uuid.uuid4()}"


def _el(name: str, value: str, empty: str) -> str:
    return f"<{name}>{value}</{name}>" if value else empty.format(name=name)


def collect_xml(instance_id: str, deprecated_id: str | None = None, username: str = "vol-1", **changes: str) -> bytes:
    v = {**DEFAULTS, **changes}
    e = lambda n: _el(n, v[n], "<{name} />")  # noqa: E731
    meta = f"<instanceID>{instance_id}</instanceID>"
    if deprecated_id:
        meta += f"<deprecatedID>{deprecated_id}</deprecatedID>"
    meta += f"<instanceName>{v['hazard']} {v['regency']} {v['end']}</instanceName>"
    body = (
        f"<?xml version='1.0' ?><rapid_assessment id=\"{FORM_ID}\" version=\"{VERSION}\" {COLLECT_NS}>"
        f"{e('start')}{e('end')}<username>{username}</username><deviceid>collect:Xy12AbCdEf34GhIj</deviceid>"
        f"<place>{e('gps')}{e('village')}{e('district')}{e('regency')}{e('province')}</place>"
        f"{e('hazard')}{e('hazard_other')}{e('observed')}"
        f"<figures>{''.join(e(n) for n in ('affected', 'dead', 'injured', 'missing', 'displaced', 'houses_damaged'))}"
        f"</figures>{e('needs')}{e('photo_1')}{e('photo_2')}{e('org')}{e('notes')}<meta>{meta}</meta>"
        f"</rapid_assessment>"
    )
    return body.encode("utf-8")


def enketo_xml(instance_id: str, deprecated_id: str | None = None, default_ns: bool = True, **changes: str) -> bytes:
    """Enketo's shape: pretty-printed, XForms default namespace kept, `orx:meta`."""
    v = {**DEFAULTS, **changes}
    e = lambda n, ind="    ": ind + _el(n, v[n], "<{name}/>") + "\n"  # noqa: E731
    ns = ' xmlns="http://www.w3.org/2002/xforms"' if default_ns else ""
    deprecated = f"        <orx:deprecatedID>{deprecated_id}</orx:deprecatedID>\n" if deprecated_id else ""
    figures = "".join(e(n, "        ") for n in ("affected", "dead", "injured", "missing", "displaced",
                                                  "houses_damaged"))
    return (
        f'<rapid_assessment{ns} xmlns:jr="http://openrosa.org/javarosa" xmlns:odk="http://www.opendatakit.org/xforms"'
        f' xmlns:orx="http://openrosa.org/xforms" id="{FORM_ID}" version="{VERSION}">\n'
        f"{e('start')}{e('end')}    <username/>\n    <deviceid>enketo.siaga.example:kL3mN0pQ</deviceid>\n"
        f"    <place>\n{e('gps', '        ')}{e('village', '        ')}{e('district', '        ')}"
        f"{e('regency', '        ')}{e('province', '        ')}    </place>\n"
        f"{e('hazard')}{e('hazard_other')}{e('observed')}    <figures>\n{figures}    </figures>\n"
        f"{e('needs')}{e('photo_1')}{e('photo_2')}{e('org')}{e('notes')}"
        f"    <orx:meta>\n        <orx:instanceID>{instance_id}</orx:instanceID>\n{deprecated}"
        f"    </orx:meta>\n</rapid_assessment>\n"
    ).encode()


# A few bytes that start like a JPEG: the server stores attachments as they come, it never decodes them.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(256)) * 8 + b"\xff\xd9"


def collect_multipart(xml: bytes, attachments: dict[str, bytes] | None = None, incomplete: bool = False,
                      boundary: str = "d8f1c3a0-5b6e-4f4e-9d2a-1c7b0e9f3a42") -> tuple[bytes, str]:
    """The multipart body ODK Collect (OkHttp) builds, byte for byte in shape: returns (body, content type)."""
    crlf = b"\r\n"
    out = []
    part = [f"--{boundary}".encode(),
            b'Content-Disposition: form-data; name="xml_submission_file"; filename="rapid_2026-11-28_10-04-52.xml"',
            b"Content-Type: text/xml", f"Content-Length: {len(xml)}".encode(), b"", xml]
    out.append(crlf.join(part))
    for name, data in (attachments or {}).items():
        out.append(crlf.join([f"--{boundary}".encode(),
                              f'Content-Disposition: form-data; name="{name}"; filename="{name}"'.encode(),
                              b"Content-Type: image/jpeg", f"Content-Length: {len(data)}".encode(), b"", data]))
    if incomplete:
        out.append(crlf.join([f"--{boundary}".encode(), b'Content-Disposition: form-data; name="*isIncomplete*"',
                              b"Content-Length: 3", b"", b"yes"]))
    body = crlf.join(out) + crlf + f"--{boundary}--".encode() + crlf
    return body, f"multipart/form-data; boundary={boundary}"
