"""The XLSForms served over OpenRosa, converted to XForms with pyxform once per process and cached."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import unescape

from services.ingest.forms.make_rapid_assessment import FORM_ID, XLSX


@dataclass(frozen=True)
class XForm:
    form_id: str
    version: str
    title: str
    xml: bytes

    @property
    def md5(self) -> str:
        """As formList wants it: `md5:` + hex digest of the exact bytes the download serves."""
        return "md5:" + hashlib.md5(self.xml).hexdigest()  # the OpenRosa form list asks for MD5


_cache: dict[tuple[str, float], XForm] = {}
_lock = threading.Lock()


def convert(xlsx: Path) -> XForm:
    """XLSForm -> XForm with pyxform (about a second: done once per file version, then cached)."""
    key = (str(xlsx), xlsx.stat().st_mtime)
    with _lock:
        if key not in _cache:
            from pyxform.xls2xform import convert as xls2xform

            result = xls2xform(str(xlsx))
            xml = result.xform.encode("utf-8")
            root = re.search(rb'<instance>\s*<[\w.-]+ id="([^"]+)"(?: version="([^"]*)")?', xml)
            title = re.search(rb"<h:title>(.*?)</h:title>", xml)
            if root is None:
                raise ValueError(f"{xlsx}: no primary instance with an id in the converted XForm")
            _cache[key] = XForm(
                form_id=root.group(1).decode(), version=(root.group(2) or b"").decode(),
                title=unescape(title.group(1).decode()) if title else root.group(1).decode(), xml=xml,
            )
        return _cache[key]


def rapid_assessment() -> XForm:
    return convert(XLSX)


FORMS = {FORM_ID: rapid_assessment}
