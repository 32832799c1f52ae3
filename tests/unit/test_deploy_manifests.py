"""deploy/ agrees with the server: settings that exist, and shutdown deadlines in order.

The full check (render, schema, security scan, compose) is scripts/validate-deploy;
these are the facts only the repository knows, checked in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
SETTINGS = {name.upper() for name in Settings.model_fields}


def _literals(kustomization: Path) -> dict[str, str]:
    doc = yaml.safe_load(kustomization.read_text())
    out: dict[str, str] = {}
    for gen in doc.get("configMapGenerator", []):
        for lit in gen.get("literals", []):
            key, _, value = lit.partition("=")
            out[key] = value
    return out


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_every_configmap_key_is_a_setting() -> None:
    for kustomization in K8S.rglob("kustomization.yaml"):
        unknown = set(_literals(kustomization)) - SETTINGS
        assert not unknown, f"{kustomization.relative_to(ROOT)} sets {sorted(unknown)}, which no setting reads"


def test_kubernetes_waits_longer_than_the_server_drains() -> None:
    grace_s = float(_literals(K8S / "base" / "kustomization.yaml")["SHUTDOWN_GRACE_S"])
    [deployment] = [d for d in _docs(K8S / "base" / "deployment.yaml") if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > grace_s + float(pre_stop[1]), (
        "the kubelet would SIGKILL runs still inside SHUTDOWN_GRACE_S")


def test_compose_waits_longer_than_the_server_drains() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        if "AUTH_SECRET" not in env:
            continue  # not a support-agent server
        unknown = {k for k in env if k not in SETTINGS}
        assert not unknown, f"service {name} sets {sorted(unknown)}, which no setting reads"
        grace = float(env.get("SHUTDOWN_GRACE_S", Settings.model_fields["shutdown_grace_s"].default))
        stop = float(str(service["stop_grace_period"]).rstrip("s"))
        assert stop > grace, f"service {name}: docker would SIGKILL runs still inside SHUTDOWN_GRACE_S"
