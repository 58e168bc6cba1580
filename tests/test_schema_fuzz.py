"""Property tests of the contracts in `schemas/`: hostile input fails only with ValidationError (so every
service's `except ValidationError` is enough), and valid reports survive the trip through JSON and Kafka.
"""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta, timezone

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from schemas import EnrichedReport, FieldReport, ReviewEvent, SocialMention
from schemas.common import FIGURE_NAMES, HAZARD_ALIASES, NEED_ALIASES, Hazard, Need

MODELS = [FieldReport, SocialMention, ReviewEvent, EnrichedReport]
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=6), max_leaves=30)

VALID = {
    FieldReport: FieldReport.model_config["json_schema_extra"]["examples"][0],
    SocialMention: {"id": "x:1", "platform": "x", "text": "Banjir di Kampung Melayu",
                    "created_at": "2017-02-21T08:00:00+07:00"},
    ReviewEvent: {"review_id": "r1", "site_id": "earthquake~72.71~72.71.01.1001~abc", "decision": "verified",
                  "reviewer": "coord-1", "decided_at": "2018-09-30T10:00:00+08:00"},
}


def only_validation_errors(model: type[BaseModel], value: object) -> None:
    with contextlib.suppress(ValidationError):  # anything else (TypeError, RecursionError ...) fails the test
        model.model_validate(value)


def only_validation_errors_json(model: type[BaseModel], raw: bytes | str) -> None:
    with contextlib.suppress(ValidationError):
        model.model_validate_json(raw)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@FUZZ
@given(value=json_values)
def test_random_json_only_raises_validation_error(model: type[BaseModel], value: object) -> None:
    only_validation_errors(model, value)
    try:
        raw = json.dumps(value)  # NaN/Infinity included: Python writes them, other clients might too
    except ValueError:
        return
    only_validation_errors_json(model, raw)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@FUZZ
@given(raw=st.binary(max_size=300))
def test_random_bytes_only_raise_validation_error(model: type[BaseModel], raw: bytes) -> None:
    only_validation_errors_json(model, raw)


@pytest.mark.parametrize("model", list(VALID), ids=lambda m: m.__name__)
@FUZZ
@given(data=st.data())
def test_one_field_replaced_by_garbage_only_raises_validation_error(model: type[BaseModel], data) -> None:  # noqa: ANN001
    """Near-misses reach the field validators (hazard aliases, figures, finite floats) with any JSON type."""
    body = json.loads(json.dumps(VALID[model]))
    path = data.draw(st.sampled_from(_paths(body)))
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = data.draw(json_values)
    only_validation_errors(model, body)
    only_validation_errors_json(model, orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
                                if _orjson_ok(body) else json.dumps(body))


def _paths(obj: object, prefix: tuple = ()) -> list[tuple]:
    out: list[tuple] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append((*prefix, i))
            out.extend(_paths(v, (*prefix, i)))
    return out


def _orjson_ok(body: object) -> bool:
    try:
        orjson.dumps(body)
    except (TypeError, orjson.JSONEncodeError):
        return False
    return True


# Valid reports, built field by field within the contract.
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30)
# RFC 3339 offsets are whole minutes (zoneinfo's historical local mean times, e.g. -00:16:08, are not).
offsets = st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
aware_datetimes = st.datetimes(timezones=offsets)
counts = st.none() | st.integers(0, 10_000_000)


@st.composite
def field_reports(draw: st.DrawFn) -> dict:
    body: dict = {
        "report_id": draw(st.from_regex(r"[A-Za-z0-9._:\-]{1,128}", fullmatch=True)),
        "submitted_at": draw(aware_datetimes).isoformat(),
        "reporter": {"id": draw(words)},
        "hazard": draw(st.sampled_from([h.value for h in Hazard] + list(HAZARD_ALIASES))),
        "figures": {k: v for k in FIGURE_NAMES if (v := draw(counts)) is not None},
        "needs": draw(st.lists(st.sampled_from([n.value for n in Need] + list(NEED_ALIASES)), max_size=20)),
    }
    if draw(st.booleans()):
        body["location"] = {"lat": draw(st.floats(-90, 90)), "lon": draw(st.floats(-180, 180))}
        if draw(st.booleans()):
            body["location"]["accuracy_m"] = draw(st.floats(0, 100_000))
    if "location" not in body or draw(st.booleans()):
        body["place_text"] = draw(words.filter(str.strip))  # blank place text counts as none
    for key, strategy in (("observed_at", aware_datetimes.map(lambda d: d.isoformat())), ("notes", words),
                          ("language", st.sampled_from(["id", "tet", "en"]))):
        if draw(st.booleans()):
            body[key] = draw(strategy)
    if draw(st.booleans()):
        body["reporter"].update(org=draw(words), name=draw(words), phone=draw(st.from_regex(r"\+?[0-9]{5,15}",
                                                                                              fullmatch=True)))
    return body


@settings(max_examples=300, deadline=None)
@given(body=field_reports())
def test_valid_reports_round_trip_through_json(body: dict) -> None:
    report = FieldReport.model_validate(body)
    # Exactly what ingest puts on reports.raw, and what enrich reads back.
    wire = orjson.dumps(report.model_dump(mode="json", exclude_none=True))
    again = FieldReport.model_validate_json(wire)
    assert again == report
    assert again.content_hash() == report.content_hash()  # a resubmit is recognised as one after the trip
    assert FieldReport.model_validate_json(again.model_dump_json()) == report
    assert again.event_time == report.event_time
