"""Social-media mention core: parse platform payloads, normalise, detect hazard and language, judge
relevance, geoparse place names, and enrich. Pure Python (no Kafka, no HTTP) so the worker, the CLI and the
benchmarks share one implementation.

Posts are early warning and corroboration for field reports, never figures: nothing here counts people.
"""
