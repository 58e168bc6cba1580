"""/v1/stream: Server-Sent Events from a real uvicorn server; changes applied from another thread, as the
Kafka follower does."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from tests._api_factory import SECRET_NAME, SECRET_REVIEWER, build_app, make_site, put
from tests.conftest import bearer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(auth_file) -> Iterator[tuple[str, object]]:  # noqa: ANN001
    app = build_app(auth_file)
    app.state.heartbeat_s = 0.3
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                        timeout_graceful_shutdown=1))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    t.join(timeout=10)


def events(resp: httpx.Response) -> Iterator[dict]:
    """Parse an SSE body into {"event", "data", "id"} dicts; comments as {"comment": ...}."""
    ev: dict = {}
    for line in resp.iter_lines():
        if line == "":
            if ev:
                yield ev
            ev = {}
        elif line.startswith(":"):
            yield {"comment": line[1:].strip()}
        else:
            field, _, value = line.partition(": ")
            ev[field] = json.loads(value) if field == "data" else value


def collect(url: str, headers: dict, until, timeout_s: float = 10.0, action=None, params=None) -> list[dict]:  # noqa: ANN001
    got: list[dict] = []
    with httpx.stream("GET", url + "/v1/stream", headers=headers, params=params, timeout=timeout_s) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        deadline = time.monotonic() + timeout_s
        for ev in events(r):
            got.append(ev)
            if ev.get("event") == "hello" and action is not None:
                threading.Thread(target=action, daemon=True).start()  # like the Kafka follower thread
            if until(got):
                return got
            assert time.monotonic() < deadline, got
    raise AssertionError(f"stream ended early: {got}")


def test_stream_delivers_a_change_without_personal_data(server) -> None:  # noqa: ANN001
    url, app = server
    site = make_site(201, "72.71.01.1007", figures={"affected": 4321}, status="needs_review")

    got = collect(url, bearer("manager"), lambda evs: any(e.get("event") == "site" for e in evs),
                  action=lambda: (time.sleep(0.2), put(app, site)))
    assert got[0] == {"retry": "3000"}
    assert got[1]["event"] == "hello" and "version" in got[1]["data"]
    ev = next(e for e in got if e.get("event") == "site")
    assert ev["data"]["site_id"] == site.site_id and ev["data"]["figures"]["affected"] == 4321
    assert 0 < int(ev["id"]) <= app.state.model.version
    raw = json.dumps(got)
    assert SECRET_NAME not in raw and SECRET_REVIEWER not in raw and "81234567890" not in raw


def test_stream_heartbeats(server) -> None:  # noqa: ANN001
    url, _ = server
    got = collect(url, bearer("coordinator"), lambda evs: any("comment" in e for e in evs), timeout_s=5)
    assert any(e.get("comment") == "ping" for e in got)


def test_comms_only_see_verified_changes(server) -> None:  # noqa: ANN001
    url, app = server
    hidden = make_site(202, "72.71.01.1007", status="unverified")
    shown = make_site(203, "72.71.01.1007", status="verified")
    unverify = make_site(203, "72.71.01.1007", status="needs_review")  # same id: no longer verified

    def act() -> None:
        time.sleep(0.2)
        put(app, hidden)
        put(app, shown)
        put(app, unverify)

    got = collect(url, bearer("comms"), lambda evs: any(e.get("event") == "removed" for e in evs), action=act)
    changes = [e for e in got if e.get("event") in ("site", "removed")]
    assert [(e["event"], e["data"]["site_id"]) for e in changes] == [("site", shown.site_id),
                                                                     ("removed", shown.site_id)]
    assert all(e["data"].get("status", "verified") == "verified" for e in changes if e["event"] == "site")


def test_stream_token_in_query_for_eventsource_and_401(server) -> None:  # noqa: ANN001
    url, _ = server
    assert httpx.get(url + "/v1/stream", timeout=5).status_code == 401
    assert httpx.get(url + "/v1/stream", params={"access_token": "vol-token"}, timeout=5).status_code == 403
    got = collect(url, {}, lambda evs: any(e.get("event") == "hello" for e in evs),
                  params={"access_token": "mgr-token"})
    assert got[-1]["event"] == "hello"


def test_stream_filters_and_resume_with_last_event_id(server) -> None:  # noqa: ANN001
    url, app = server
    version = app.state.model.version
    flood = make_site(204, "31.71.01.1001", hazard="flood", lat=-6.17, lon=106.82)
    quake = make_site(205, "72.71.01.1007")
    put(app, flood)
    put(app, quake)
    # Reconnect after the changes: both are replayed from the change log; the hazard filter keeps one.
    got = collect(url, {**bearer("manager"), "Last-Event-ID": str(version)},
                  lambda evs: any(e.get("event") == "site" for e in evs), params={"hazard": "flood"})
    sites = [e["data"]["site_id"] for e in got if e.get("event") == "site"]
    assert sites == [flood.site_id]
    got = collect(url, {**bearer("manager"), "Last-Event-ID": "-5"},
                  lambda evs: any(e.get("event") == "reset" for e in evs))
    assert got[-1]["event"] == "reset"
