"""`make run`: a local Kafka, the three services, and a demo scenario fed through the ingest API.

Prints where to look and how to query, then keeps everything running until Ctrl-C, when it stops it all.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import httpx

from services.devstack import REPO, Stack

VAR = REPO / "var"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def dev_auth_file(path: Path) -> list[dict]:
    """Development tokens, one per role, created once and kept (so bookmarks and scripts keep working)."""
    if path.exists():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens = [{"token": f"{role}-{secrets.token_hex(6)}", "role": role, "name": f"dev-{role}"}
              for role in ("volunteer", "coordinator", "manager", "comms", "admin")]
    path.write_text(json.dumps(tokens, indent=2))
    path.chmod(0o600)
    return tokens


def start_kafka() -> tuple[str, object | None]:
    """Use a broker already on 9092 (e.g. `make kafka-up`), else start our own under var/kafka."""
    bootstrap = os.environ.get("SIAGA_KAFKA", "127.0.0.1:9092")
    if port_open(int(bootstrap.rsplit(":", 1)[1])):
        print(f"using the Kafka broker already running at {bootstrap}")
        return bootstrap, None
    sys.path.insert(0, str(REPO / "deploy" / "kafka"))
    import local_kafka

    print("starting a local Kafka broker (KRaft) ...")
    cluster = local_kafka.Cluster(VAR / "kafka", port=int(bootstrap.rsplit(":", 1)[1])).start()
    return cluster.bootstrap, cluster


def main() -> int:
    from services.common.topics import ensure_topics
    from services.core.scenario import generate
    from services.replay import replay

    bootstrap, cluster = start_kafka()
    ensure_topics(bootstrap)
    tokens = {t["role"]: t["token"] for t in dev_auth_file(VAR / "dev-auth.json")}
    stack = Stack(kafka=bootstrap, workdir=VAR / "run", auth_file=VAR / "dev-auth.json")
    if cluster is not None:
        # Our broker starts empty every time: enrich's RocksDB from an earlier run would claim changelog offsets
        # the new broker does not have, and faust refuses to recover (ConsistencyError). Kafka is the truth.
        shutil.rmtree(stack.state_dir, ignore_errors=True)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print("starting ingest, enrich and api ...")
        stack.start()
        scenario = generate(seed=int(os.environ.get("SIAGA_DEMO_SEED", "2018")), sites=120, preset="palu")
        demo_dir = VAR / "demo"
        demo_dir.mkdir(parents=True, exist_ok=True)
        reports = demo_dir / "palu-2018-reports.jsonl"
        reports.write_text("\n".join(scenario.lines) + "\n")
        (demo_dir / "palu-2018-truth.json").write_text(json.dumps(scenario.truth, indent=2, default=str))
        print(f"feeding {len(scenario.lines)} scenario lines (2018 Palu earthquake, real villages) through ingest ...")
        result = replay(reports, stack.services["ingest"].url, tokens["volunteer"], batch=50)
        print(f"  accepted {result.accepted}, refused as invalid {result.invalid + result.unreadable}")
        api = stack.services["api"].url
        headers = {"Authorization": f"Bearer {tokens['manager']}"}
        mentions = demo_mentions(scenario, demo_dir)
        if mentions is not None:
            sent = replay(mentions, stack.services["ingest"].url, tokens["coordinator"], batch=200)
            print(f"  social media posts replayed: {sent.accepted}")
        answer = wait_for_situation(api, headers, expected_sites=len(scenario.truth["sites"]))
        print_banner(stack, tokens, answer)
        while not stopping:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping services ...")
        stack.stop()
        if cluster is not None:
            print("stopping Kafka ...")
            cluster.stop()
    return 0


def demo_mentions(scenario, demo_dir: Path) -> Path | None:  # noqa: ANN001 - services.core.scenario.Scenario
    """Posts as people wrote them about the scenario's villages (Bahasa Indonesia), as JSON lines of
    SocialMention: they corroborate the sites and never change a figure."""
    from datetime import timedelta

    from services.core.gazetteer import get_gazetteer
    from services.core.scenario import PRESETS

    places = get_gazetteer().places
    start = PRESETS["palu"].start
    words = {"earthquake": "Gempa kuat", "landslide": "Longsor", "tsunami": "Tsunami"}
    lines = []
    for i, site in enumerate(scenario.truth["sites"][:40]):
        village = places.get(site["village"])
        regency = places.get(".".join(site["village"].split(".")[:2]))
        if village is None or regency is None:
            continue
        text = (f"{words.get(site['hazard'], 'Bencana')} di Kelurahan {village.name}, {regency.name}, banyak rumah "
                f"rusak, warga mengungsi dan butuh tenda serta air bersih")
        when = start + timedelta(hours=2 + i % 12)
        lines.append(json.dumps({"id": f"x:demo{i}", "platform": "x", "text": text,
                                 "created_at": when.isoformat()}))
    if not lines:
        return None
    path = demo_dir / "palu-2018-posts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_for_situation(api: str, headers: dict, expected_sites: int | None, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    answer: dict = {}
    while time.monotonic() < deadline:
        answer = httpx.get(f"{api}/v1/situation", params={"level": 2}, headers=headers, timeout=5).json()
        got = sum(a["sites"] for a in answer.get("areas", []))
        if expected_sites is None or got >= expected_sites:
            break
        time.sleep(1.0)
    return answer


def print_banner(stack: Stack, tokens: dict[str, str], answer: dict) -> None:
    ingest, api = stack.services["ingest"].url, stack.services["api"].url
    enrich = stack.services["enrich"].url
    rows = "\n".join(f"    {a['code']:<8} {a.get('name') or '':<24} sites {a['sites']:>4}  reports {a['reports']:>4}  "
                     f"affected {a['figures'].get('affected') or 0:>7}  dead {a['figures'].get('dead') or 0:>5}"
                     for a in answer.get("areas", []))
    print(f"""
Siaga is running. Situation as of {answer.get('as_of')} (level 2, regency/city):
{rows}

  situation API   {api}/docs        (OpenAPI; /v1/situation, /readyz, /metrics)
  ingest API      {ingest}/docs     (POST /v1/reports, /v1/reports/batch, /v1/mentions)
  enrich worker   {enrich}/healthz   {enrich}/metrics
  logs            {stack.workdir}/*.log
  dev tokens      {REPO / 'var' / 'dev-auth.json'}

Try:
  curl -s -H 'Authorization: Bearer {tokens['manager']}' '{api}/v1/situation?level=3&hazard=earthquake'
  curl -s -X POST -H 'Authorization: Bearer {tokens['volunteer']}' -H 'Content-Type: application/json' \\
       {ingest}/v1/reports -d '{{"report_id": "demo-1", "submitted_at": "2018-09-29T14:05:00+08:00",
       "reporter": {{"id": "vol-1"}}, "location": {{"lat": -0.9405, "lon": 119.8946}}, "hazard": "gempa",
       "figures": {{"affected": 40, "displaced": 12}}}}'

Ctrl-C stops everything.""", flush=True)


if __name__ == "__main__":
    sys.exit(main())
