#!/usr/bin/env python3
"""A real Apache Kafka broker (KRaft) on loopback, without Docker: jars from Maven Central, started with java.

Why a script of our own: there is no Docker engine on the machines we develop and test on, yet every test,
CI run and `make run` must talk to a real broker, never a mock. Standard library only, so it runs before the
project's venv exists.

    python deploy/kafka/local_kafka.py fetch                  # jars into the cache (idempotent)
    python deploy/kafka/local_kafka.py up   --dir var/kafka   # one broker, 127.0.0.1:9092, detached
    python deploy/kafka/local_kafka.py down --dir var/kafka
    python deploy/kafka/local_kafka.py up --nodes 3 --port 19092 --dir var/kafka3   # RF 3, min ISR 2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
KAFKA_VERSION = "4.1.2"
CACHE = Path(os.environ.get("SIAGA_KAFKA_CACHE", Path.home() / ".cache" / "siaga" / f"kafka-{KAFKA_VERSION}"))
LIB = CACHE / "lib"


def fetch_jars(quiet: bool = False) -> Path:
    """Put the broker's jars in the cache with Maven (once); return the lib folder."""
    marker = LIB / ".complete"
    if marker.exists():
        return LIB
    if shutil.which("mvn") is None:
        raise SystemExit("mvn not found: install Maven (apt-get install maven) to fetch Kafka's jars")
    LIB.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"fetching Kafka {KAFKA_VERSION} jars from Maven Central into {LIB} ...", file=sys.stderr)
    cmd = ["mvn", "-q", "-B", "-f", str(HERE / "pom.xml"), "dependency:copy-dependencies",
           f"-DoutputDirectory={LIB}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"mvn failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    if not any(LIB.glob("kafka_2.13-*.jar")):
        raise SystemExit(f"mvn ran but no kafka_2.13 jar is in {LIB}")
    marker.write_text(KAFKA_VERSION)
    return LIB


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Node:
    node_id: int
    port: int
    controller_port: int
    root: Path

    @property
    def props(self) -> Path:
        return self.root / f"node{self.node_id}.properties"

    @property
    def log_file(self) -> Path:
        return self.root / f"node{self.node_id}.log"

    @property
    def pid_file(self) -> Path:
        return self.root / f"node{self.node_id}.pid"


class Cluster:
    """One or three combined broker+controller nodes on loopback, data under `root`."""

    def __init__(self, root: Path, port: int = 9092, nodes: int = 1, heap: str = "512m") -> None:
        self.root = Path(root).resolve()
        self.heap = heap
        ports = [port + i for i in range(nodes)] if port else [free_port() for _ in range(nodes)]
        cports = [free_port() for _ in range(nodes)]
        self.nodes = [Node(i + 1, p, c, self.root) for i, (p, c) in enumerate(zip(ports, cports, strict=True))]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def _java(self) -> list[str]:
        return ["java", f"-Xmx{self.heap}", f"-Xms{min(256, int(self.heap.rstrip('m')))}m",
                "-XX:+UseG1GC", "-Djava.awt.headless=true", "-cp", f"{fetch_jars()}/*",
                f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}"]

    def _write_props(self) -> None:
        rf = min(3, len(self.nodes))
        isr = 2 if rf == 3 else 1
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        for n in self.nodes:
            lines = {
                "process.roles": "broker,controller",
                "node.id": n.node_id,
                "controller.quorum.voters": voters,
                "listeners": f"PLAINTEXT://127.0.0.1:{n.port},CONTROLLER://127.0.0.1:{n.controller_port}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{n.port}",
                "controller.listener.names": "CONTROLLER",
                "inter.broker.listener.name": "PLAINTEXT",
                "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "log.dirs": str(self.root / f"data{n.node_id}"),
                "num.partitions": 3,
                "default.replication.factor": rf,
                "min.insync.replicas": isr,
                "offsets.topic.replication.factor": rf,
                "transaction.state.log.replication.factor": rf,
                "transaction.state.log.min.isr": isr,
                "share.coordinator.state.topic.replication.factor": rf,
                "share.coordinator.state.topic.min.isr": isr,
                "group.initial.rebalance.delay.ms": 0,
                "auto.create.topics.enable": "false",
                "log.cleaner.backoff.ms": 2000,
                "unclean.leader.election.enable": "false",
            }
            n.props.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))

    def start(self, timeout_s: float = 60.0) -> Cluster:
        self.root.mkdir(parents=True, exist_ok=True)
        if any(n.pid_file.exists() and _alive(int(n.pid_file.read_text())) for n in self.nodes):
            raise SystemExit(f"a broker from {self.root} is already running: run `down` first")
        for n in self.nodes:
            if port_open(n.port):
                raise SystemExit(f"port {n.port} is taken: another Kafka is running there")
        self._write_props()
        cluster_id = str(uuid.uuid4()).replace("-", "")[:22]
        for n in self.nodes:
            shutil.rmtree(self.root / f"data{n.node_id}", ignore_errors=True)
            subprocess.run([*self._java(), "kafka.tools.StorageTool", "format", "-t", cluster_id,
                            "-c", str(n.props)], check=True, capture_output=True)
        for n in self.nodes:
            self.start_node(n)
        self.wait(timeout_s)
        (self.root / "bootstrap").write_text(self.bootstrap)
        return self

    def start_node(self, n: Node) -> None:
        log = open(n.log_file, "ab")  # noqa: SIM115 - the broker owns it for its lifetime
        proc = subprocess.Popen([*self._java(), "kafka.Kafka", str(n.props)], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        n.pid_file.write_text(str(proc.pid))

    def wait(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        for n in self.nodes:
            while not port_open(n.port):
                pid = int(n.pid_file.read_text())
                if not _alive(pid):
                    tail = n.log_file.read_text(errors="replace")[-3000:]
                    raise SystemExit(f"Kafka node {n.node_id} exited during start-up:\n{tail}")
                if time.monotonic() > deadline:
                    raise SystemExit(f"Kafka node {n.node_id} did not open port {n.port} in {timeout_s}s")
                time.sleep(0.2)

    def kill_node(self, node_id: int, sig: int = signal.SIGKILL) -> None:
        n = self.nodes[node_id - 1]
        _signal(int(n.pid_file.read_text()), sig)

    def stop(self, timeout_s: float = 20.0) -> None:
        stop_dir(self.root, timeout_s)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def stop_dir(root: Path, timeout_s: float = 20.0) -> None:
    """Stop every broker whose pid file is under `root`: SIGTERM, then SIGKILL after `timeout_s`."""
    pids = [int(p.read_text()) for p in Path(root).glob("node*.pid") if p.read_text().strip()]
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
    for p in Path(root).glob("node*.pid"):
        p.unlink()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["fetch", "up", "down", "status"])
    ap.add_argument("--dir", default="var/kafka", help="where brokers keep data, logs and pid files")
    ap.add_argument("--port", type=int, default=9092, help="first broker port (0: pick free ports)")
    ap.add_argument("--nodes", type=int, choices=[1, 3], default=1)
    args = ap.parse_args(argv)
    if args.command == "fetch":
        print(fetch_jars())
    elif args.command == "up":
        cluster = Cluster(Path(args.dir), args.port, args.nodes).start()
        print(f"Kafka {KAFKA_VERSION} up: {cluster.bootstrap} (data and logs in {cluster.root})")
    elif args.command == "down":
        stop_dir(Path(args.dir))
        print("Kafka stopped")
    else:
        pids = [p for p in Path(args.dir).glob("node*.pid") if _alive(int(p.read_text()))]
        print(f"{len(pids)} broker(s) running under {args.dir}")
        return 0 if pids else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
