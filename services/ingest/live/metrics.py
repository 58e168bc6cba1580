"""Prometheus metrics of the live platform clients (documented in docs/metrics.md).

In their own module rather than services/common/metrics.py: only the `siaga listen` process declares them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

LIVE_POLLS = Counter("siaga_live_polls_total", "Requests to a platform API by outcome", ["platform", "outcome"])
LIVE_MENTIONS = Counter("siaga_live_mentions_total", "Mentions produced and acknowledged by Kafka", ["platform"])
LIVE_ERRORS = Counter("siaga_live_errors_total", "Live client failures by reason", ["platform", "reason"])
LIVE_BACKOFF = Gauge("siaga_live_backoff_seconds", "Current wait before the next request after a failure "
                     "(0 when healthy)", ["platform", "source"])
LIVE_ENABLED = Gauge("siaga_live_enabled", "1 when the platform's client runs (credentials configured)",
                     ["platform"])
