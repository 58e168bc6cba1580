"""`reports.enriched` arrays: packed per regency in order (services/enrich/envelopes.py), parsed whole, and the
single-object form still accepted (records written before arrays existed)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas.enriched import parse_enriched
from services.enrich.envelopes import EnvelopePacker
from tests._consolidate_factory import report


class Collect:
    """Stands in for the BulkWriter: records what would be produced."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))


def test_a_batch_becomes_one_array_per_regency_in_the_order_judged():
    packer, out = EnvelopePacker("reports.enriched"), Collect()
    reports = [report("a"), report("b", hours=1), report("c", hours=2)]
    keys = [b"72.71", b"72.10", b"72.71"]
    for key, er in zip(keys, reports, strict=True):
        packer.add(key, er.model_dump_json().encode())
    assert packer.send_to(out) == 2
    by_key = {key: [er.report.report_id for er in parse_enriched(value)] for _, key, value in out.sent}
    assert by_key == {b"72.71": ["a", "c"], b"72.10": ["b"]}
    assert packer.send_to(out) == 2 - 2  # drained: nothing is sent twice


def test_arrays_are_split_to_fit_a_record_batch_and_keep_their_order():
    packer, out = EnvelopePacker("reports.enriched", max_bytes=3000), Collect()
    ids = [f"r{i}" for i in range(12)]
    for rid in ids:
        packer.add(b"72.71", report(rid).model_dump_json().encode())
    assert packer.send_to(out) > 1
    assert all(len(value) <= 3000 for _, _, value in out.sent)
    assert [er.report.report_id for _, _, value in out.sent for er in parse_enriched(value)] == ids


def test_a_single_report_object_is_still_read():
    er = report("solo")
    assert [r.report.report_id for r in parse_enriched(er.model_dump_json().encode())] == ["solo"]


def test_an_array_with_one_bad_report_is_refused_whole():
    good = json.loads(report("ok").model_dump_json())
    with pytest.raises(ValidationError):
        parse_enriched(json.dumps([good, {"report": "nope"}]).encode())
