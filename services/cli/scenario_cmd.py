"""`siaga scenario`: write a realistic field-report stream with known ground truth, for tests and demos."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from services.core.scenario import PRESETS, generate, geotagger_checks


def _run(args: argparse.Namespace) -> int:
    checks = None
    if not args.no_geotag_check:
        try:
            from services.core.geotag import get_geotagger
        except ImportError:
            print("geotagger unavailable: truth assumes every report lands in its village", file=sys.stderr)
        else:
            checks = geotagger_checks(get_geotagger())
    sc = generate(seed=args.seed, sites=args.sites, preset=args.preset, hazards=args.hazard or None,
                  checks=checks)
    text = "\n".join(sc.lines) + "\n"
    if args.out and args.out != "-":
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    if args.truth:
        body = json.dumps(sc.truth, indent=1, ensure_ascii=False) + "\n"
        Path(args.truth).write_text(body, encoding="utf-8")
    t = sc.truth
    print(f"scenario {args.preset} seed={args.seed}: {t['lines']} lines ({t['invalid_lines']} invalid, "
          f"{t['resubmits']} resubmits, {t['edits']} edits, {t['place_name_only']} place-name only), "
          f"{t['sites_expected']} sites", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("scenario", help="generate field reports with known ground truth")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sites", type=int, default=200, help="number of true sites")
    p.add_argument("--preset", choices=sorted(PRESETS), default="palu",
                   help="palu: 2018 earthquake villages; jakarta: 2020 floods; national: anywhere, mixed")
    p.add_argument("--hazard", action="append", help="only this hazard (repeatable)")
    p.add_argument("--out", help="reports JSON lines (default: stdout)")
    p.add_argument("--truth", help="write the expected sites and per-area totals here")
    p.add_argument("--no-geotag-check", action="store_true",
                   help="do not check points and place names against the geotagger (faster, no polygons)")
    p.set_defaults(func=_run)
