"""The deployment files under deploy/ (which cannot run here: no container engine, no cluster) checked offline.

What validates what:
- every YAML/JSON file under deploy/: parses (PyYAML, json);
- Kubernetes built-in kinds (k8s/*.yaml and the `kubectl kustomize` rendering): kubernetes-validate's bundled
  JSON schemas, strict (unknown fields fail), for the oldest and newest Kubernetes version we target;
- Strimzi kinds (Kafka, KafkaNodePool, KafkaTopic): their CRD schemas are not in kubernetes-validate and are
  not vendored here, so they are checked structurally below (allowed keys, KRaft node pools, replication)
  and against services/common/topics.py;
- compose.yaml: the Compose Specification JSON schema that check-jsonschema ships, then the cluster's
  shape (3 KRaft brokers, distinct node ids, quorum voters, RF 3 / min ISR 2); `docker compose config`
  as well where the compose plugin is installed;
- Prometheus: rules and configs structurally, every PromQL expression parsed (promql-parser) and its
  metrics and labels checked against docs/metrics.md; `promtool check` and the alert unit tests
  (prometheus/alerts_test.yml) where promtool is installed (SIAGA_REQUIRE_PROMTOOL=1 makes it mandatory);
- Grafana: the dashboard parses, every panel has targets whose PromQL parses and uses documented metrics;
- the live social media clients (`siaga listen`): one instance everywhere (k8s replicas 1 + Recreate, no HPA or
  PDB; one compose service), credentials only from optional Secret keys / an optional env file, /healthz probes,
  scraped as siaga-live, alerted on and on the dashboard;
- docs/metrics.md against the metric declarations in services/common/metrics.py.
"""

from __future__ import annotations

import argparse
import ast
import base64
import importlib.resources
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import promql_parser
import pytest
import yaml

from services.common import topics as topics_mod

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
PROM = DEPLOY / "prometheus"
COMPOSE = DEPLOY / "compose.yaml"
DASHBOARD = DEPLOY / "grafana" / "siaga-dashboard.json"
METRICS_DOC = ROOT / "docs" / "metrics.md"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"

# Oldest and newest Kubernetes minor versions the manifests must be valid for.
K8S_VERSIONS = ("1.30", "1.37")
# Custom resources: kubernetes-validate has no schema for them (CRDs), see test_strimzi_* instead.
STRIMZI_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic"}
STRIMZI_API = "kafka.strimzi.io/v1"
MIN_INSYNC = 2
REPLICATION = 3
SERVICES = {"ingest": 8001, "enrich": 6066, "api": 8000}
# The live social media clients: their own Deployment / compose service, run as exactly one instance.
LIVE = "live"
LIVE_PORT = 6067
LIVE_MODULE = "services.ingest.live"
LIVE_CREDENTIALS = {"SIAGA_X_BEARER_TOKEN", "SIAGA_TELEGRAM_BOT_TOKEN", "SIAGA_MASTODON_BASE_URL",
                    "SIAGA_MASTODON_TOKEN"}


# ---------------------------------------------------------------------------------------------- helpers


def _yaml_docs(path: Path) -> list:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def _k8s_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _k8s_docs() -> list[dict]:
    return [d for p in _k8s_files() for d in _yaml_docs(p)]


def _kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def _by_name(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _resolve_default(value: str) -> str:
    """`${VAR:-default}` -> default (what compose uses when VAR is unset)."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def _documented_metrics() -> dict[str, dict]:
    """docs/metrics.md's table: name -> {type, labels}."""
    rows = {}
    for line in METRICS_DOC.read_text().splitlines():
        m = re.match(r"^\| `(siaga_[a-z_]+)` \| (counter|gauge|histogram) \| ([^|]*) \|", line)
        if m:
            labels = set(re.findall(r"`([a-z_]+)`", m.group(3)))
            rows[m.group(1)] = {"type": m.group(2), "labels": labels}
    assert rows, "no metric rows found in docs/metrics.md"
    return rows


def _series_names() -> dict[str, set[str]]:
    """Every series name a query may use -> the labels it may carry (documented + Prometheus' own)."""
    out: dict[str, set[str]] = {"up": {"job", "instance"}}
    for name, row in _documented_metrics().items():
        labels = row["labels"] | {"job", "instance"}
        if row["type"] == "histogram":
            out[f"{name}_bucket"] = labels | {"le"}
            out[f"{name}_sum"] = labels
            out[f"{name}_count"] = labels
        else:
            out[name] = labels
    return out


def _walk_promql(expr: str) -> tuple[list[tuple[str, set[str]]], set[str]]:
    """Parse PromQL (raises on a syntax error); return the selectors (name, matcher labels) and grouping labels."""
    tree = promql_parser.parse(expr)
    selectors: list[tuple[str, set[str]]] = []
    grouping: set[str] = set()

    def visit(node) -> bool:  # noqa: ANN001
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"selector without a metric name in {expr!r}"
            selectors.append((node.name, {m.name for m in node.matchers.matchers}))
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            grouping.update(node.modifier.labels)
        return True

    promql_parser.walk(tree, visit)
    return selectors, grouping


def _check_promql(expr: str, where: str) -> set[str]:
    """PromQL parses and uses only documented series and labels; return the series names it uses."""
    try:
        selectors, grouping = _walk_promql(expr)
    except ValueError as err:
        pytest.fail(f"{where}: PromQL does not parse: {err}\n{expr}")
    known = _series_names()
    used = set()
    all_labels: set[str] = set()
    for name, labels in selectors:
        assert name in known, f"{where}: {name} is not a documented metric (docs/metrics.md)"
        unknown = labels - known[name]
        assert not unknown, f"{where}: {name} has no label(s) {sorted(unknown)}"
        used.add(name)
        all_labels |= known[name]
    stray = grouping - all_labels - {"le"}
    assert not stray, f"{where}: grouping by label(s) {sorted(stray)} that none of {sorted(used)} carries"
    return used


def _github_anchors(markdown: str) -> set[str]:
    anchors = set()
    for line in markdown.splitlines():
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            text = m.group(1).strip().lower()
            text = re.sub(r"[^\w\- ]", "", text)
            anchors.add(text.replace(" ", "-"))
    return anchors


def _module_file(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


def _top_level_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _check_entrypoint(command: list[str], service: str, where: str) -> None:
    """The command starts the right service and what it names exists in the code."""
    if command[0] == "uvicorn":
        target = next(a for a in command[1:] if ":" in a and not a.startswith("-"))
        module, attr = target.split(":")
        assert module == f"services.{service}.app", f"{where}: {service} runs {module}"
        path = _module_file(module)
        assert path.exists(), f"{where}: {path} does not exist"
        names = _top_level_names(path)
        assert attr in names, f"{where}: {module} has no top-level {attr!r}"
        if "--factory" not in command:
            tree = ast.parse(path.read_text())
            funcs = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            assert attr not in funcs, f"{where}: {module}:{attr} is a function: uvicorn needs --factory"
        assert "--host" in command and command[command.index("--host") + 1] == "0.0.0.0", (
            f"{where}: uvicorn must listen on 0.0.0.0 in a container")
        port = int(command[command.index("--port") + 1])
        assert port == SERVICES[service], f"{where}: {service} on port {port}"
    else:
        assert command[:3] == ["python", "-m", f"services.{service}"], f"{where}: unexpected command {command}"
        assert (ROOT / "services" / service / "__main__.py").exists(), f"{where}: services.{service} has no __main__"


def _check_live_command(command: list[str], where: str) -> None:
    """`python -m services.ingest.live` with options `siaga listen` accepts, and --keep-running: a process that
    exits when no credential is configured would be restarted in a loop (CrashLoopBackOff)."""
    from services.cli import listen_cmd

    assert command[:3] == ["python", "-m", LIVE_MODULE], f"{where}: unexpected command {command}"
    assert _module_file(LIVE_MODULE + ".__main__").exists(), f"{where}: {LIVE_MODULE} has no __main__"
    parser = argparse.ArgumentParser()
    listen_cmd.register(parser.add_subparsers(dest="command"))
    try:
        args = parser.parse_args(["listen", *command[3:]])
    except SystemExit:
        pytest.fail(f"{where}: `siaga listen` does not accept {command[3:]}")
    assert args.keep_running, f"{where}: without --keep-running it exits (and restarts) when nothing is configured"
    assert not args.check and not args.only, f"{where}: {command[3:]}"


def _env_names_read_by_the_live_clients() -> set[str]:
    """Every SIAGA_* variable the live process reads: its settings, its log level, and SIAGA_HOST for the
    metrics address."""
    text = "".join((ROOT / f).read_text() for f in ("services/common/config.py", "services/common/logs.py",
                                                      "services/cli/listen_cmd.py"))
    return set(re.findall(r'"(SIAGA_[A-Z0-9_]+)"', text))


# ------------------------------------------------------------------------------------------- (a) parsing


def test_every_deploy_file_parses():
    files = sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml", ".json"} and p.is_file())
    names = {p.relative_to(DEPLOY).as_posix() for p in files}
    for required in ("compose.yaml", "k8s/kustomization.yaml", "prometheus/prometheus.yml",
                     "prometheus/alerts.yml", "grafana/siaga-dashboard.json"):
        assert required in names, f"deploy/{required} is missing"
    for path in files:
        if path.suffix == ".json":
            assert json.loads(path.read_text()), path
        else:
            docs = _yaml_docs(path)
            assert docs, f"{path} has no YAML document"
            assert all(isinstance(d, dict) for d in docs), f"{path}: every document must be a mapping"


def test_dockerfile():
    text = (DEPLOY / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert froms == ["python:3.11-slim"], froms
    assert re.search(r"^RUN pip install\b.*\s/src\b", text, re.M), "the image must `pip install` the project"
    for src in re.findall(r"^COPY\s+(?!--)(.+)\s+\S+$", text, re.M):
        for item in src.split():
            assert (ROOT / item.rstrip("/")).exists(), f"Dockerfile copies {item}, which is not in the repository"
    assert re.search(r"^USER\s+\d+", text, re.M), "the image must not run as root"
    ignore = [line.strip() for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
              if line.strip() and not line.lstrip().startswith("#")]
    assert ignore[0] == "*" and "!services/" in ignore and "!pyproject.toml" in ignore


# ----------------------------------------------------------------------------------- (b) Kubernetes


def _validate_k8s(docs: list[dict], where: str) -> set[str]:
    validated = set()
    for doc in docs:
        if doc["kind"] in STRIMZI_KINDS:
            assert doc["apiVersion"] == STRIMZI_API, f"{where}: {doc['kind']} must use {STRIMZI_API}"
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                path = "/".join(str(p) for p in err.path)
                pytest.fail(f"{where}: {doc['kind']}/{doc['metadata']['name']} invalid for Kubernetes {version} "
                            f"at {path}: {err.message}")
            except kubernetes_validate.SchemaNotFoundError as err:
                pytest.fail(f"{where}: {err.message}")
        validated.add(doc["kind"])
    return validated


def test_k8s_manifests_match_kubernetes_schemas():
    kinds = _validate_k8s(_k8s_docs(), "deploy/k8s")
    expected = {"Namespace", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    assert expected <= kinds, f"not validated: {sorted(expected - kinds)}"


def test_kustomization_lists_every_manifest():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kust["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and kust["kind"] == "Kustomization"
    listed = kust["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    assert set(listed) == {p.name for p in _k8s_files()}, "kustomization.yaml and deploy/k8s/*.yaml disagree"
    assert kust["namespace"] == "siaga"
    assert any(i["name"] == "siaga" for i in kust.get("images", [])), "no image override for `siaga`"


def _render_kustomization() -> list[dict]:
    """`kubectl kustomize` where kubectl exists (it is part of the dev machine image); otherwise the same
    assembly in Python (namespace and image override only), so the checks below always run."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"kubectl kustomize failed:\n{out.stderr}"
        return [d for d in yaml.safe_load_all(out.stdout) if d]
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    image = next(i for i in kust["images"] if i["name"] == "siaga")
    docs = []
    for name in kust["resources"]:
        for doc in _yaml_docs(K8S / name):
            if doc["kind"] != "Namespace":
                doc["metadata"]["namespace"] = kust["namespace"]
            for c in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                if c["image"] == "siaga":
                    c["image"] = f"{image['newName']}:{image['newTag']}"
            docs.append(doc)
    return docs


def test_kustomize_rendering_is_valid():
    docs = _render_kustomization()
    assert len(docs) == len(_k8s_docs())
    _validate_k8s(docs, "kustomize output")
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "siaga", f"{doc['kind']}/{doc['metadata']['name']}"
    for dep in _kind(docs, "Deployment"):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            assert ":" in c["image"] and not c["image"].endswith(":latest"), f"unpinned image {c['image']}"


def test_deployments_probes_resources_config_and_secret():
    docs = _k8s_docs()
    config = _by_name(docs, "ConfigMap", "siaga-config")["data"]
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in _kind(docs, "Deployment")}
    assert set(deployments) == set(SERVICES) | {LIVE}, "one Deployment per service (live: test_live_deployment_*)"
    for service in SERVICES:
        dep = deployments[service]
        where = f"Deployment {dep['metadata']['name']}"
        spec = dep["spec"]
        pod_labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= pod_labels.items(), f"{where}: selector misses its pods"
        # prometheus-k8s.yml keeps pods by these labels and names the job after the component
        assert pod_labels.get("app.kubernetes.io/part-of") == "siaga"
        assert pod_labels.get("app.kubernetes.io/component") == service
        (container,) = spec["template"]["spec"]["containers"]
        _check_entrypoint(container["command"], service, where)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"http": SERVICES[service]}, f"{where}: ports {ports}"
        live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
        assert live["path"] == "/healthz" and live["port"] in ("http", SERVICES[service])
        assert ready["path"] == ("/readyz" if service == "api" else "/healthz"), f"{where}: readiness {ready}"
        res = container["resources"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(res[bound]), f"{where}: {bound} needs cpu and memory"
        assert [e["configMapRef"]["name"] for e in container["envFrom"]] == ["siaga-config"]
        # the auth file named in the ConfigMap is inside the mounted siaga-auth Secret
        volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
        secret_vols = [n for n, v in volumes.items() if v.get("secret", {}).get("secretName") == "siaga-auth"]
        assert len(secret_vols) == 1, f"{where}: mount the siaga-auth Secret"
        mount = next(m for m in container["volumeMounts"] if m["name"] == secret_vols[0])
        assert mount.get("readOnly") is True
        items = {i["path"] for i in volumes[secret_vols[0]]["secret"].get("items", [])}
        auth_path = config["SIAGA_AUTH_FILE"]
        assert auth_path == f"{mount['mountPath']}/{next(iter(items))}", f"{where}: SIAGA_AUTH_FILE not mounted"
        if container["securityContext"].get("readOnlyRootFilesystem"):
            writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
            assert "/tmp" in writable, f"{where}: read-only root filesystem needs a writable /tmp"
            if service == "enrich":
                assert config["SIAGA_STATE_DIR"] in writable, f"{where}: state dir must be writable"
    assert deployments["enrich"]["spec"].get("replicas") is None, "enrich's replica count belongs to its HPA"
    assert config["SIAGA_TOPIC_REPLICATION"] == str(REPLICATION) and config["SIAGA_MIN_INSYNC"] == str(MIN_INSYNC)
    assert config["SIAGA_ENRICH_WEB_HOST"] == "0.0.0.0", "probes reach enrich on the pod IP"
    assert config["SIAGA_ENRICH_WEB_PORT"] == str(SERVICES["enrich"])
    # the services' bootstrap address is the Strimzi bootstrap service of the plain listener
    kafka = _kind(docs, "Kafka")[0]
    plain = next(lst for lst in kafka["spec"]["kafka"]["listeners"] if not lst["tls"] and lst["type"] == "internal")
    assert config["SIAGA_KAFKA"] == f"{kafka['metadata']['name']}-kafka-bootstrap:{plain['port']}"


def test_services_select_their_deployments():
    docs = _k8s_docs()
    deployments = _kind(docs, "Deployment")
    for svc in _kind(docs, "Service"):
        selector = svc["spec"]["selector"]
        matched = [d for d in deployments if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(matched) == 1, f"Service {svc['metadata']['name']} selects {len(matched)} Deployments"
        names = {p["name"] for p in matched[0]["spec"]["template"]["spec"]["containers"][0]["ports"]}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in names, f"Service {svc['metadata']['name']}: no port {port['targetPort']}"
    for pdb in _kind(docs, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert any(selector.items() <= d["spec"]["template"]["metadata"]["labels"].items() for d in deployments)


def test_enrich_hpa_is_cpu_based_and_capped_by_partitions():
    docs = _k8s_docs()
    (hpa,) = _kind(docs, "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "siaga-enrich")
    _by_name(docs, "Deployment", "siaga-enrich")
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"] == ["cpu"]
    consumed = (topics_mod.REPORTS_RAW, topics_mod.REPORTS_ENRICHED, topics_mod.REVIEWS)
    cap = min(t.partitions for t in consumed)
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= cap, (
        f"enrich workers beyond {cap} partitions would sit idle")


def test_live_deployment_is_exactly_one_recreated_instance():
    """The pollers must never run twice at once (rate limits spent twice, Telegram 409): one replica, replaced
    with Recreate (a rolling update briefly runs two), no HPA to add more, no PDB to block node drains."""
    docs = _k8s_docs()
    dep = _by_name(docs, "Deployment", "siaga-live")
    spec = dep["spec"]
    assert spec.get("replicas") == 1, f"siaga-live must run exactly one replica, not {spec.get('replicas')}"
    strategy = spec.get("strategy")
    assert strategy == {"type": "Recreate"}, f"siaga-live must be replaced with Recreate, not {strategy}"
    for hpa in _kind(docs, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] != "siaga-live", "an HPA would run several live clients"
    pod_labels = spec["template"]["metadata"]["labels"]
    for pdb in _kind(docs, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert not selector.items() <= pod_labels.items(), "a PDB on a single pod blocks every node drain"
    rendered = _by_name(_render_kustomization(), "Deployment", "siaga-live")["spec"]
    assert (rendered["replicas"], rendered["strategy"]) == (1, {"type": "Recreate"}), "kustomize changed it"


def test_live_deployment_command_probes_config_and_credentials():
    docs = _k8s_docs()
    dep = _by_name(docs, "Deployment", "siaga-live")
    where = "Deployment siaga-live"
    spec = dep["spec"]
    pod = spec["template"]
    assert spec["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items(), f"{where}: selector"
    # prometheus-k8s.yml keeps pods by part-of, scrapes the port named http, names the job siaga-<component>:
    # siaga-live, which alerts.yml and the dashboard use
    assert pod["metadata"]["labels"].get("app.kubernetes.io/part-of") == "siaga"
    assert pod["metadata"]["labels"].get("app.kubernetes.io/component") == LIVE
    (container,) = pod["spec"]["containers"]
    _check_live_command(container["command"], where)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": LIVE_PORT}, f"{where}: ports {ports}"
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz" and get["port"] in ("http", LIVE_PORT), f"{where}: {probe} {get}"
    res = container["resources"]
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(res[bound]), f"{where}: {bound} needs cpu and memory"
    assert [e["configMapRef"]["name"] for e in container["envFrom"]] == ["siaga-config"]
    config = _by_name(docs, "ConfigMap", "siaga-config")["data"]
    # what the process sees: the ConfigMap, overridden by the container's own env
    env = dict(config)
    from_secret = {}
    for var in container.get("env", []):
        if "valueFrom" in var:
            ref = var["valueFrom"].get("secretKeyRef")
            assert ref is not None, f"{where}: {var['name']} must come from a Secret"
            from_secret[var["name"]] = ref
            env.pop(var["name"], None)
        else:
            env[var["name"]] = var["value"]
    # the metrics/health server listens on the pod IP and the port the probes and Prometheus use
    assert env.get("SIAGA_HOST") == "0.0.0.0", f"{where}: SIAGA_HOST must be 0.0.0.0 (default: loopback only)"
    assert env.get("SIAGA_LIVE_METRICS_PORT", str(LIVE_PORT)) == str(LIVE_PORT)
    # credentials: only from the Secret, each optional (no credential = that platform disabled, pod starts)
    assert set(from_secret) == LIVE_CREDENTIALS, f"{where}: credentials from the Secret: {sorted(from_secret)}"
    for name, ref in from_secret.items():
        assert ref["name"] == "siaga-auth" and ref.get("optional") is True, f"{where}: {name} {ref}"
    assert not LIVE_CREDENTIALS & set(config), "credentials do not belong in the ConfigMap"
    keys = [ref["key"] for ref in from_secret.values()]
    assert len(keys) == len(set(keys)) and "auth.json" not in keys
    known = _env_names_read_by_the_live_clients()
    set_here = {v["name"] for v in container.get("env", [])}
    assert set_here <= known, f"{where}: variables nothing reads: {sorted(set_here - known)}"
    # no bearer-token file: the live process serves no authenticated API
    volumes = pod["spec"].get("volumes", [])
    assert not [v for v in volumes if v.get("secret", {}).get("secretName") == "siaga-auth"]
    if container["securityContext"].get("readOnlyRootFilesystem"):
        writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
        assert "/tmp" in writable, f"{where}: read-only root filesystem needs a writable /tmp"
    assert pod["spec"].get("automountServiceAccountToken") is False


# ------------------------------------------------------------------------------------ Strimzi (custom)


KAFKA_SPEC_KEYS = {"kafka", "entityOperator", "kafkaExporter", "cruiseControl", "clusterCa", "clientsCa",
                   "maintenanceTimeWindows", "kafkaAutoRebalance"}
KAFKA_KAFKA_KEYS = {"version", "metadataVersion", "listeners", "config", "authorization", "resources",
                    "jvmOptions", "logging", "rack", "template", "livenessProbe", "readinessProbe",
                    "metricsConfig", "image", "brokerRackInitImage", "quotas", "tieredStorage"}
POOL_SPEC_KEYS = {"replicas", "roles", "storage", "resources", "jvmOptions", "template"}
TOPIC_SPEC_KEYS = {"topicName", "partitions", "replicas", "config"}
LISTENER_KEYS = {"name", "port", "type", "tls", "authentication", "configuration", "networkPolicyPeers"}


def test_strimzi_kafka_is_kraft_with_node_pools():
    docs = _k8s_docs()
    (kafka,) = _kind(docs, "Kafka")
    spec = kafka["spec"]
    assert set(spec) <= KAFKA_SPEC_KEYS, f"unknown Kafka spec keys {set(spec) - KAFKA_SPEC_KEYS}"
    assert "zookeeper" not in spec, "KRaft only"
    k = spec["kafka"]
    assert set(k) <= KAFKA_KAFKA_KEYS, f"unknown spec.kafka keys {set(k) - KAFKA_KAFKA_KEYS}"
    assert "replicas" not in k and "storage" not in k, "replicas and storage belong to the KafkaNodePools"
    assert re.fullmatch(r"4\.1\.\d+", k["version"]), f"Kafka {k['version']}: pin a 4.1.x release"
    assert re.fullmatch(r"4\.1(-IV\d+)?", str(k["metadataVersion"])), k["metadataVersion"]
    compose_images = {s["image"] for s in _brokers(_compose()).values()}
    assert compose_images == {f"apache/kafka:{k['version']}"}, "compose and Strimzi run different Kafka versions"
    names = [lst["name"] for lst in k["listeners"]]
    ports = [lst["port"] for lst in k["listeners"]]
    assert len(set(names)) == len(names) and len(set(ports)) == len(ports)
    for lst in k["listeners"]:
        assert set(lst) <= LISTENER_KEYS and {"name", "port", "type", "tls"} <= set(lst), lst
        assert re.fullmatch(r"[a-z0-9]{1,11}", lst["name"]) and lst["type"] in {
            "internal", "route", "loadbalancer", "nodeport", "ingress", "cluster-ip"}
    cfg = k["config"]
    assert int(cfg["default.replication.factor"]) == REPLICATION
    assert int(cfg["min.insync.replicas"]) == MIN_INSYNC
    assert int(cfg["offsets.topic.replication.factor"]) == REPLICATION
    assert int(cfg["transaction.state.log.replication.factor"]) == REPLICATION
    assert int(cfg["transaction.state.log.min.isr"]) == MIN_INSYNC
    assert "topicOperator" in spec["entityOperator"], "the KafkaTopics need the Topic Operator"

    pools = _kind(docs, "KafkaNodePool")
    assert pools, "KRaft needs at least one KafkaNodePool"
    controllers = brokers = 0
    for pool in pools:
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        ps = pool["spec"]
        assert set(ps) <= POOL_SPEC_KEYS, f"unknown KafkaNodePool spec keys {set(ps) - POOL_SPEC_KEYS}"
        roles = set(ps["roles"])
        assert roles and roles <= {"controller", "broker"}
        controllers += ps["replicas"] if "controller" in roles else 0
        brokers += ps["replicas"] if "broker" in roles else 0
        storage = ps["storage"]
        assert storage["type"] in {"ephemeral", "persistent-claim", "jbod"}
        if storage["type"] == "jbod":
            ids = [v["id"] for v in storage["volumes"]]
            assert len(ids) == len(set(ids))
            assert all(v["type"] in {"ephemeral", "persistent-claim"} for v in storage["volumes"])
            assert all(v.get("deleteClaim", False) is False for v in storage["volumes"]), "keep the data on delete"
            shared = [v for v in storage["volumes"] if v.get("kraftMetadata") == "shared"]
            assert len(shared) <= 1
    assert controllers >= 3 and controllers % 2 == 1, f"{controllers} controllers: need an odd quorum of 3+"
    assert brokers >= REPLICATION, f"{brokers} brokers cannot hold replication factor {REPLICATION}"


# ------------------------------------------------------------------- (d) KafkaTopic <-> topics.py


def _norm(value) -> str:  # noqa: ANN001
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_every_topic_has_a_matching_kafkatopic():
    docs = _k8s_docs()
    kafka_name = _kind(docs, "Kafka")[0]["metadata"]["name"]
    by_topic = {}
    for kt in _kind(docs, "KafkaTopic"):
        spec = kt["spec"]
        assert set(spec) <= TOPIC_SPEC_KEYS, f"unknown KafkaTopic keys {set(spec) - TOPIC_SPEC_KEYS}"
        assert kt["metadata"]["labels"]["strimzi.io/cluster"] == kafka_name
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", kt["metadata"]["name"])
        name = spec.get("topicName", kt["metadata"]["name"])
        assert name not in by_topic, f"two KafkaTopics for {name}"
        by_topic[name] = spec
    declared = {t.name: t for t in topics_mod.ALL_TOPICS}
    assert set(by_topic) == set(declared), (
        f"missing: {sorted(set(declared) - set(by_topic))}, not in topics.py: {sorted(set(by_topic) - set(declared))}")
    for name, t in declared.items():
        spec = by_topic[name]
        assert spec["partitions"] == t.partitions, f"{name}: {spec['partitions']} partitions, topics.py {t.partitions}"
        assert spec["replicas"] == REPLICATION
        config = {k: _norm(v) for k, v in spec.get("config", {}).items()}
        expected = t.configs(MIN_INSYNC)
        assert config == expected, f"{name}: config {config} != topics.py {expected}"
        assert (config["cleanup.policy"] == "compact") == t.compacted
    # co-partitioned topics keep one partition count (the consolidation agent joins them by key)
    co_partitioned = (topics_mod.REPORTS_ENRICHED, topics_mod.SITES, topics_mod.REVIEWS)
    region = {by_topic[t.name]["partitions"] for t in co_partitioned}
    assert region == {topics_mod.REGION_PARTITIONS}


# ------------------------------------------------------------------------------------ (c) compose


def _compose_schema() -> dict:
    ref = importlib.resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(ref.read_text())


def test_compose_matches_the_compose_specification():
    doc = _compose()
    validator = jsonschema.Draft7Validator(_compose_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:10])


def test_docker_compose_config_where_available():
    """`docker compose config` needs no engine, only the compose plugin, which this machine lacks; the
    schema test above covers the same ground. Where the plugin exists this must pass too."""
    docker = shutil.which("docker")
    has_plugin = docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    if has_plugin:
        out = subprocess.run([docker, "compose", "-f", str(COMPOSE), "config", "--quiet", "--no-interpolate"],
                             capture_output=True, text=True, timeout=60, cwd=DEPLOY)
        assert out.returncode == 0, out.stderr
    # whatever the machine has, the file the command would read must be a compose file
    assert "services" in _compose()


def _brokers(doc: dict) -> dict[str, dict]:
    return {n: s for n, s in doc["services"].items() if s.get("image", "").startswith("apache/kafka:")}


def test_compose_kafka_cluster_is_three_kraft_nodes():
    doc = _compose()
    brokers = _brokers(doc)
    assert len(brokers) == 3, f"expected 3 brokers, got {sorted(brokers)}"
    node_ids, cluster_ids, voters_seen = {}, set(), set()
    for name, svc in brokers.items():
        assert re.fullmatch(r"apache/kafka:4\.1\.\d+", svc["image"]), svc["image"]
        env = _env(svc)
        node_ids[name] = int(env["KAFKA_NODE_ID"])
        cluster_ids.add(_resolve_default(env["CLUSTER_ID"]))
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}, "combined mode"
        assert int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == REPLICATION
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == MIN_INSYNC
        assert int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == REPLICATION
        assert int(env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"]) == REPLICATION
        assert int(env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]) == MIN_INSYNC
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        voters_seen.add(env["KAFKA_CONTROLLER_QUORUM_VOTERS"])
        listeners = dict(re.fullmatch(r"(\w+)://([^:]*):(\d+)", x).group(1, 3)
                         for x in env["KAFKA_LISTENERS"].split(","))
        ctrl = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
        assert ctrl in listeners, f"{name}: controller listener {ctrl} not in KAFKA_LISTENERS"
        protocols = dict(x.split(":") for x in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        assert set(listeners) <= set(protocols), f"{name}: listener without a security protocol"
        advertised = dict(re.fullmatch(r"(\w+)://([^:]+):(\d+)", x).group(1, 2)
                          for x in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
        assert ctrl not in advertised, f"{name}: controller listener must not be advertised"
        inter = env["KAFKA_INTER_BROKER_LISTENER_NAME"]
        assert advertised[inter] in (name, svc.get("hostname")), f"{name}: other brokers cannot reach {advertised}"
        assert any(v.endswith(":/var/lib/kafka/data") for v in svc["volumes"]), f"{name}: data not on a volume"
        assert env["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
        assert "healthcheck" in svc
    assert sorted(node_ids.values()) == [1, 2, 3], f"node ids must be distinct: {node_ids}"
    assert len(cluster_ids) == 1, "all brokers must share one CLUSTER_ID"
    raw = base64.urlsafe_b64decode(next(iter(cluster_ids)) + "==")
    assert len(raw) == 16, "CLUSTER_ID must be a base64 UUID (kafka-storage.sh random-uuid)"
    assert len(voters_seen) == 1, "every node must list the same quorum voters"
    voters = {}
    for v in next(iter(voters_seen)).split(","):
        node_id, host, port = re.fullmatch(r"(\d+)@([^:]+):(\d+)", v).groups()
        voters[int(node_id)] = (host, port)
    for name, node_id in node_ids.items():
        host, port = voters[node_id]
        svc = brokers[name]
        assert host in (name, svc.get("hostname")), f"voter {node_id} points at {host}, not {name}"
        env = _env(svc)
        ctrl_ports = [x.rsplit(":", 1)[1] for x in env["KAFKA_LISTENERS"].split(",")
                      if x.startswith(env["KAFKA_CONTROLLER_LISTENER_NAMES"] + "://")]
        assert ctrl_ports == [port], f"{name}: voter port {port} is not its controller port {ctrl_ports}"
    assert set(voters) == set(node_ids.values())


def test_compose_services():
    doc = _compose()
    brokers = _brokers(doc)
    plaintext = re.compile(r"PLAINTEXT://([^:,]+:\d+)")
    bootstrap = {plaintext.search(_env(s)["KAFKA_ADVERTISED_LISTENERS"]).group(1) for s in brokers.values()}
    for service in SERVICES:
        svc = doc["services"][service]
        where = f"compose service {service}"
        build = svc["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve()
        _check_entrypoint(svc["command"], service, where)
        env = _env(svc)
        assert set(env["SIAGA_KAFKA"].split(",")) == bootstrap, f"{where}: SIAGA_KAFKA {env['SIAGA_KAFKA']}"
        assert env["SIAGA_TOPIC_REPLICATION"] == str(REPLICATION) and env["SIAGA_MIN_INSYNC"] == str(MIN_INSYNC)
        secret = env["SIAGA_AUTH_FILE"]
        assert secret.startswith("/run/secrets/") and secret.rsplit("/", 1)[1] in svc["secrets"]
        test = " ".join(svc["healthcheck"]["test"])
        path = "/readyz" if service == "api" else "/healthz"
        assert f"127.0.0.1:{SERVICES[service]}{path}" in test, f"{where}: healthcheck {test}"
        for broker in brokers:
            assert svc["depends_on"][broker]["condition"] == "service_healthy"
    assert _env(doc["services"]["enrich"])["SIAGA_ENRICH_WEB_HOST"] == "0.0.0.0", "Prometheus scrapes enrich"
    # named volumes and secrets are declared, bind-mounted config files exist
    for name, svc in doc["services"].items():
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in doc["volumes"], f"{name}: volume {source} not declared"
        for secret in svc.get("secrets", []):
            assert secret in doc["secrets"], f"{name}: secret {secret} not declared"
    assert {"prometheus", "grafana"} <= set(doc["services"])


def test_compose_live_service():
    doc = _compose()
    svc = doc["services"][LIVE]
    where = "compose service live"
    build = svc["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve()
    assert svc["image"] == doc["services"]["ingest"]["image"], f"{where}: the same image as the other services"
    _check_live_command(svc["command"], where)
    assert "deploy" not in svc and "scale" not in svc, f"{where}: exactly one instance"
    brokers = _brokers(doc)
    plaintext = re.compile(r"PLAINTEXT://([^:,]+:\d+)")
    bootstrap = {plaintext.search(_env(s)["KAFKA_ADVERTISED_LISTENERS"]).group(1) for s in brokers.values()}
    env = _env(svc)
    assert set(env["SIAGA_KAFKA"].split(",")) == bootstrap, f"{where}: SIAGA_KAFKA {env['SIAGA_KAFKA']}"
    assert env["SIAGA_TOPIC_REPLICATION"] == str(REPLICATION) and env["SIAGA_MIN_INSYNC"] == str(MIN_INSYNC)
    assert env["SIAGA_HOST"] == "0.0.0.0", f"{where}: Prometheus cannot scrape a loopback-only server"
    assert env.get("SIAGA_LIVE_METRICS_PORT", str(LIVE_PORT)) == str(LIVE_PORT)
    assert not LIVE_CREDENTIALS & set(env), f"{where}: credentials belong in the env file, not in compose.yaml"
    assert set(env) <= _env_names_read_by_the_live_clients(), f"{where}: unknown variables"
    # credentials from an optional env file among the other secrets: it starts without one
    (env_file,) = svc["env_file"]
    assert env_file["path"].startswith("./secrets/") and env_file["required"] is False, env_file
    test = " ".join(svc["healthcheck"]["test"])
    assert f"127.0.0.1:{LIVE_PORT}/healthz" in test, f"{where}: healthcheck {test}"
    for broker in brokers:
        assert svc["depends_on"][broker]["condition"] == "service_healthy"


# ----------------------------------------------------------------------------------- (e) Prometheus


def test_prometheus_configs():
    compose = _compose()
    cfg = yaml.safe_load((PROM / "prometheus.yml").read_text())
    for rule_file in cfg["rule_files"]:
        assert (PROM / rule_file).exists(), rule_file
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    for service, port in SERVICES.items():
        job = jobs[f"siaga-{service}"]
        targets = [t for sc in job["static_configs"] for t in sc["targets"]]
        assert targets == [f"{service}:{port}"], f"siaga-{service} scrapes {targets}"
        assert service in compose["services"]
        for sc in job["static_configs"]:
            assert "service" not in sc.get("labels", {}), "a `service` target label renames the metrics' own"
    live = [t for sc in jobs[f"siaga-{LIVE}"]["static_configs"] for t in sc["targets"]]
    assert live == [f"{LIVE}:{LIVE_PORT}"], f"siaga-{LIVE} scrapes {live}"
    assert LIVE in compose["services"]
    # every job an alert names is scraped (a typo would make `absent(up{job=...})` fire forever)
    alerts_text = (PROM / "alerts.yml").read_text()
    for job in set(re.findall(r'job="([^"]+)"', alerts_text)):
        assert job in jobs, f"alerts.yml names job {job}, which prometheus.yml does not scrape"
        component = job.removeprefix("siaga-")
        assert any(d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == component
                   for d in _kind(_k8s_docs(), "Deployment")), f"no Deployment makes job {job} on Kubernetes"
    k8s = yaml.safe_load((PROM / "prometheus-k8s.yml").read_text())
    assert k8s["rule_files"] == cfg["rule_files"]
    (job,) = k8s["scrape_configs"]
    relabels = job["relabel_configs"]
    assert not [r for r in relabels if r.get("target_label") == "service"]
    naming = next(r for r in relabels if r.get("target_label") == "job")
    assert naming["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_component"]
    assert naming["replacement"] == "siaga-$1"
    keep_port = next(r for r in relabels if r["source_labels"] == ["__meta_kubernetes_pod_container_port_name"])
    assert keep_port["action"] == "keep" and keep_port["regex"] == "http"


def test_alert_rules():
    rules_doc = yaml.safe_load((PROM / "alerts.yml").read_text())
    assert set(rules_doc) == {"groups"}
    anchors = _github_anchors(OPERATIONS_DOC.read_text())
    alerts = {}
    for group in rules_doc["groups"]:
        assert set(group) <= {"name", "rules", "interval", "limit"} and group["rules"], group.get("name")
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule
            name = rule["alert"]
            assert re.fullmatch(r"Siaga[A-Za-z0-9]+", name), name
            assert name not in alerts, f"alert {name} defined twice"
            assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), f"{name}: for {rule.get('for')}"
            assert rule["labels"]["severity"] in {"warning", "critical"}, name
            ann = rule["annotations"]
            assert {"summary", "description", "runbook"} <= set(ann), f"{name}: annotations {sorted(ann)}"
            anchor = ann["runbook"].split("#", 1)[1]
            assert ann["runbook"].startswith("docs/operations.md#") and anchor in anchors, (
                f"{name}: runbook {ann['runbook']} has no section in docs/operations.md")
            alerts[name] = _check_promql(rule["expr"], f"alert {name}")
            for text in ann.values():
                assert text.count("{{") == text.count("}}"), f"{name}: unbalanced template in {text!r}"
    # the situations the brief asks for, each covered by an alert on the right metric
    required = {
        "consumer lag growing": "siaga_consumer_lag",
        "dead letters appearing": "siaga_deadletter_total",
        "API 5xx rate": "siaga_http_requests_total",
        "ingest 503s": "siaga_http_requests_total",
        "enrich down": "up",
    }
    exprs = {r["alert"]: r["expr"] for g in rules_doc["groups"] for r in g["rules"]}
    assert "delta(siaga_consumer_lag" in exprs["SiagaConsumerLagGrowing"]
    assert 'status=~"5.."' in exprs["SiagaApi5xx"] and 'service="api"' in exprs["SiagaApi5xx"]
    assert 'status="503"' in exprs["SiagaIngestUnavailable"]
    assert 'job="siaga-enrich"' in exprs["SiagaEnrichDown"]
    # live clients: a source backing off for 15 minutes, platforms refusing the credentials, the process down
    rules = {r["alert"]: r for g in rules_doc["groups"] for r in g["rules"]}
    backing_off = rules["SiagaLiveSourceBackingOff"]
    assert alerts["SiagaLiveSourceBackingOff"] == {"siaga_live_backoff_seconds"} and "> 0" in backing_off["expr"]
    assert backing_off["for"] == "15m"
    assert 'reason="http_4xx"' in exprs["SiagaLiveClientRejected"]
    assert "siaga_live_errors_total" in alerts["SiagaLiveClientRejected"]
    assert 'job="siaga-live"' in exprs["SiagaLiveDown"]
    for situation, metric in required.items():
        assert any(metric in used for used in alerts.values()), f"no alert for {situation}"
    # the rule unit tests cover the required alerts
    tests_doc = yaml.safe_load((PROM / "alerts_test.yml").read_text())
    tested = {t["alertname"] for case in tests_doc["tests"] for t in case["alert_rule_test"]}
    for name in ("SiagaConsumerLagGrowing", "SiagaDeadLetters", "SiagaApi5xx", "SiagaIngestUnavailable",
                 "SiagaEnrichDown", "SiagaLiveSourceBackingOff", "SiagaLiveClientRejected", "SiagaLiveDown"):
        assert name in tested, f"alerts_test.yml does not test {name}"
    assert tested <= set(alerts)


def test_promtool_where_available():
    """promtool comes with Debian's `prometheus` package (apt-get install prometheus). Debian builds it
    without Kubernetes service discovery, so prometheus-k8s.yml is only checked structurally above."""
    promtool = shutil.which("promtool")
    if promtool is None:
        assert os.environ.get("SIAGA_REQUIRE_PROMTOOL") != "1", "SIAGA_REQUIRE_PROMTOOL=1 but promtool is missing"
        return
    for args in (["check", "rules", "alerts.yml"], ["check", "config", "prometheus.yml"],
                 ["test", "rules", "alerts_test.yml"]):
        out = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, cwd=PROM)
        assert out.returncode == 0, f"promtool {' '.join(args)}:\n{out.stdout}\n{out.stderr}"


# -------------------------------------------------------------------------------------- (f) Grafana


GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def test_grafana_dashboard():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"] and isinstance(dash["schemaVersion"], int)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    assert len(panels) >= 8
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    used: set[str] = set()
    cells: set[tuple[int, int]] = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, f"panel {p['title']} is wider than the grid"
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"panel {p['title']} overlaps another"
        cells |= mine
    for p in panels:
        assert p["targets"], f"panel {p['title']!r} has no targets"
        assert p["datasource"]["uid"] == "${datasource}"
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), f"panel {p['title']!r}: duplicate refIds"
        for t in p["targets"]:
            expr = t["expr"]
            for var, value in GRAFANA_VARS.items():
                expr = expr.replace(var, value)
            assert "$" not in expr, f"panel {p['title']!r}: unknown variable in {t['expr']!r}"
            used |= _check_promql(expr, f"panel {p['title']!r}")
    for metric in ("siaga_ingest_reports_total", "siaga_ingest_produce_seconds_bucket", "siaga_consumer_lag",
                   "siaga_enrich_reports_total", "siaga_geotag_total", "siaga_geotag_failures_total",
                   "siaga_deadletter_total", "siaga_http_request_seconds_bucket", "siaga_http_requests_total",
                   "siaga_live_mentions_total", "siaga_live_errors_total", "siaga_live_backoff_seconds"):
        assert metric in used, f"the dashboard has no panel on {metric}"
    titles = " ".join(p["title"].lower() for p in panels)
    for word in ("p95", "p99", "5xx", "lag", "dead letters", "geotag", "rejected", "duplicates", "live mentions",
                 "live client errors"):
        assert word in titles, f"no panel about {word!r}"


def test_grafana_provisioning():
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    prov = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/siaga.yml").read_text())
    path = prov["providers"][0]["options"]["path"]
    grafana = _compose()["services"]["grafana"]
    assert any(v.startswith("./grafana/siaga-dashboard.json:" + path + "/") for v in grafana["volumes"])


# ------------------------------------------------------------------------------ metrics contract


def _declared_metrics() -> dict[str, dict]:
    """Counter/Gauge/Histogram declarations in services/common/metrics.py and the live clients' own module,
    read without importing them."""
    found = {}
    for module in METRIC_MODULES:
        found.update(_declared_in(ROOT / module))
    return found


METRIC_MODULES = ("services/common/metrics.py", "services/ingest/live/metrics.py")


def _declared_in(path: Path) -> dict[str, dict]:
    tree = ast.parse(path.read_text())
    found = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in {"Counter", "Gauge", "Histogram"}):
            name = node.args[0].value
            labels: set[str] = set()
            label_arg = node.args[2] if len(node.args) > 2 else next(
                (k.value for k in node.keywords if k.arg == "labelnames"), None)
            if label_arg is not None:
                labels = {elt.value for elt in label_arg.elts}
            found[name] = {"type": node.func.id.lower(), "labels": labels}
    return found


def test_metrics_doc_matches_the_code():
    documented = _documented_metrics()
    declared = _declared_metrics()
    assert set(documented) == set(declared), (
        f"undocumented: {sorted(set(declared) - set(documented))}; "
        f"documented but not declared: {sorted(set(documented) - set(declared))}")
    for name, row in documented.items():
        assert declared[name] == row, f"{name}: code {declared[name]} vs docs/metrics.md {row}"
