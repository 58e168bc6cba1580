"""`siaga replay FILE`: send reports or mentions (JSON lines or CSV) through the ingest API."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from services.replay import replay


def _run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("SIAGA_TOKEN")
    if not token:
        print("siaga replay: give --token or set SIAGA_TOKEN (a volunteer or coordinator token)", file=sys.stderr)
        return 2
    result = replay(Path(args.file), args.url, token, rate=args.rate, batch=args.batch, kind=args.kind,
                    progress=not args.quiet)
    print(f"sent {result.sent}, accepted {result.accepted}, invalid {result.invalid}, "
          f"unreadable lines {result.unreadable}, retries {result.retries}", file=sys.stderr)
    for err in result.errors[:20]:
        print(f"  {err}", file=sys.stderr)
    return 0 if result.accepted + result.invalid == result.sent else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("replay", help="send a JSON-lines or CSV file of reports or mentions to ingest")
    p.add_argument("file")
    p.add_argument("--url", default=os.environ.get("SIAGA_INGEST_URL", "http://127.0.0.1:8001"))
    p.add_argument("--token", help="bearer token (or SIAGA_TOKEN)")
    p.add_argument("--rate", type=float, help="items per second at most")
    p.add_argument("--batch", type=int, default=100, help="items per request")
    p.add_argument("--kind", choices=["reports", "mentions"], help="default: detected from the first item")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
