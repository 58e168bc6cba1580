"""`siaga consolidate IN.jsonl`: the consolidation core offline, over FieldReport JSON lines.

The same code path as the faust worker (geotag, then `Consolidator`), so an analyst can replay a day of
reports on a laptop and get the numbers GET /v1/situation would show. Invalid lines are counted and named
on stderr, never fatal: one broken phone must not hide a thousand good reports.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import orjson
from pydantic import ValidationError

from schemas.enriched import EnrichedReport
from schemas.report import FieldReport
from services.common.gc_tuning import tune_gc_for_streaming
from services.core.aggregate import situation
from services.core.consolidate import Consolidator

BATCH = 5000  # geotagging is vectorised: tag reports in batches, not one by one
MAX_ERRORS_SHOWN = 20


def read_reports(path: str, errors: list[str]) -> Iterator[FieldReport]:
    """Valid FieldReports of a JSON lines file (or '-' for stdin); invalid lines go to `errors`."""
    if path == "-":
        yield from parse_lines(sys.stdin, errors)
        return
    with Path(path).open(encoding="utf-8") as fh:
        yield from parse_lines(fh, errors)


def parse_lines(lines: Iterable[str], errors: list[str]) -> Iterator[FieldReport]:
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield FieldReport.model_validate(orjson.loads(line))
        except (orjson.JSONDecodeError, ValidationError, ValueError) as err:
            parts = str(err).splitlines()
            detail = " ".join(p.strip() for p in parts[:3]) if parts else type(err).__name__
            errors.append(f"line {n}: {detail[:300]}")


def _batches(it: Iterator[FieldReport], size: int) -> Iterator[list[FieldReport]]:
    batch: list[FieldReport] = []
    for r in it:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def consolidate_file(path: str, errors: list[str], consolidator: Consolidator | None = None) -> Consolidator:
    from services.core.geotag import get_geotagger  # heavy (polygons): only when actually consolidating

    tagger = get_geotagger()
    c = consolidator or Consolidator()
    for batch in _batches(read_reports(path, errors), BATCH):
        for report, geo in zip(batch, tagger.tag_reports(batch), strict=True):
            c.add(EnrichedReport(report=report, geo=geo, content_hash=report.content_hash()))
    return c


def _run(args: argparse.Namespace) -> int:
    tune_gc_for_streaming()
    errors: list[str] = []
    c = consolidate_file(args.input, errors)
    sites = c.sites()
    if args.sites:
        with Path(args.sites).open("wb") as fh:
            for s in sites:
                fh.write(orjson.dumps(s.model_dump(mode="json")) + b"\n")
    since = datetime.fromisoformat(args.since) if args.since else None
    until = datetime.fromisoformat(args.until) if args.until else None
    resp = situation(sites, args.level, hazard=args.hazard, since=since, until=until, status=args.status,
                     area_prefix=args.area)
    sys.stdout.write(resp.model_dump_json(indent=2) + "\n")
    for e in errors[:MAX_ERRORS_SHOWN]:
        print(f"invalid: {e}", file=sys.stderr)
    if len(errors) > MAX_ERRORS_SHOWN:
        print(f"invalid: ... and {len(errors) - MAX_ERRORS_SHOWN} more", file=sys.stderr)
    counts = ", ".join(f"{k}={v}" for k, v in sorted(c.counts.items()))
    print(f"consolidated: {len(sites)} sites; reports {counts}; invalid lines={len(errors)}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("consolidate", help="FieldReport JSON lines -> sites and per-area totals")
    p.add_argument("input", help="FieldReport JSON lines ('-' for stdin)")
    p.add_argument("--level", type=int, choices=(1, 2, 3, 4), default=2, help="admin level of the totals")
    p.add_argument("--sites", help="also write the sites as JSON lines here")
    p.add_argument("--hazard", help="only this hazard")
    p.add_argument("--since", help="ISO time: sites still active at or after it")
    p.add_argument("--until", help="ISO time: sites that had started by then")
    p.add_argument("--status", default="all", help="all (not rejected) | verified | any | a site status")
    p.add_argument("--area", help="only sites inside this admin code")
    p.set_defaults(func=_run)
