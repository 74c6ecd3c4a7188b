"""deploy/k8s/pricing.yaml checked without kubectl: parsed, and held to the Dockerfile,
the Makefile's image name, the server's health services and its configuration."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from pricing_service.bootstrap import SERVICE_NAME
from pricing_service.config import load_config

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "k8s" / "pricing.yaml"


def _docs() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def _server() -> dict[str, Any]:
    pod = _docs()["Deployment/pricing"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return dict(container)


def test_the_manifest_has_every_part_a_deployment_needs() -> None:
    assert sorted(_docs()) == [
        "ConfigMap/pricing-config",
        "Deployment/pricing",
        "Job/pricing-migrate",
        "PodDisruptionBudget/pricing",
        "Service/pricing",
    ]


def test_probes_ask_the_servers_own_health_services_on_its_port() -> None:
    server = _server()
    (grpc_port,) = [p["containerPort"] for p in server["ports"] if p["name"] == "grpc"]
    assert server["readinessProbe"]["grpc"] == {"port": grpc_port, "service": SERVICE_NAME}
    assert server["livenessProbe"]["grpc"] == {"port": grpc_port, "service": ""}
    exposed = re.findall(r"^EXPOSE (\d+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert exposed == [str(grpc_port)]


def test_images_are_the_one_the_makefile_builds() -> None:
    tag = re.search(r"docker build -t (\S+) \.", (ROOT / "Makefile").read_text())
    assert tag is not None
    docs = _docs()
    pods = [
        docs["Deployment/pricing"]["spec"]["template"]["spec"],
        docs["Job/pricing-migrate"]["spec"]["template"]["spec"],
    ]
    images = {c["image"] for p in pods for c in p.get("initContainers", []) + p["containers"]}
    assert images == {tag.group(1)}


def test_the_config_is_one_the_server_loads_and_stops_within_the_grace_period(
    tmp_path: Path,
) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(_docs()["ConfigMap/pricing-config"]["data"]["config.toml"])
    config = load_config(config_file, env={})
    assert config.listen == "0.0.0.0:50051"
    assert config.audit_signer_key == Path("/var/lib/pricing/keys/audit.skey")
    pod = _docs()["Deployment/pricing"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > (
        config.shutdown_notice_seconds + config.grace_seconds
    )
    (metrics,) = [p["containerPort"] for p in _server()["ports"] if p["name"] == "metrics"]
    assert config.metrics_listen == f"0.0.0.0:{metrics}"


def test_the_database_and_key_come_from_secrets_and_the_job_migrates() -> None:
    docs = _docs()
    job = docs["Job/pricing-migrate"]["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["pricing-service", "migrate"]
    for env in (job["env"], _server()["env"]):
        assert {"name": "PRICING_AUDIT_DSN", "valueFrom": {"secretKeyRef": {
            "name": "pricing-audit-db", "key": "dsn"}}} in env  # fmt: skip
    text = MANIFEST.read_text()
    assert "PRIVATE+KEY" not in text
    assert "stringData" not in text


def test_a_disruption_leaves_a_quorum_of_replicas() -> None:
    docs = _docs()
    replicas = docs["Deployment/pricing"]["spec"]["replicas"]
    assert 1 <= docs["PodDisruptionBudget/pricing"]["spec"]["minAvailable"] < replicas
