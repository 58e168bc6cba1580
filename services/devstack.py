"""Start the three services as real processes against a broker: used by `make run`, the end-to-end tests
and the benchmarks, so all three exercise the same start-up path that production uses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Service:
    name: str
    module: str
    port: int
    health_path: str = "/healthz"
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    kafka: str
    workdir: Path
    auth_file: Path
    ingest_port: int = 8001
    api_port: int = 8000
    enrich_port: int = 6066
    extra_env: dict[str, str] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.services = {
            "ingest": Service("ingest", "services.ingest", self.ingest_port),
            "enrich": Service("enrich", "services.enrich", self.enrich_port),
            "api": Service("api", "services.api", self.api_port),
        }

    @property
    def state_dir(self) -> Path:
        """Where the services keep local state (enrich's RocksDB tables)."""
        return self.workdir / "state"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "SIAGA_KAFKA": self.kafka,
            "SIAGA_AUTH_FILE": str(self.auth_file),
            "SIAGA_INGEST_PORT": str(self.ingest_port),
            "SIAGA_API_PORT": str(self.api_port),
            "SIAGA_ENRICH_WEB_PORT": str(self.enrich_port),
            "SIAGA_STATE_DIR": str(self.state_dir),
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self, *names: str, timeout_s: float = 90.0) -> Stack:
        for name in names or tuple(self.services):
            self.start_one(name)
        for name in names or tuple(self.services):
            self.wait_healthy(name, timeout_s)
        return self

    def start_one(self, name: str) -> Service:
        svc = self.services[name]
        svc.log_path = self.workdir / f"{name}.log"
        log = open(svc.log_path, "ab")  # noqa: SIM115 - owned by the child process
        svc.proc = subprocess.Popen([sys.executable, "-m", svc.module], cwd=REPO, env=self.env(), stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return svc

    def wait_healthy(self, name: str, timeout_s: float = 90.0) -> None:
        svc = self.services[name]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if svc.proc is not None and svc.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {svc.proc.returncode}:\n{self.tail(name)}")
            try:
                if httpx.get(svc.url + svc.health_path, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{name} not healthy after {timeout_s}s:\n{self.tail(name)}")

    def tail(self, name: str, chars: int = 4000) -> str:
        path = self.services[name].log_path
        return path.read_text(errors="replace")[-chars:] if path and path.exists() else ""

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        svc = self.services[name]
        if svc.proc is not None and svc.proc.poll() is None:
            os.killpg(svc.proc.pid, sig)
            svc.proc.wait(timeout=30)

    def stop(self) -> None:
        for svc in self.services.values():
            if svc.proc is not None and svc.proc.poll() is None:
                os.killpg(svc.proc.pid, signal.SIGTERM)
        for name, svc in self.services.items():
            if svc.proc is not None:
                try:
                    svc.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.kill(name)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
