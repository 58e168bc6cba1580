"""`siaga listen`: poll X, Telegram and Mastodon (those with credentials) into `mentions.raw`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys


def _run(args: argparse.Namespace) -> int:
    from services.common.config import settings
    from services.common.logs import setup_logging
    from services.ingest.live.runner import PLATFORMS, build_sources, run

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
    heartbeat = None
    if cfg.live_metrics_port:
        from services.ingest.live.web import Heartbeat, serve

        heartbeat = Heartbeat()
        serve(cfg.live_metrics_port, os.environ.get("SIAGA_HOST", "127.0.0.1"), heartbeat)
    asyncio.run(run(cfg, only, keep_running=args.keep_running, heartbeat=heartbeat))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "listen", help="poll X / Telegram / Mastodon (those with credentials) into mentions.raw",
        description="Runs until SIGINT/SIGTERM. Each platform runs only when its credential is set: "
                    "SIAGA_X_BEARER_TOKEN, SIAGA_TELEGRAM_BOT_TOKEN, SIAGA_MASTODON_BASE_URL. "
                    "Metrics and /healthz on SIAGA_LIVE_METRICS_PORT (default 6067, 0 = off), "
                    "address SIAGA_HOST (default 127.0.0.1).")
    p.add_argument("--only", help="comma-separated subset of x,telegram,mastodon")
    p.add_argument("--keep-running", action="store_true",
                   help="with no client configured, stay up (metrics, /healthz) until SIGTERM instead of "
                        "exiting; for supervisors that restart a process that exits (Kubernetes, compose)")
    p.add_argument("--check", action="store_true", help="print the clients that would run, and exit")
    p.set_defaults(func=_run)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m services.ingest.live`."""
    parser = argparse.ArgumentParser(prog="python -m services.ingest.live")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(["listen", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)
