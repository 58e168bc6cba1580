"""Fault tests: kill -9 each service under steady load; every report that got a 202 is counted exactly once.

Runs on its own broker (not the session's), so the totals are those of this scenario alone. Ground truth is
the offline twin (`siaga consolidate`'s core) over exactly the reports that were accepted: the stream must
agree with it to the person, after crashes, restarts, redeliveries and the API rebuilding its read model.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from services.cli.consolidate_cmd import consolidate_file
from services.core.aggregate import situation
from services.core.scenario import generate
from services.devstack import Stack
from tests.conftest import bearer
from tests.test_enrich_state import offset_gaps

pytestmark = [pytest.mark.kafka, pytest.mark.reliability]


class Feeder(threading.Thread):
    """Posts the scenario in small batches, retrying until each valid report got its 202 (like a phone)."""

    def __init__(self, url: str, lines: list[str], batch: int = 10, pause_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.url, self.lines, self.batch, self.pause_s = url, lines, batch, pause_s
        self.accepted: list[str] = []
        self.sent_batches = 0
        self.failures = 0

    def run(self) -> None:
        items = []
        for line in self.lines:
            try:
                items.append((line, json.loads(line)))
            except json.JSONDecodeError:
                continue
        with httpx.Client(timeout=10.0, headers=bearer("volunteer")) as client:
            for start in range(0, len(items), self.batch):
                pending = items[start:start + self.batch]
                while pending:
                    try:
                        r = client.post(f"{self.url}/v1/reports/batch", json=[body for _, body in pending])
                        results = r.json()["results"] if r.status_code in (200, 503) else None
                    except (httpx.HTTPError, ValueError, KeyError):
                        results = None
                    if results is None:
                        self.failures += 1
                        time.sleep(0.3)
                        continue
                    retry = []
                    for (line, body), res in zip(pending, results, strict=True):
                        if res["status"] == "accepted":
                            self.accepted.append(line)
                        elif res["status"] == "retry":
                            retry.append((line, body))
                    pending = retry
                self.sent_batches += 1
                time.sleep(self.pause_s)


def situation_by_code(api: str, level: int) -> dict[str, dict]:
    r = httpx.get(f"{api}/v1/situation", params={"level": level}, headers=bearer("manager"), timeout=30)
    r.raise_for_status()
    return {a["code"]: a for a in r.json()["areas"]}


def comparable(areas: dict[str, dict]) -> dict[str, tuple]:
    return {code: (a["sites"], a["reports"], tuple(sorted((k, v) for k, v in a["figures"].items() if v is not None)))
            for code, a in areas.items()}


def test_kill_minus_9_each_service_under_load_loses_and_doubles_nothing(own_kafka, auth_file, tmp_path: Path):  # noqa: ANN001
    from local_kafka import free_port

    scenario = generate(seed=7, sites=40, preset="palu")
    stack = Stack(kafka=own_kafka.bootstrap, workdir=tmp_path / "stack", auth_file=auth_file,
                  ingest_port=free_port(), api_port=free_port(), enrich_port=free_port())
    with stack:
        stack.start(timeout_s=120)
        feeder = Feeder(stack.services["ingest"].url, scenario.lines)
        feeder.start()
        total_batches = (len(scenario.lines) + feeder.batch - 1) // feeder.batch
        for fraction, name in ((0.2, "ingest"), (0.45, "enrich"), (0.7, "api")):
            while feeder.sent_batches < total_batches * fraction and feeder.is_alive():
                time.sleep(0.05)
            stack.kill(name)  # SIGKILL: no clean shutdown, no flush, no commit
            stack.start(name, timeout_s=120)
        feeder.join(timeout=300)
        assert not feeder.is_alive(), "the feeder did not finish"

        accepted = tmp_path / "accepted.jsonl"
        accepted.write_text("\n".join(feeder.accepted) + "\n")
        errors: list[str] = []
        offline = consolidate_file(str(accepted), errors)
        assert not errors
        api = stack.services["api"].url
        for level in (2, 4):
            expected = comparable({a.code: a.model_dump(mode="json")
                                   for a in situation(offline.sites(), level).areas})
            deadline = time.monotonic() + 120
            got = None
            while time.monotonic() < deadline:
                got = comparable(situation_by_code(api, level))
                if got == expected:
                    break
                time.sleep(1.0)
            assert got == expected, f"level {level}: stream totals differ from the offline truth"
        # Every accepted report is in the totals exactly once: the report counts match, site by site.
        expected_reports = sum(1 for _ in {json.loads(line)["report_id"] for line in feeder.accepted})
        assert sum(a[1] for a in comparable(situation_by_code(api, 2)).values()) == expected_reports
        # The restarted worker recovered its tables while input kept coming: no input offset was skipped.
        assert not offset_gaps(stack)
