"""Stage 2 applies a `reports.enriched` array report by report: one report the core refuses is dead-lettered on
its own, and the array's other reports (other volunteers, other villages) still make their sites.

In-process, with the worker's own functions and dict-backed stand-ins for its tables and writer; the real
broker path is covered by tests/test_e2e.py and tests/test_enrich_state.py.
"""

from __future__ import annotations

import asyncio
import json

import pytest

import services.enrich.app as worker
from schemas import DeadLetter, Site
from services.core.consolidate import GroupState
from tests._consolidate_factory import refuse_sites_with, report, village
from tests._stage2 import Event, Writer, use_fakes


@pytest.fixture
def stage2(monkeypatch: pytest.MonkeyPatch) -> Writer:
    out = use_fakes(monkeypatch)
    refuse_sites_with(monkeypatch, report_ids=("bad",))
    return out


def letters(out: Writer) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(v) for topic, _, v in out.sent if topic == "deadletter"]


def test_one_refused_report_is_dead_lettered_alone_and_the_rest_of_its_array_counts(stage2: Writer):
    # One village, one site: the refused report must not stay in the group behind the others' backs.
    reports = [report("a", geo=village(1)), report("bad", geo=village(1), north_m=50),
               report("c", geo=village(1), north_m=100), report("d", geo=village(2))]
    array = json.dumps([json.loads(er.model_dump_json()) for er in reports]).encode()
    asyncio.run(worker.process_consolidation_batch([Event(array)]))

    sites = {s.site_id: s for s in (Site.model_validate_json(v) for topic, _, v in stage2.sent if topic == "sites")}
    assert sorted(sorted(e.report_id for e in s.timeline) for s in sites.values()) == [["a", "c"], ["d"]]
    groups = [GroupState.model_validate_json(v) for v in stage2.tables.values() if '"members"' in str(v)]
    assert sorted(rid for g in groups for rid in g.members) == ["a", "c", "d"]  # the table agrees with the sites
    (letter,) = letters(stage2)
    assert (letter.reason, letter.stage) == ("not_applied", "enrich.consolidate")
    assert (letter.partition, letter.offset) == (3, 41)  # the array it came from
    assert json.loads(letter.payload)["report"]["report_id"] == "bad"  # that report alone, replayable as is
    assert "refused for the test" in letter.detail


def test_a_refused_single_report_is_dead_lettered_with_its_record_bytes(stage2: Writer):
    value = report("bad", geo=village(1)).model_dump_json().encode()
    asyncio.run(worker.process_consolidation_batch([Event(value)]))
    (letter,) = letters(stage2)
    assert letter.reason == "not_applied" and letter.payload == value.decode()
    assert not [v for topic, _, v in stage2.sent if topic == "sites"]
