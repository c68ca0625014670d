"""deploy/k8s cannot be applied here (no cluster): it is validated against the Kubernetes schemas
(kubernetes-validate, strict: an unknown field fails) and checked against the code it deploys.

The overlays are rendered by ``kubectl kustomize`` when kubectl is installed; otherwise by
``assemble``, which implements the few kustomize features the overlays use (resources,
namespace, labels, images, replicas) and is itself checked against kubectl where both exist.
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import kubernetes_validate
import msgspec
import pytest
import yaml
from click.testing import CliRunner

from playledger_cli.cli import cli
from playledger_common.consumers import run_consumer
from playledger_common.nats_config import CHART_REPLICAS, USERS_SECRET, password_variable
from playledger_common.nats_users import ROLES
from playledger_common.settings import (
    ApiSettings,
    CommonSettings,
    ExecutorSettings,
    NotifierSettings,
    ProjectorSettings,
)
from playledger_schemas.ids import PRIORITIES
from playledger_schemas.subjects import COMMANDS_STREAM

pytestmark = pytest.mark.unit

ROOT: Final = Path(__file__).resolve().parents[2]
K8S: Final = ROOT / "deploy/k8s"
OVERLAYS: Final = ("dev", "prod")
KUBERNETES: Final = "1.31.0"
"""The oldest Kubernetes the manifests are checked against, besides the newest the package knows."""
METRICS_PORT: Final = 9100
SETTINGS: Final[dict[str, type[msgspec.Struct]]] = {
    "api": ApiSettings,
    "executor": ExecutorSettings,
    "projector": ProjectorSettings,
    "notifier": NotifierSettings,
    "streams-init": CommonSettings,  # `playledger streams init`
}

Doc = dict[str, Any]


def load(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def assemble(directory: Path) -> list[Doc]:
    """The subset of ``kustomize build`` the overlays use."""
    spec = load(directory / "kustomization.yaml")[0]
    docs: list[Doc] = []
    for resource in spec.get("resources", []):
        path = directory / resource
        docs += assemble(path) if path.is_dir() else copy.deepcopy(load(path))
    for doc in docs:
        for labels in spec.get("labels", []):
            doc["metadata"].setdefault("labels", {}).update(labels["pairs"])
        if "namespace" in spec:
            doc["metadata"]["namespace"] = spec["namespace"]
        counts = {r["name"]: r["count"] for r in spec.get("replicas", [])}
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] in counts:
            doc["spec"]["replicas"] = counts[doc["metadata"]["name"]]
        for container in containers(doc):
            for image in spec.get("images", []):
                if container["image"].split(":")[0] == image["name"]:
                    container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    return docs


@functools.cache
def _kustomize_output(directory: Path) -> str | None:
    if shutil.which("kubectl") is None:
        return None
    done = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def kubectl_kustomize(directory: Path) -> list[Doc] | None:
    output = _kustomize_output(directory)
    return None if output is None else [d for d in yaml.safe_load_all(output) if d]


def render(overlay: str) -> list[Doc]:
    directory = K8S / "overlays" / overlay
    return kubectl_kustomize(directory) or assemble(directory)


def pod_spec(doc: Doc) -> Doc | None:
    if doc["kind"] in {"Deployment", "Job"}:
        spec: Doc = doc["spec"]["template"]["spec"]
        return spec
    return None


def containers(doc: Doc) -> list[Doc]:
    spec = pod_spec(doc)
    return [] if spec is None else spec["containers"]


def workloads(docs: list[Doc]) -> Iterator[tuple[Doc, Doc, Doc]]:
    for doc in docs:
        for container in containers(doc):
            yield doc, pod_spec(doc) or {}, container


def env(container: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container.get("env", [])}


BASE: Final = assemble(K8S / "base")
RENDERED: Final = {overlay: render(overlay) for overlay in OVERLAYS}
KEDA: Final = load(K8S / "optional/keda-executor.yaml")
CONFIG: Final = next(d for d in BASE if d["kind"] == "ConfigMap")["data"]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", [KUBERNETES, kubernetes_validate.latest_version()])
def test_every_rendered_manifest_validates_against_kubernetes(overlay: str, version: str) -> None:
    assert {d["kind"] for d in RENDERED[overlay]} >= {"Deployment", "Service", "Job", "NetworkPolicy"}
    for doc in RENDERED[overlay]:
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_fallback_assembly_is_what_kubectl_kustomize_builds(overlay: str) -> None:
    built = kubectl_kustomize(K8S / "overlays" / overlay)
    if built is None:
        pytest.skip("kubectl is not installed")

    def key(doc: Doc) -> str:
        return f"{doc['kind']}/{doc['metadata']['name']}"

    ours = {key(d): d for d in assemble(K8S / "overlays" / overlay)}
    assert {key(d): d for d in built} == ours


def test_the_overlays_scale_and_place_the_system() -> None:
    def replicas(overlay: str) -> dict[str, int]:
        return {
            d["metadata"]["name"]: d["spec"]["replicas"]
            for d in RENDERED[overlay]
            if d["kind"] == "Deployment"
        }

    assert replicas("prod")["playledger-projector"] == 2  # one active, one standby (leader lock)
    assert replicas("prod")["playledger-executor"] > replicas("dev")["playledger-executor"]
    for overlay, namespace in (("dev", "playledger-dev"), ("prod", "playledger")):
        assert {d["metadata"]["namespace"] for d in RENDERED[overlay]} == {namespace}
        images = {c["image"] for _, _, c in workloads(RENDERED[overlay])}
        assert len(images) == 1
        assert images.pop().startswith("registry.example.com/playledger:")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_locked_down(overlay: str) -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text(encoding="utf-8")
    [user] = re.findall(r"^USER (\d+):\d+$", dockerfile, re.MULTILINE)
    for doc, pod, container in workloads(RENDERED[overlay]):
        name = doc["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == int(user), name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"] == {"drop": ["ALL"]}, name
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        assert "memory" in container["resources"]["limits"], name
        # a read-only root: every directory a service writes to is a mounted emptyDir
        empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        written = {m["mountPath"]: m["name"] for m in container["volumeMounts"] if m["name"] in empty}
        assert "/tmp" in written, name
        for variable in ("PLAYLEDGER_WORK_DIR", "PLAYLEDGER_SOURCE_CACHE_DIR"):
            if variable in env(container):
                path = Path(env(container)[variable]["value"])
                assert any(path.is_relative_to(m) for m in written), f"{name}: {variable} on the root FS"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_long_running_service_has_probes_on_its_port(overlay: str) -> None:
    for doc, _, container in workloads(RENDERED[overlay]):
        if doc["kind"] != "Deployment":
            continue
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
            get = container[probe]["httpGet"]
            assert get["path"] == path
            assert get["port"] in ports
        if container["name"] == "api":
            assert ports == {"http": int(env(container)["PLAYLEDGER_API_PORT"]["value"])}
        else:
            assert ports == {"metrics": METRICS_PORT}
            assert env(container)["PLAYLEDGER_METRICS_PORT"]["value"] == str(METRICS_PORT)


def test_every_variable_a_container_gets_is_a_setting_it_reads() -> None:
    for name in CONFIG:
        assert name.removeprefix("PLAYLEDGER_").lower() in {
            f.name for f in msgspec.structs.fields(SETTINGS["streams-init"])
        }
    for _, _, container in workloads(BASE):
        fields = {f.name for f in msgspec.structs.fields(SETTINGS[container["name"]])}
        for name in env(container):
            assert name.removeprefix("PLAYLEDGER_").lower() in fields, f"{container['name']}: {name}"
        required = {f.name for f in msgspec.structs.fields(SETTINGS[container["name"]]) if f.required}
        given = {n.removeprefix("PLAYLEDGER_").lower() for n in [*env(container), *CONFIG]}
        assert required <= given, container["name"]
    executor = next(c for _, _, c in workloads(BASE) if c["name"] == "executor")
    assert "PLAYLEDGER_DATABASE_URL" not in env(executor)


def test_each_container_connects_as_its_own_nats_user_with_only_its_password() -> None:
    for doc, pod, container in workloads(BASE):
        variables = env(container)
        role = variables["PLAYLEDGER_NATS_USER"]["value"]
        assert role in ROLES
        assert role == ("admin" if doc["kind"] == "Job" else container["name"])
        assert "PLAYLEDGER_NATS_PASSWORD" not in variables
        password = Path(variables["PLAYLEDGER_NATS_PASSWORD_FILE"]["value"])
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(password.parent)]
        [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["secretName"] == USERS_SECRET
        assert volume["secret"]["items"] == [{"key": role, "path": password.name}]
        # the network policies let it reach NATS
        assert doc["spec"]["template"]["metadata"]["labels"]["playledger.io/nats-client"] == "true"


def policies() -> dict[str, Doc]:
    return {d["metadata"]["name"]: d["spec"] for d in BASE if d["kind"] == "NetworkPolicy"}


def egress_ports(labels: dict[str, str]) -> set[int]:
    """Every port the policies let a pod with ``labels`` connect to."""
    ports = set()
    for spec in policies().values():
        selector = spec["podSelector"]
        matches = all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and all(
            labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", [])
        )
        if matches:
            ports |= {p["port"] for rule in spec.get("egress", []) for p in rule["ports"]}
    return ports


def test_network_policies_deny_by_default_and_open_only_what_each_service_needs() -> None:
    deny = policies()["default-deny"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policies()["api-ingress"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8000}]}]
    expected = {
        "api": {53, 4222, 5432, 443},
        "executor": {53, 4222, 443, 22},
        "projector": {53, 4222, 5432},
        "notifier": {53, 4222, 5432, 443},
        "streams-init": {53, 4222},
    }
    for doc, _, container in workloads(BASE):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert egress_ports(labels) == expected[container["name"]], container["name"]
    nats = policies()["nats"]
    assert {p["port"] for rule in nats["ingress"] for p in rule["ports"]} == {4222, 6222, 8222}


def test_every_secret_the_manifests_use_is_created_in_the_readme() -> None:
    readme = (K8S / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")  # one line per command
    used: set[tuple[str, str]] = set()
    for _, pod, container in workloads(BASE):
        used |= {
            (v["secret"]["secretName"], i["key"])
            for v in pod["volumes"]
            if "secret" in v
            for i in v["secret"]["items"]
        }
        used |= {
            (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for e in container.get("env", [])
            if "valueFrom" in e
        }
        used |= {(s["secretRef"]["name"], "") for s in container.get("envFrom", []) if "secretRef" in s}
    for name, key in sorted(used):
        create = re.search(rf"kubectl create secret generic {name}\b[^\n]*", readme)
        assert create, f"deploy/k8s/README.md does not create the Secret {name}"
        assert not key or f"--from-literal={key}=" in create[0] or f"--from-file={key}=" in create[0], (
            name,
            key,
        )
    roles_line = re.search(r"for role in ([a-z ]+); do", readme)
    assert roles_line
    assert roles_line[1].split() == list(ROLES)


def test_the_nats_values_are_generated_from_the_role_rules() -> None:
    committed = (K8S / "nats/values.yaml").read_text(encoding="utf-8")
    generated = CliRunner().invoke(cli, ["nats-config", "helm-values"])
    assert generated.exit_code == 0, generated.output
    assert committed == generated.output, (
        "regenerate: playledger nats-config helm-values > deploy/k8s/nats/values.yaml"
    )
    values = yaml.safe_load(committed)
    config = values["config"]
    assert config["cluster"] == {"enabled": True, "replicas": CHART_REPLICAS}
    assert CHART_REPLICAS == 3
    assert config["jetstream"]["enabled"] is True
    assert config["jetstream"]["fileStore"]["pvc"]["enabled"] is True
    users = config["merge"]["authorization"]["users"]
    assert [u["user"] for u in users] == list(ROLES)
    for user in users:  # no password in the file: each from the Secret, through the environment
        variable = password_variable(user["user"])
        assert user["password"] == f"<< ${variable} >>"
        ref = values["container"]["env"][variable]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": USERS_SECRET, "key": user["user"]}
    assert CONFIG["PLAYLEDGER_EVENTS_REPLICAS"] == str(CHART_REPLICAS)  # streams-init makes R3 streams
    assert CONFIG["PLAYLEDGER_NATS_URL"] == "nats://nats:4222"  # the chart's client Service


def test_the_keda_scaler_watches_every_run_consumer_of_the_executor() -> None:
    """A CRD kubernetes-validate does not know: its structure, against the code's names."""
    [scaled] = KEDA
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["kind"] == "ScaledObject"
    executor = next(d for d in BASE if d["metadata"]["name"] == "playledger-executor")
    assert scaled["spec"]["scaleTargetRef"] == {"name": executor["metadata"]["name"]}
    assert 1 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"]
    triggers = scaled["spec"]["triggers"]
    assert {t["type"] for t in triggers} == {"nats-jetstream"}
    assert [t["metadata"]["consumer"] for t in triggers] == [run_consumer(p) for p in PRIORITIES]
    for trigger in triggers:
        meta = trigger["metadata"]
        assert meta["stream"] == COMMANDS_STREAM
        assert meta["account"] == "$G"
        assert meta["natsServerMonitoringEndpoint"].endswith(":8222")
        assert int(meta["lagThreshold"]) >= 1
