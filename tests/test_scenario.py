"""The scenario generator's ground truth against the consolidation core, and the two CLI commands."""

from __future__ import annotations

import json
import random

import orjson
import pytest

from schemas.enriched import EnrichedReport
from services.cli import main as cli_main
from services.cli.consolidate_cmd import parse_lines
from services.core.aggregate import aggregate
from services.core.consolidate import Consolidator
from services.core.scenario import Scenario, generate


def enriched(sc: Scenario, lines: list[str]) -> list[EnrichedReport]:
    errors: list[str] = []
    return [EnrichedReport(report=r, geo=sc.geotags[r.report_id], content_hash=r.content_hash())
            for r in parse_lines(lines, errors)]


def totals(sites, level: int) -> dict:
    return {a.code: {"sites": a.sites, "reports": a.reports, "reporters": a.reporters,
                     "figures": a.figures.model_dump()} for a in aggregate(sites, level)}


def expected(sc: Scenario, level: int) -> dict:
    return {a["code"]: {k: a[k] for k in ("sites", "reports", "reporters", "figures")}
            for a in sc.truth["levels"][str(level)]}


@pytest.fixture(scope="module")
def palu() -> Scenario:
    return generate(seed=7, sites=150, preset="palu")


def test_generation_is_deterministic_and_messy(palu):
    assert generate(seed=7, sites=150, preset="palu").lines == palu.lines
    t = palu.truth
    assert t["sites_expected"] == 150 and t["lines"] == len(palu.lines)
    assert t["resubmits"] > 0 and t["edits"] > 0 and t["place_name_only"] > 0 and t["invalid_lines"] >= 3
    codes = {s["village"][:5] for s in t["sites"]}
    assert codes <= {"72.71", "72.10", "72.03"} and len(codes) > 1
    bodies = [orjson.loads(x) for x in palu.lines if x.startswith("{\"")]
    assert any("place_text" in b and "location" not in b and b["place_text"].startswith(("Desa", "Kel."))
               for b in bodies)
    # out-of-order: some edit arrives before its original
    first_seen: dict[str, str] = {}
    out_of_order = 0
    for b in bodies:
        rid, sub = b.get("report_id"), b.get("submitted_at")
        if rid in first_seen and sub < first_seen[rid]:
            out_of_order += 1
        first_seen.setdefault(rid, sub)
    assert out_of_order > 0


def test_invalid_lines_are_counted_not_fatal(palu):
    errors: list[str] = []
    valid = list(parse_lines(palu.lines, errors))
    assert len(errors) == palu.truth["invalid_lines"]
    assert len(valid) == palu.truth["valid_lines"]


@pytest.mark.parametrize("preset", ["palu", "jakarta"])
def test_core_totals_equal_ground_truth_at_every_level(preset):
    sc = generate(seed=11, sites=120, preset=preset)
    c = Consolidator()
    for er in enriched(sc, sc.lines):
        c.add(er)
    assert len(c.sites()) == sc.truth["sites_expected"]
    for level in (1, 2, 3, 4):
        assert totals(c.sites(), level) == expected(sc, level), f"level {level}"
    # every valid line is exactly one of: a new report, an edit, a stale version, a resubmit
    assert c.counts["new"] == sc.truth["distinct_reports"] and c.counts["duplicate"] > 0
    assert sum(c.counts.values()) == sc.truth["valid_lines"]


def test_any_arrival_order_gives_the_ground_truth(palu):
    ers = enriched(palu, palu.lines)
    for seed in (1, 2):
        random.Random(seed).shuffle(ers)
        c = Consolidator()
        for er in ers + ers[: len(ers) // 3]:  # and replay a third of the stream
            c.add(er)
        assert totals(c.sites(), 3) == expected(palu, 3)


def test_several_hazards_and_waves_in_one_village_stay_apart():
    sc = generate(seed=3, sites=60, preset="jakarta")
    # few villages, many sites: some village gets a second flood wave a week later
    sc2 = generate(seed=3, sites=400, preset="palu", hazards=["earthquake"])
    assert any(s["wave"] > 0 for s in sc2.truth["sites"])
    for scenario in (sc, sc2):
        c = Consolidator()
        for er in enriched(scenario, scenario.lines):
            c.add(er)
        assert len(c.sites()) == scenario.truth["sites_expected"]


def test_scenario_cli_writes_reports_and_truth(tmp_path):
    out, truth = tmp_path / "r.jsonl", tmp_path / "t.json"
    assert cli_main(["scenario", "--seed", "5", "--sites", "20", "--preset", "jakarta",
                     "--out", str(out), "--truth", str(truth)]) == 0
    t = json.loads(truth.read_text())
    assert t["sites_expected"] == 20 and len(out.read_text().splitlines()) == t["lines"]
    assert all(a["code"].startswith("31") for a in t["levels"]["2"])


def test_geotagger_checks_steer_villages_and_points():
    by_code = {}

    def points_ok(code, pts):
        centroid = by_code.setdefault(code, pts[0])  # the first call per village is its centroid
        return [not code.endswith("1") and p == centroid for p in pts]

    sc = generate(seed=4, sites=40, preset="palu", checks=(points_ok, lambda code, text: True))
    assert sc.truth["geotagger_checked"]
    assert not any(s["village"].endswith("1") for s in sc.truth["sites"])
    for line in sc.lines:
        b = orjson.loads(line) if line.startswith("{\"") else {}
        if "location" in b and b["report_id"] in sc.geotags:
            centroid = by_code[sc.geotags[b["report_id"]].adm4]
            assert (b["location"]["lat"], b["location"]["lon"]) == tuple(round(x, 6) for x in centroid)


@pytest.mark.parametrize("level", [2, 4])
def test_consolidate_cli_matches_truth_with_the_real_geotagger(tmp_path, capsys, level):
    out, truth, sites = tmp_path / "r.jsonl", tmp_path / "t.json", tmp_path / "s.jsonl"
    cli_main(["scenario", "--seed", "9", "--sites", "60", "--preset", "jakarta", "--out", str(out),
              "--truth", str(truth)])
    capsys.readouterr()
    assert cli_main(["consolidate", str(out), "--level", str(level), "--sites", str(sites)]) == 0
    captured = capsys.readouterr()
    t = json.loads(truth.read_text())
    assert t["geotagger_checked"]
    resp = json.loads(captured.out)
    assert resp["level"] == level
    keys = ("sites", "reports", "reporters", "figures")
    got = {a["code"]: [a[k] for k in keys] for a in resp["areas"]}
    exp = {a["code"]: [a[k] for k in keys] for a in t["levels"][str(level)]}
    assert got == exp
    assert f"invalid lines={t['invalid_lines']}" in captured.err
    assert captured.err.count("invalid: line ") == t["invalid_lines"]
    assert len(sites.read_text().splitlines()) == t["sites_expected"]
