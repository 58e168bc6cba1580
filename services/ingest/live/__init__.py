"""Live social media clients: poll X, Telegram and Mastodon, produce what they find to `mentions.raw`.

Each platform client runs only when its credential is configured (services.common.config), so a deployment
without, say, an X token simply has no X client. They run as their own process (`siaga listen`, or
`python -m services.ingest.live`), not inside the ingest API: ingest scales out to several replicas, and
pollers must not, since every replica would spend the same token's rate limit on the same pages.

At least once, never ahead of Kafka: a page's mentions go through the same producing code as
`POST /v1/mentions` (pseudonymised, keyed by mention id), and only after the broker acknowledged them does the
client's cursor (since_id / update offset) move, in the compacted `mentions.cursors` topic from which a
restarted client resumes. A crash between the two re-sends a page; enrich is idempotent by mention id.
"""

from services.ingest.live.runner import LiveClients, build_sources, run

__all__ = ["LiveClients", "build_sources", "run"]
