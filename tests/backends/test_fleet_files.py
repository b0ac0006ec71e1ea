"""docker/k8s and docker/compose.fleet.yml: the fleet (load balancer -> stateless ponder gateways ->
vllm-router -> vLLM engines) is wired end to end: every URL names a service and port that exist, the
gateways' PONDER_* environment is settings ponder really has, the probes hit routes that exist, and a
stop gives searches their grace. Where vllm-router, kubectl or docker compose are installed, they read
the files too."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from app.http.routes import open_router
from app.ops.shutdown import STOP_WAIT_S
from app.settings import Settings, default_tiers

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
K8S = DOCKER / "k8s"
NAMESPACE = "ponder"
DEFAULT = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")
ROUTES = {route.path for route in open_router.routes}  # type: ignore[attr-defined]


# --- helpers ------------------------------------------------------------------------------------


def manifests() -> list[dict[str, Any]]:
    """Every object in the kustomization's resources, in order."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"]
            for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def find(kind: str, name: str) -> dict[str, Any]:
    [found] = [m for m in manifests() if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


def port_number(ports: list[dict[str, Any]], name_or_number: str | int) -> int:
    """A container port by number, or by the name a probe or Service gives it."""
    if isinstance(name_or_number, int):
        return name_or_number
    [number] = [p["containerPort"] for p in ports if p["name"] == name_or_number]
    return int(number)


def argument(args: list[str], flag: str) -> str | None:
    """The value of `--flag=value` or `--flag value` in an argument list."""
    for i, part in enumerate(args):
        if part == flag and i + 1 < len(args):
            return args[i + 1]
        if part.startswith(flag + "="):
            return part.split("=", 1)[1]
    return None


def values(args: list[str], flag: str) -> list[str]:
    """The values of a many-valued flag (`--worker-urls A B`): everything up to the next flag."""
    start = args.index(flag) + 1
    end = next((i for i in range(start, len(args)) if args[i].startswith("--")), len(args))
    return args[start:end]


def resolved(value: str) -> str:
    """A compose value with every ${VAR:-default} replaced by its default (what an empty environment gets)."""
    return DEFAULT.sub(lambda m: m.group(2) or "", value)


def seconds(duration: str | int) -> float:
    """A compose duration ("80s", "1m30s") or a number of seconds."""
    if isinstance(duration, int):
        return duration
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    assert {k.removeprefix("PONDER_").lower() for k in env} <= Settings.model_fields.keys()
    for key in [k for k in os.environ if k.startswith("PONDER_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.fleet.yml").read_text())


def gateway_env(deployment: dict[str, Any]) -> dict[str, str]:
    """The gateway's environment as the pod sees it, the tiers ConfigMap and an absent API-key Secret included."""
    env: dict[str, str] = {}
    for var in container(deployment)["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "configMapKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["configMapKeyRef"]
            env[var["name"]] = config_map_file(ref["name"], ref["key"])
        else:
            assert var["valueFrom"]["secretKeyRef"].get("optional") is True, var  # no Secret ships
    return env


def config_map_file(name: str, key: str) -> str:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    [generator] = [g for g in kustomization["configMapGenerator"] if g["name"] == name]
    assert key in generator["files"]
    return (K8S / key).read_text()


def router_parser() -> list[str] | None:
    """The command that runs Python with vllm_router importable, or None where it is not installed."""
    script = os.environ.get("PONDER_VLLM_ROUTER") or shutil.which("vllm-router")
    if script is None:
        return None
    first = Path(script).read_text(errors="replace").splitlines()[0]
    return [first.removeprefix("#!").strip()] if first.startswith("#!") else None


def parse_router_args(args: list[str]) -> dict[str, Any]:
    """What vllm-router's own argument parser makes of `args` (skips where vllm-router is not installed)."""
    python = router_parser()
    if python is None:
        pytest.skip("vllm-router is not installed (pip install vllm-router==0.1.17, or set PONDER_VLLM_ROUTER)")
    code = ("import dataclasses, json, sys; from vllm_router.launch_router import parse_router_args; "
            "print(json.dumps(dataclasses.asdict(parse_router_args(json.loads(sys.argv[1]))), default=str))")
    done = subprocess.run([*python, "-c", code, json.dumps(args)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


# --- Kubernetes ---------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest_and_every_object_is_namespaced():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == NAMESPACE
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk
    for obj in manifests():
        assert {"apiVersion", "kind", "metadata"} <= obj.keys()
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == NAMESPACE
        else:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]["name"]


def test_every_service_selects_the_pods_of_a_deployment_and_names_their_ports():
    deployments = [m for m in manifests() if m["kind"] == "Deployment"]
    for service in (m for m in manifests() if m["kind"] == "Service"):
        selector = service["spec"]["selector"]
        [target] = [d for d in deployments
                    if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        labels = target["spec"]["template"]["metadata"]["labels"]
        assert target["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ports = container(target)["ports"]
        for port in service["spec"]["ports"]:
            port_number(ports, port["targetPort"])  # a port the container declares


def test_gateway_environment_is_real_settings_pointing_at_the_router(monkeypatch):
    gateway = find("Deployment", "ponder-gateway")
    settings = settings_from(gateway_env(gateway), monkeypatch)
    assert settings.backend == "openai"
    url = urlparse(settings.base_url)
    router = find("Service", "vllm-router")
    [http] = [p for p in router["spec"]["ports"] if p["name"] == "http"]
    assert (url.hostname, url.port) == (router["metadata"]["name"], http["port"])
    engine = container(find("Deployment", "vllm-engine"))
    assert settings.model == engine["args"][0]  # the name ponder sends is the one the engines serve
    # behind a router the cap counts the whole fleet: gateways x cap = engines x per-engine depth (32)
    replicas = gateway["spec"]["replicas"]
    assert settings.backend_max_in_flight * replicas == find("Deployment", "vllm-engine")["spec"]["replicas"] * 32


def test_shipped_tiers_are_the_default_tiers(monkeypatch):
    tiers = json.loads((K8S / "tiers.json").read_text())
    settings = settings_from({"PONDER_TIERS": json.dumps(tiers)}, monkeypatch)  # validated against the strategies
    assert settings.tiers == default_tiers(), "regenerate docker/k8s/tiers.json from app.settings.default_tiers()"


def test_gateway_probes_readiness_on_health_and_liveness_without_the_backend():
    gateway = container(find("Deployment", "ponder-gateway"))
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/health"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert gateway["startupProbe"]["httpGet"]["path"] == "/livez"
    assert {"/health", "/livez"} <= ROUTES
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert port_number(gateway["ports"], gateway[probe]["httpGet"]["port"]) == 8000  # the Dockerfile's port
    # ponder's own probe of the backend times out at 5 s: the readiness probe must outwait it
    assert gateway["readinessProbe"]["timeoutSeconds"] > 5


def test_gateway_stop_outlasts_the_shutdown_grace(monkeypatch):
    deployment = find("Deployment", "ponder-gateway")
    pod = deployment["spec"]["template"]["spec"]
    settings = settings_from(gateway_env(deployment), monkeypatch)
    pre_stop = container(deployment)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    needed = float(pre_stop[1]) + settings.shutdown_grace_s + STOP_WAIT_S
    assert pod["terminationGracePeriodSeconds"] >= needed + 10
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdb = find("PodDisruptionBudget", "ponder-gateway")
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_gateways_share_one_trace_folder_and_the_caller_secret(monkeypatch):
    """Stateless gateways: a trace is found through any gateway (app/traces/store.py) only when all of them
    write to one shared folder and key owners with one secret."""
    deployment = find("Deployment", "ponder-gateway")
    pod = deployment["spec"]["template"]["spec"]
    settings = settings_from(gateway_env(deployment), monkeypatch)
    [mount] = [m for m in container(deployment)["volumeMounts"] if Path(m["mountPath"]) == settings.trace_dir]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    claim = find("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # every gateway pod, on any node, writes there
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    [secret] = [v for v in container(deployment)["env"] if v["name"] == "PONDER_CALLER_SECRET"]
    assert secret["valueFrom"]["secretKeyRef"]["name"]
    services = compose()["services"]
    for name in GATEWAYS:
        env = {k: resolved(str(v)) for k, v in services[name]["environment"].items()}
        assert env["PONDER_TRACE_DIR"] == "/var/lib/ponder/traces" and "PONDER_CALLER_SECRET" in env
        assert services[name]["volumes"] == ["traces:/var/lib/ponder/traces"]
    assert "traces" in compose()["volumes"]
    assert "install -d -m 0700 -o ponder -g ponder /var/lib/ponder/traces" in (DOCKER / "Dockerfile").read_text()


def test_every_container_has_resources_and_probes():
    for deployment in (m for m in manifests() if m["kind"] == "Deployment"):
        spec = container(deployment)
        assert {"requests", "limits"} <= spec["resources"].keys(), deployment["metadata"]["name"]
        assert {"readinessProbe", "livenessProbe"} <= spec.keys(), deployment["metadata"]["name"]


def test_router_discovers_the_engine_pods_in_its_namespace():
    router = find("Deployment", "vllm-router")
    spec = container(router)
    args = [str(a) for a in spec["args"]]
    assert spec["command"] == ["vllm-router"]
    assert "--service-discovery" in args
    selector = dict(item.split("=", 1) for item in values(args, "--selector"))
    engine = find("Deployment", "vllm-engine")
    assert selector.items() <= engine["spec"]["template"]["metadata"]["labels"].items()
    assert int(argument(args, "--service-discovery-port") or 0) == port_number(container(engine)["ports"], "http")
    # the namespace is the pod's own (Kubernetes expands $(POD_NAMESPACE) in args)
    assert argument(args, "--service-discovery-namespace") == "$(POD_NAMESPACE)"
    [var] = [v for v in spec["env"] if v["name"] == "POD_NAMESPACE"]
    assert var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    # and it may watch pods there: a Role bound to the pod's ServiceAccount
    account = router["spec"]["template"]["spec"]["serviceAccountName"]
    assert find("ServiceAccount", account)
    binding = find("RoleBinding", account)
    assert {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE} in binding["subjects"]
    role = find("Role", binding["roleRef"]["name"])
    assert any("pods" in r["resources"] and {"get", "list", "watch"} <= set(r["verbs"]) for r in role["rules"])


def test_router_hashes_the_search_session_exports_metrics_and_probes_its_own_routes():
    spec = container(find("Deployment", "vllm-router"))
    args = [str(a) for a in spec["args"]]
    assert argument(args, "--policy") == "consistent_hash"  # on ponder's per-search X-Session-ID
    assert int(argument(args, "--port") or 0) == port_number(spec["ports"], "http")
    assert argument(args, "--prometheus-host") == "0.0.0.0"  # its default, 127.0.0.1, cannot be scraped
    assert int(argument(args, "--prometheus-port") or 0) == port_number(spec["ports"], "metrics")
    assert argument(args, "--health-check-endpoint") == "/health"
    # /readiness stays 200 while one engine is healthy; /health turns 503 when any one is not
    assert spec["readinessProbe"]["httpGet"]["path"] == "/readiness"
    assert spec["livenessProbe"]["httpGet"]["path"] == "/liveness"


def test_engines_are_one_gpu_vllm_servers_with_prefix_caching_reported():
    engine = container(find("Deployment", "vllm-engine"))
    assert engine["command"] == ["vllm", "serve"]
    args = [str(a) for a in engine["args"]]
    assert {"--enable-prefix-caching", "--enable-prompt-tokens-details"} <= set(args)
    assert int(argument(args, "--port") or 0) == port_number(engine["ports"], "http")
    for side in ("requests", "limits"):
        assert engine["resources"][side]["nvidia.com/gpu"] == "1"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert engine[probe]["httpGet"]["path"] == "/health"
    pod = find("Deployment", "vllm-engine")["spec"]["template"]["spec"]
    [shm] = [v for v in pod["volumes"] if v["name"] == "shm"]
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "shm", "mountPath": "/dev/shm"} in engine["volumeMounts"]


def test_vllm_router_accepts_the_kubernetes_arguments():
    args = [str(a).replace("$(POD_NAMESPACE)", NAMESPACE) for a in container(find("Deployment", "vllm-router"))["args"]]
    parsed = parse_router_args(args)
    assert parsed["service_discovery"] is True
    assert parsed["selector"] == {"app.kubernetes.io/name": "vllm-engine", "app.kubernetes.io/part-of": "ponder"}
    assert (parsed["service_discovery_namespace"], parsed["service_discovery_port"]) == (NAMESPACE, 8000)
    assert (parsed["policy"], parsed["host"], parsed["port"]) == ("consistent_hash", "0.0.0.0", 8000)
    assert (parsed["prometheus_host"], parsed["prometheus_port"]) == ("0.0.0.0", 29000)


def test_kubectl_renders_the_kustomization_with_the_tiers_config_map():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl on this machine")
    done = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d]
    [tiers] = [d for d in rendered if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("ponder-tiers-")]
    assert json.loads(tiers["data"]["tiers.json"]) == json.loads((K8S / "tiers.json").read_text())
    [gateway] = [d for d in rendered if d["kind"] == "Deployment" and d["metadata"]["name"] == "ponder-gateway"]
    [ref] = [v["valueFrom"]["configMapKeyRef"] for v in container(gateway)["env"] if v["name"] == "PONDER_TIERS"]
    assert ref["name"] == tiers["metadata"]["name"]  # the hashed name: a change to the tiers rolls the gateways


# --- compose: one machine, several GPUs ---------------------------------------------------------


ENGINES = ("vllm-0", "vllm-1")
GATEWAYS = ("gateway-0", "gateway-1")


def test_fleet_compose_has_engines_a_router_gateways_and_a_load_balancer():
    services = compose()["services"]
    assert set(services) == {*ENGINES, "router", *GATEWAYS, "lb"}
    gpus = []
    for name in ENGINES:
        [device] = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
        gpus += device["device_ids"]
    assert sorted(gpus) == ["0", "1"]  # one GPU each, not the same one
    for service in services.values():
        assert {"interval", "timeout", "retries"} <= service["healthcheck"].keys()
        assert service["restart"] == "unless-stopped"
    # only the load balancer (and the router's metrics, on loopback) is published
    assert [resolved(p) for p in services["lb"]["ports"]] == ["8000:8000"]
    assert all("ports" not in services[name] for name in (*ENGINES, *GATEWAYS))
    assert all(p.startswith("127.0.0.1:") for p in services["router"]["ports"])


def test_fleet_router_routes_to_both_engines():
    services = compose()["services"]
    args = [resolved(str(a)) for a in services["router"]["command"]]
    urls = [urlparse(u) for u in values(args, "--worker-urls")]
    for url, name in zip(urls, ENGINES, strict=True):
        engine_args = [resolved(str(a)) for a in services[name]["command"]]
        assert (url.hostname, url.port) == (name, int(argument(engine_args, "--port") or 0))
        assert "--enable-prompt-tokens-details" in engine_args
    assert argument(args, "--policy") == "consistent_hash"  # on ponder's per-search X-Session-ID
    assert argument(args, "--prometheus-host") == "0.0.0.0"
    [metrics] = services["router"]["ports"]
    assert resolved(metrics) == f"127.0.0.1:29000:{argument(args, '--prometheus-port')}"
    assert "pip install --no-cache-dir vllm-router==0.1.17" in services["router"]["build"]["dockerfile_inline"]
    assert "/readiness" in " ".join(services["router"]["healthcheck"]["test"])


def test_vllm_router_accepts_the_compose_arguments():
    parsed = parse_router_args([resolved(str(a)) for a in compose()["services"]["router"]["command"]])
    assert parsed["worker_urls"] == ["http://vllm-0:8000", "http://vllm-1:8000"]
    assert (parsed["policy"], parsed["port"], parsed["prometheus_port"]) == ("consistent_hash", 8000, 29000)
    assert parsed["worker_startup_timeout_secs"] >= 900  # the first start downloads the weights


@pytest.mark.parametrize("name", GATEWAYS)
def test_fleet_gateways_are_real_settings_pointing_at_the_router(name, monkeypatch):
    services = compose()["services"]
    gateway = services[name]
    assert gateway["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert gateway["depends_on"] == {"router": {"condition": "service_healthy"}}
    settings = settings_from({k: resolved(str(v)) for k, v in gateway["environment"].items()}, monkeypatch)
    assert settings.backend == "openai"
    url = urlparse(settings.base_url)
    router_args = [resolved(str(a)) for a in services["router"]["command"]]
    assert (url.hostname, url.port) == ("router", int(argument(router_args, "--port") or 0))
    assert settings.model == resolved(str(services["vllm-0"]["command"][0]))
    assert settings.backend_max_in_flight * len(GATEWAYS) == len(ENGINES) * 32
    # docker stop waits this long before SIGKILL: the grace and the answers' write-out must fit
    assert seconds(gateway["stop_grace_period"]) >= settings.shutdown_grace_s + STOP_WAIT_S + 10
    assert urlparse(re.findall(r"https?://[^'\" ]+", " ".join(gateway["healthcheck"]["test"]))[0]).path == "/health"


def test_load_balancer_spreads_over_every_gateway():
    services = compose()["services"]
    lb = services["lb"]
    [mount] = lb["volumes"]
    source, target, mode = mount.split(":")
    conf = (DOCKER / source).resolve()
    assert conf == DOCKER / "nginx.fleet.conf" and target == "/etc/nginx/conf.d/default.conf" and mode == "ro"
    text = conf.read_text()
    upstream = re.search(r"upstream\s+(\w+)\s*\{(.*?)\}", text, re.S)
    assert upstream is not None
    servers = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", upstream.group(2), re.M)
    assert sorted(servers) == [(name, "8000") for name in GATEWAYS]
    assert f"proxy_pass http://{upstream.group(1)};" in text
    assert re.search(r"^\s*listen\s+8000;", text, re.M)
    assert re.search(r"^\s*proxy_buffering\s+off;", text, re.M)  # streamed answers pass through as they come
    assert lb["depends_on"] == {name: {"condition": "service_healthy"} for name in GATEWAYS}


def test_docker_compose_accepts_the_fleet_file():
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("no docker compose on this machine")
    done = subprocess.run([docker, "compose", "-f", str(DOCKER / "compose.fleet.yml"), "config", "--quiet"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
