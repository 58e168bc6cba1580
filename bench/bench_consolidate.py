"""Throughput of the consolidation core and of the per-request aggregation.

Usage: python bench/bench_consolidate.py [--reports 100000] [--seed 1] (as `make bench` runs it)
Writes bench/results/consolidate.json and prints a table. Geotagging is not timed: reports carry the
GeoTag the scenario assumes, so this measures the core alone (what the faust worker adds per message).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

import orjson

from schemas.enriched import EnrichedReport
from schemas.report import FieldReport
from schemas.site import MentionRef
from services.common.gc_tuning import tune_gc_for_streaming
from services.core.aggregate import aggregate, site_row, situation
from services.core.consolidate import (
    Consolidator,
    GroupState,
    apply_mention,
    apply_mentions,
    apply_report,
    apply_reports,
    group_key,
    rebuild_sites,
)
from services.core.scenario import generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is not an installed package
from tests._consolidate_factory import T0, report  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "consolidate.json"
REPORTS_PER_SITE = 3.3  # valid messages per site the national scenario yields (reports, edits, resubmits)


def _enriched(seed: int, n_reports: int) -> tuple[list[EnrichedReport], int, dict]:
    sc = generate(seed=seed, sites=max(1, int(n_reports / REPORTS_PER_SITE)), preset="national")
    ers = []
    for line in sc.lines:
        try:
            r = FieldReport.model_validate(orjson.loads(line))
        except ValueError:
            continue
        ers.append(EnrichedReport(report=r, geo=sc.geotags[r.report_id], content_hash=r.content_hash()))
    return ers, len(sc.lines), sc.truth


def _timed(fn) -> tuple[float, object]:
    """CPU seconds of this process: the machine is shared, and wall time would measure the neighbours."""
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def _run_core(ers: list[EnrichedReport]) -> Consolidator:
    c = Consolidator()
    for e in ers:
        c.add(e)
    return c


def _hot_group(n: int, batch: int) -> dict:
    """Worst case: n reports in one village, one hazard, one window. Report by report (`Consolidator.add`, every
    message reclusters all of them) against `apply_reports` per batch of `batch` (one rebuild per batch, as the
    enrich worker applies a backlog), side by side on the same reports."""
    rng = random.Random(0)
    ers = [report(f"h{i:05d}", hours=rng.uniform(0, 48), north_m=rng.uniform(0, 3000),
                  figures={"affected": rng.randint(0, 500)}) for i in range(n)]
    c = Consolidator()
    dt, _ = _timed(lambda: [c.add(e) for e in ers])
    batched: list[GroupState | None] = [None]

    def per_batch() -> None:
        for start in range(0, n, batch):
            batched[0], _, refused = apply_reports(batched[0], ers[start:start + batch])
            assert not refused

    batch_s, _ = _timed(per_batch)
    one_by_one = sorted(rebuild_sites(next(iter(c.groups.values()))), key=lambda x: x.site_id)
    together = sorted(rebuild_sites(batched[0]), key=lambda x: x.site_id)
    return {"reports": n, "cpu_seconds": round(dt, 3), "reports_per_s": round(n / dt),
            "sites": len(c.sites()), "batch": batch, "cpu_seconds_rebuild_per_batch": round(batch_s, 3),
            "reports_per_s_rebuild_per_batch": round(n / batch_s),
            "same_sites": [x.model_dump() for x in one_by_one] == [x.model_dump() for x in together]}


def _hot_group_posts(reports: int, posts: int, batch: int) -> dict:
    """Posts about one town whose group holds `reports` reports: one site rebuild per post (the per-message core,
    `apply_mention`) against one per batch of `batch` posts (`apply_mentions`, as the enrich worker does), side
    by side on the same posts."""
    rng = random.Random(1)
    ers = [report(f"h{i:05d}", hours=rng.uniform(0, 48), north_m=rng.uniform(0, 3000),
                  figures={"affected": rng.randint(0, 500)}) for i in range(reports)]
    refs = [MentionRef(mention_id=f"x:{i}", platform="x", text="gempa di palu", relevance=rng.random(),
                       created_at=T0 + timedelta(hours=rng.uniform(0, 48))) for i in range(posts)]

    def group() -> GroupState:
        state = None
        for er in ers:
            state = apply_report(state, er).state
        return state

    per_post_state, per_batch_state = group(), group()
    per_post_s, _ = _timed(lambda: [apply_mention(per_post_state, r) for r in refs])

    def batched() -> None:
        for start in range(0, len(refs), batch):
            apply_mentions(per_batch_state, refs[start:start + batch])

    per_batch_s, _ = _timed(batched)
    same = per_post_state.model_dump_json() == per_batch_state.model_dump_json()
    return {"reports_in_group": reports, "posts": posts, "batch": batch,
            "posts_per_s_rebuild_per_post": round(posts / per_post_s),
            "posts_per_s_rebuild_per_batch": round(posts / per_batch_s), "same_final_state": same}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    gen_s, (ers, lines, truth) = _timed(lambda: _enriched(args.seed, args.reports))
    # The parsed input (hundreds of MB of models) would not be in a worker's heap: keep the collector from
    # re-scanning it, so the numbers are the core's own.
    gc.collect()
    gc.freeze()
    t_wall = time.perf_counter()
    core_s, c = _timed(lambda: _run_core(ers))
    core_wall = time.perf_counter() - t_wall
    # What the CLI and a worker run with: tune_gc_for_streaming() (gen-0 threshold 10,000).
    default_thresholds = gc.get_threshold()
    tune_gc_for_streaming()
    tuned_s, _ = _timed(lambda: _run_core(ers))
    gc.set_threshold(*default_thresholds)
    # Upper bound: without the cyclic collector at all.
    gc.disable()
    nogc_s, _ = _timed(lambda: _run_core(ers))
    gc.enable()
    gc.collect()
    sites = c.sites()

    # The faust path: state loaded from and stored to a table as JSON around every message.
    sample = ers
    table: dict[str, dict] = {}

    def faust_like() -> None:
        for e in sample:
            gk = group_key(e.geo, e.report.hazard)
            raw = table.get(gk)
            out = apply_report(GroupState.model_validate(raw) if raw else None, e)
            table[gk] = out.state.model_dump(mode="json")

    faust_s, _ = _timed(faust_like)

    # An API process would freeze what it loaded at startup; do the same before timing requests.
    gc.collect()
    gc.freeze()
    rows_s, rows = _timed(lambda: [site_row(s) for s in sites])
    agg = {}
    for level in (1, 2, 3, 4):
        dt, areas = _timed(lambda lv=level: aggregate(rows, lv))
        agg[level] = {"seconds": round(dt, 4), "areas": len(areas)}
    until = min(s.first_seen for s in sites) + timedelta(days=2)
    filt_s, _ = _timed(lambda: situation(rows, 2, hazard="flood", until=until, status="all"))
    from_sites_s, _ = _timed(lambda: situation(sites, 2))
    hot = _hot_group(1000, 200)
    hot_posts = _hot_group_posts(100, 3000, 200)

    res = {
        "timing": "CPU seconds of the process (time.process_time), gc.freeze() after input parsing",
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "scenario": {"preset": "national", "seed": args.seed, "lines": lines, "valid_messages": len(ers),
                     "sites_expected": truth["sites_expected"], "sites_built": len(sites),
                     "generate_and_parse_s": round(gen_s, 2)},
        "core": {"messages": len(ers), "cpu_seconds": round(core_s, 3), "wall_seconds": round(core_wall, 3),
                 "reports_per_s": round(len(ers) / core_s), "statuses": dict(c.counts)},
        "core_tuned_gc": {"cpu_seconds": round(tuned_s, 3), "reports_per_s": round(len(ers) / tuned_s)},
        "core_without_cyclic_gc": {"cpu_seconds": round(nogc_s, 3),
                                   "reports_per_s": round(len(ers) / nogc_s)},
        "core_with_json_state_roundtrip": {"messages": len(sample), "cpu_seconds": round(faust_s, 3),
                                           "reports_per_s": round(len(sample) / faust_s)},
        "hot_group_1000_reports": hot,
        "hot_group_posts": hot_posts,
        "aggregate": {"sites": len(sites), "site_rows_s": round(rows_s, 4),
                      "by_level_from_rows": agg, "situation_filtered_from_rows_s": round(filt_s, 4),
                      "situation_from_site_models_s": round(from_sites_s, 4)},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2) + "\n")

    print(f"{'measure':<46}{'value':>16}")
    print("-" * 62)
    table_rows = [
        ("messages through Consolidator.add", f"{len(ers):,}"),
        ("core reports/s, default GC (one core)", f"{res['core']['reports_per_s']:,}"),
        ("core reports/s, tune_gc_for_streaming()", f"{res['core_tuned_gc']['reports_per_s']:,}"),
        ("core reports/s, cyclic GC off (upper bound)",
         f"{res['core_without_cyclic_gc']['reports_per_s']:,}"),
        ("core + GroupState JSON round trip, reports/s",
         f"{res['core_with_json_state_roundtrip']['reports_per_s']:,}"),
        ("hot group (1000 reports, 1 village), reports/s", f"{hot['reports_per_s']:,}"),
        (f"  the same, rebuild per {hot['batch']} reports /s", f"{hot['reports_per_s_rebuild_per_batch']:,}"),
        ("posts on a 100-report group, rebuild per post /s", f"{hot_posts['posts_per_s_rebuild_per_post']:,}"),
        (f"  the same, rebuild per {hot_posts['batch']} posts /s", f"{hot_posts['posts_per_s_rebuild_per_batch']:,}"),
        ("sites built / expected", f"{len(sites):,} / {truth['sites_expected']:,}"),
        ("Site -> SiteRow for all sites (s)", f"{rows_s:.3f}"),
        *[(f"aggregate level {lv} from rows (s)", f"{agg[lv]['seconds']:.4f}") for lv in agg],
        ("situation, filtered, from rows (s)", f"{filt_s:.4f}"),
        ("situation from Site models (s)", f"{from_sites_s:.4f}"),
    ]
    for k, v in table_rows:
        print(f"{k:<46}{v:>16}")
    print(f"\nwritten {OUT}")


if __name__ == "__main__":
    main()
