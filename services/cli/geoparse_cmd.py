"""`siaga geoparse IN.csv [-o OUT.csv]`: hazard, relevance, language and place for a CSV of posts.

Reads `id,text` (any other columns pass through unchanged) and appends hazard, relevant (0/1),
relevance_score, language, adm1..adm4 and geoparse_confidence. Offline: no Kafka, no network. Progress on
stderr so that stdout can be the output file.
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import UTC, datetime
from pathlib import Path

OUT_COLUMNS = ("hazard", "relevant", "relevance_score", "language", "adm1", "adm2", "adm3", "adm4",
               "geoparse_confidence")
CHUNK = 2000


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from schemas.mention import SocialMention
    from services.core.mentions.enrich import enrich_mentions

    csv.field_size_limit(1 << 24)
    src = Path(args.input)
    with src.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        if "text" not in fields:
            print(f"{src}: needs a 'text' column (found: {', '.join(fields) or 'none'})", file=sys.stderr)
            return 2
        rows = list(reader)
    out_fields = fields + [c for c in OUT_COLUMNS if c not in fields]
    out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    now = datetime.now(UTC)
    try:
        writer = csv.DictWriter(out, fieldnames=out_fields, extrasaction="ignore")
        writer.writeheader()
        with tqdm(total=len(rows), unit="post", file=sys.stderr, disable=args.quiet) as bar:
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start:start + CHUNK]
                mentions = [SocialMention(id=(r.get("id") or f"row:{start + k + 1}")[:200], platform="other",
                                          text=(r.get("text") or "")[:10_000], created_at=now)
                            for k, r in enumerate(chunk)]
                for row, e in zip(chunk, enrich_mentions(mentions), strict=True):
                    row.update(hazard=e.hazard.value if e.hazard else "", relevant=int(e.relevant),
                               relevance_score=f"{e.relevance_score:.3f}", language=e.language or "",
                               adm1=e.geo.adm1 or "", adm2=e.geo.adm2 or "", adm3=e.geo.adm3 or "",
                               adm4=e.geo.adm4 or "", geoparse_confidence=f"{e.geoparse_confidence:.3f}")
                    writer.writerow(row)
                bar.update(len(chunk))
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("geoparse", help="hazard, relevance and place names for a CSV of posts")
    p.add_argument("input", help="CSV with a 'text' column (and usually 'id'); other columns pass through")
    p.add_argument("-o", "--output", help="output CSV (default: stdout)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
