"""The batch route's one-pass path (`all_valid`) and its per-item path (`validate_each`) agree on every body:
the one-pass path may only ever say "all valid" where the per-item path finds nothing to refuse."""

from __future__ import annotations

import json

import pytest

from services.ingest.bodies import parse_json
from services.ingest.reports import all_valid, validate_each


def report(rid: str, **changes: object) -> dict:
    return {"report_id": rid, "submitted_at": "2018-09-29T14:05:00+08:00", "reporter": {"id": "vol-7"},
            "location": {"lat": -0.9405, "lon": 119.8946}, "hazard": "gempa", "figures": {"affected": 10}, **changes}


def per_item(raw: bytes) -> tuple[list[str], list[int]]:
    body = parse_json(raw)
    items = body.get("reports") if isinstance(body, dict) else body
    results, valid = validate_each(items)
    return [r.report_id for _, r in valid], [i for i, res in enumerate(results) if res.get("status") == "invalid"]


BODIES = {
    "list": json.dumps([report("a"), report("b")]),
    "wrapper with a device key": json.dumps({"device": "hp-7", "reports": [report("a")]}),
    "wrapper with NaN in an ignored key": '{"device": NaN, "reports": [' + json.dumps(report("a")) + "]}",
    "empty list": "[]",
    "one invalid item": json.dumps([report("a"), report("b", figures={"dead": -1})]),
    "NaN latitude": json.dumps([report("a")]).replace("-0.9405", "NaN"),
    "a report with an unknown field": json.dumps([report("a", colour="red")]),
}


@pytest.mark.parametrize("name", list(BODIES))
def test_one_pass_and_per_item_agree(name: str) -> None:
    raw = BODIES[name].encode()
    fast = all_valid(raw)
    ids, invalid = per_item(raw)
    if fast is None:
        assert invalid, f"{name}: the one-pass path refused a body the per-item path accepts whole"
    else:
        assert not invalid and [r.report_id for r in fast] == ids


def test_bodies_that_are_not_a_list_of_reports_take_the_per_item_path() -> None:
    assert all_valid(b'{"reports": {"report_id": "a"}}') is None
    assert all_valid(b'"just a string"') is None
    assert all_valid(b"{not json") is None
