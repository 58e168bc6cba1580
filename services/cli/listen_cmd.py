"""`siaga listen`: poll X, Telegram and Mastodon (those with credentials) into `mentions.raw`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

PLATFORMS = ("x", "telegram", "mastodon")


def _run(args: argparse.Namespace) -> int:
    from services.common.config import settings
    from services.common.logs import setup_logging
    from services.ingest.live.runner import build_sources, run

    setup_logging("live")
    cfg = settings()
    only = set(args.only.split(",")) if args.only else None
    if only and only - set(PLATFORMS):
        print(f"siaga listen: unknown platform(s) {sorted(only - set(PLATFORMS))}", file=sys.stderr)
        return 2
    if args.check:
        for s in build_sources(cfg, only):
            print(f"{s.platform}\t{s.key}\tevery {s.interval_s:g}s")
        return 0
    if cfg.live_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(cfg.live_metrics_port, addr=os.environ.get("SIAGA_HOST", "127.0.0.1"))
    asyncio.run(run(cfg, only))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "listen", help="poll X / Telegram / Mastodon (those with credentials) into mentions.raw",
        description="Runs until SIGINT/SIGTERM. Each platform runs only when its credential is set: "
                    "SIAGA_X_BEARER_TOKEN, SIAGA_TELEGRAM_BOT_TOKEN, SIAGA_MASTODON_BASE_URL. "
                    "Metrics on SIAGA_LIVE_METRICS_PORT (default 6067, 0 = off).")
    p.add_argument("--only", help="comma-separated subset of x,telegram,mastodon")
    p.add_argument("--check", action="store_true", help="print the clients that would run, and exit")
    p.set_defaults(func=_run)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m services.ingest.live`."""
    parser = argparse.ArgumentParser(prog="python -m services.ingest.live")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(["listen", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)
