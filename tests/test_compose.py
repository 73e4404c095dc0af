"""docker-compose.yml, the Dockerfile and .dockerignore, checked against the code without Docker.

``compose_problems`` holds every rule; it must find nothing in the real file
and must catch a broken copy (a renamed subcommand, a misspelt variable, a
port open to the network, ...), which the mutation tests make sure of.
"""

from __future__ import annotations

import argparse
import copy
import re
import shlex
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import Settings
from fleetcast.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# The long-running services, each run as `fleetcast <name>` by a service of that name.
REQUIRED_SERVICES = ("produce", "process", "infer", "api", "ui")
# Services that publish HTTP: the settings fields giving their port, the path to probe.
HTTP_SERVICES = {"api": ("api_port", "/health"), "ui": ("ui_port", "/")}
# Where each service serves Prometheus metrics (the settings field of its port): the API
# on its own port, the others on a port of their own that their healthcheck probes.
METRICS_PORTS = {"produce": "metrics_port_produce", "process": "metrics_port_process",
                 "infer": "metrics_port_infer", "ui": "metrics_port_ui", "api": "api_port"}
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus.yml"
SECURITY_VARIABLES = (
    "FLEETCAST_KAFKA_SECURITY_PROTOCOL",
    "FLEETCAST_KAFKA_SASL_MECHANISM",
    "FLEETCAST_KAFKA_SASL_USERNAME",
    "FLEETCAST_KAFKA_SASL_PASSWORD",
    "FLEETCAST_KAFKA_SSL_CAFILE",
)
COMPOSE_VARIABLE = re.compile(r"\$\{[^}]*\}")


def cli_subcommands() -> set[str]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("fleetcast's parser has no subcommands")


def settings_variables() -> set[str]:
    """Every FLEETCAST_* name the settings read."""
    return {f"FLEETCAST_{name.upper()}" for name in Settings.model_fields}


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "KEY=value" list form
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _ports(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host ip, container port) of each published port, short or long syntax."""
    published = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            published.append((str(port.get("host_ip", "")), str(port.get("target", ""))))
            continue
        parts = str(port).split("/")[0].rsplit(":", 2)
        host_ip = parts[0] if len(parts) == 3 else ""
        published.append((host_ip, parts[-1]))
    return published


def _healthcheck(service: dict[str, Any]) -> str:
    check = service.get("healthcheck") or {}
    if check.get("disable"):
        return ""
    test = check.get("test") or ""
    return " ".join(map(str, test)) if isinstance(test, list) else str(test)


def _int_setting(env: dict[str, Any], field: str) -> int | None:
    """The value a service's environment gives an int setting (its default when unset)."""
    value = env.get(f"FLEETCAST_{field.upper()}")
    if value is None:
        return int(Settings.model_fields[field].default)
    text = COMPOSE_VARIABLE.sub("", str(value))
    return int(text) if text.isdigit() else None


def _named_volumes(service: dict[str, Any]) -> list[str]:
    names = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            source = str(volume.get("source", "")) if volume.get("type") == "volume" else ""
        else:
            source = str(volume).split(":")[0] if ":" in str(volume) else ""
        if source and not source.startswith((".", "/", "~", "$")):
            names.append(source)
    return names


#: Services in these profiles talk to their own broker: (service name, bootstrap).
BROKER_OF_PROFILE = {"sasl": ("kafka-sasl", "kafka-sasl:19094")}


def _profile(service: dict[str, Any]) -> str | None:
    profiles = service.get("profiles") or []
    return next((p for p in profiles if p in BROKER_OF_PROFILE), None)


def _service_problems(
    name: str, service: dict[str, Any], subcommands: set[str], variables: set[str],
    declared_volumes: set[str],
) -> list[str]:
    problems: list[str] = []
    env = _environment(service)
    command = _command(service)
    is_fleetcast = bool(command) and command[0] == "fleetcast"

    if not service.get("restart"):
        problems.append(f"{name}: no restart policy")
    if not _healthcheck(service):
        problems.append(f"{name}: no healthcheck")
    for volume in _named_volumes(service):
        if volume not in declared_volumes:
            problems.append(f"{name}: volume {volume!r} is not declared under volumes:")
    for host_ip, target in _ports(service):
        if host_ip != "127.0.0.1":
            problems.append(f"{name}: port {target} is published on {host_ip or 'all interfaces'}"
                            ", not 127.0.0.1")
    for key in env:
        if key.startswith("FLEETCAST_") and key not in variables:
            problems.append(f"{name}: {key} is not a Settings field")

    if not is_fleetcast:
        return problems
    if len(command) < 2 or command[1] not in subcommands:
        problems.append(f"{name}: {shlex.join(command)!r} is not a fleetcast subcommand "
                        f"(known: {', '.join(sorted(subcommands))})")
    broker, bootstrap = BROKER_OF_PROFILE.get(_profile(service), ("kafka", "kafka:19092"))
    if env.get("KAFKA_BOOTSTRAP_SERVERS") != bootstrap:
        problems.append(f"{name}: KAFKA_BOOTSTRAP_SERVERS is not {bootstrap}")
    problems.extend(f"{name}: {variable} is not passed through"
                    for variable in SECURITY_VARIABLES if variable not in env)
    if broker == "kafka-sasl" and env.get("FLEETCAST_KAFKA_SECURITY_PROTOCOL") != "SASL_PLAINTEXT":
        problems.append(f"{name}: does not log in to {broker} with SASL")
    depends = service.get("depends_on") or {}
    if not isinstance(depends, dict) or (depends.get(broker) or {}).get(
            "condition") != "service_healthy":
        problems.append(f"{name}: does not wait for {broker} to be healthy")
    build = service.get("build")
    context = build if isinstance(build, str) else (build or {}).get("context")
    dockerfile = "Dockerfile" if isinstance(build, str) else (build or {}).get(
        "dockerfile", "Dockerfile")
    if context is None or not (ROOT / context / dockerfile).is_file():
        problems.append(f"{name}: not built from the project's Dockerfile")

    if len(command) >= 2 and command[1] in METRICS_PORTS:
        problems.extend(_metrics_problems(name, command[1], env, service))
    if len(command) >= 2 and command[1] in HTTP_SERVICES:
        field, path = HTTP_SERVICES[command[1]]
        port = _int_setting(env, field)
        host_field = field.replace("_port", "_host")
        if env.get(f"FLEETCAST_{host_field.upper()}") != "0.0.0.0":
            problems.append(f"{name}: FLEETCAST_{host_field.upper()} must be 0.0.0.0 "
                            "to be reachable through the published port")
        if (port is None or str(port) not in {target for _, target in _ports(service)}):
            problems.append(f"{name}: the container port of {field} ({port}) is not published")
        check = _healthcheck(service)
        url = rf"http://127\.0\.0\.1:{port}{re.escape(path)}['\"]"
        if "urllib" not in check or not re.search(url, check):
            problems.append(f"{name}: no HTTP healthcheck on http://127.0.0.1:{port}{path}")
    return problems


def _metrics_problems(name: str, subcommand: str, env: dict[str, Any],
                      service: dict[str, Any]) -> list[str]:
    """/metrics must be reachable in the network, and probed where no other HTTP is."""
    problems = []
    if subcommand != "api" and env.get("FLEETCAST_METRICS_HOST") != "0.0.0.0":
        problems.append(f"{name}: FLEETCAST_METRICS_HOST must be 0.0.0.0 for Prometheus")
    port = _int_setting(env, METRICS_PORTS[subcommand])
    if not port:
        problems.append(f"{name}: its metrics port is off or not a number")
    elif subcommand not in HTTP_SERVICES:
        url = rf"http://127\.0\.0\.1:{port}/metrics['\"]"
        if not re.search(url, _healthcheck(service)):
            problems.append(f"{name}: no healthcheck on http://127.0.0.1:{port}/metrics")
    return problems


def scrape_targets(compose: dict[str, Any]) -> set[str]:
    """host:port of every always-on fleetcast service's /metrics, from the compose file."""
    targets = set()
    for name, service in (compose.get("services") or {}).items():
        command = _command(service)
        if service.get("profiles") or command[:1] != ["fleetcast"] or len(command) < 2:
            continue
        if command[1] in METRICS_PORTS:
            targets.add(f"{name}:{_int_setting(_environment(service), METRICS_PORTS[command[1]])}")
    return targets


def prometheus_problems(compose: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The monitoring profile: Prometheus, behind the profile, scraping every service."""
    prometheus = (compose.get("services") or {}).get("prometheus")
    if prometheus is None:
        return ["prometheus: no service (the monitoring profile)"]
    problems = []
    if prometheus.get("profiles") != ["monitoring"]:
        problems.append("prometheus: not behind the `monitoring` profile")
    if not str(prometheus.get("image", "")).startswith("prom/prometheus:"):
        problems.append("prometheus: not the official prom/prometheus image (with a tag)")
    mounts = [str(v) for v in prometheus.get("volumes") or []]
    if not any(m.startswith("./deploy/prometheus.yml:") for m in mounts):
        problems.append("prometheus: deploy/prometheus.yml is not mounted")
    scraped = {str(target) for job in config.get("scrape_configs") or []
               for static in job.get("static_configs") or [] for target in static["targets"]}
    problems.extend(f"prometheus: does not scrape {target}"
                    for target in sorted(scrape_targets(compose) - scraped))
    return problems


def compose_problems(compose: dict[str, Any]) -> list[str]:
    """Everything wrong with a parsed docker-compose.yml; empty when it is sound."""
    subcommands = cli_subcommands()
    variables = settings_variables()
    services: dict[str, Any] = compose.get("services") or {}
    declared_volumes = set(compose.get("volumes") or {})
    problems: list[str] = []

    kafka = services.get("kafka")
    if kafka is None:
        problems.append("no kafka service")
    else:
        if not str(kafka.get("image", "")).startswith("apache/kafka:"):
            problems.append("kafka: not the official apache/kafka image (with a tag)")
        if not any(str(v).endswith(":/var/lib/kafka/data") for v in kafka.get("volumes") or []):
            problems.append("kafka: no volume on /var/lib/kafka/data")
        if "kafka-broker-api-versions" not in _healthcheck(kafka):
            problems.append("kafka: no broker healthcheck")
        env = _environment(kafka)
        for key in ("KAFKA_NODE_ID", "KAFKA_PROCESS_ROLES", "KAFKA_CONTROLLER_QUORUM_VOTERS",
                    "CLUSTER_ID"):
            if key not in env:
                problems.append(f"kafka: {key} is not set (KRaft)")
        if "kafka:19092" not in str(env.get("KAFKA_ADVERTISED_LISTENERS", "")):
            problems.append("kafka: kafka:19092 is not advertised to the services")
        if str(env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE")).lower() != "false":
            problems.append("kafka: topic auto-creation is on")

    commands = {name: _command(service) for name, service in services.items()}
    for required in REQUIRED_SERVICES:
        if commands.get(required, [])[:2] != ["fleetcast", required]:
            problems.append(f"{required}: no service running `fleetcast {required}`")
    for name, service in services.items():
        problems.extend(_service_problems(name, service, subcommands, variables,
                                          declared_volumes))
    return problems


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


# -- the real files -------------------------------------------------------------------------------


def test_compose_file_has_no_problems() -> None:
    assert compose_problems(load_compose()) == []


def load_prometheus_config() -> dict[str, Any]:
    return yaml.safe_load(PROMETHEUS_CONFIG.read_text())


def test_prometheus_scrapes_every_service_behind_the_monitoring_profile() -> None:
    compose = load_compose()
    assert prometheus_problems(compose, load_prometheus_config()) == []
    assert scrape_targets(compose) == {"produce:9101", "process:9102", "infer:9103", "ui:9104",
                                       "api:8000"}
    assert "prometheus-data" in compose["volumes"]


@pytest.mark.parametrize("mutate, expected", [
    (lambda c, p: c["services"]["prometheus"].pop("profiles"), "`monitoring` profile"),
    (lambda c, p: p["scrape_configs"][0]["static_configs"].pop(0), "does not scrape produce:9101"),
    (lambda c, p: c["services"]["infer"]["environment"].update(FLEETCAST_METRICS_PORT_INFER=9200),
     "does not scrape infer:9200"),
    (lambda c, p: c["services"].pop("prometheus"), "prometheus: no service"),
], ids=["no profile", "target missing", "port moved", "no prometheus"])
def test_prometheus_checker_catches(mutate, expected) -> None:
    compose, config = copy.deepcopy(load_compose()), load_prometheus_config()
    mutate(compose, config)
    problems = prometheus_problems(compose, config)
    assert any(expected in problem for problem in problems), problems


def test_api_token_comes_from_the_host_and_infer_gpu_is_optional() -> None:
    services = load_compose()["services"]
    assert _environment(services["api"])["FLEETCAST_API_TOKEN"] == "${FLEETCAST_API_TOKEN:-}"
    assert "deploy" not in services["infer"], "a hard GPU reservation breaks CPU-only hosts"
    gpu = services["infer-gpu"]
    assert gpu["profiles"] == ["gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_process_state_is_on_a_volume() -> None:
    process = load_compose()["services"]["process"]
    state_dir = _environment(process)["FLEETCAST_STATE_DIR"]
    assert any(str(v).endswith(f":{state_dir}") for v in process["volumes"])


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines if line and not line.startswith("#")
    ]


def test_dockerfile_installs_the_project_as_a_non_root_user() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert ("WORKDIR", "/app") in instructions
    copied = " ".join(arg for op, arg in instructions if op == "COPY").split()
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]
    packages = [pattern.rstrip("*") for pattern in find["include"]]
    for needed in ["pyproject.toml", *packages, "models"]:
        assert needed in copied, f"the Dockerfile does not copy {needed}"
    runs = [arg for op, arg in instructions if op == "RUN"]
    assert any(re.search(r"\bpip install\b.*\s\"\.\$\{EXTRAS:\+\[\$EXTRAS\]\}\"$", run)
               for run in runs), "no `pip install .` (with modelling's extra only on request)"
    assert ("ARG", 'EXTRAS=""') in instructions, "the serving image installs no modelling extra"
    assert any("https://download.pytorch.org/whl/cpu" in arg
               for op, arg in instructions if op == "ARG"), "torch must default to the CPU wheel"
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1] not in {"root", "0"}


def test_dockerignore_keeps_the_environment_and_history_out() -> None:
    entries = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".venv", ".git", "tests/artifacts"} <= entries


# -- the checker catches breakage ---------------------------------------------------------------


def _rename_subcommand(c: dict[str, Any]) -> None:
    c["services"]["process"]["command"] = ["fleetcast", "stream"]


def _misspell_variable(c: dict[str, Any]) -> None:
    c["services"]["api"]["environment"]["FLEETCAST_API_HOSTNAME"] = "0.0.0.0"


def _drop_bootstrap(c: dict[str, Any]) -> None:
    del c["services"]["infer"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"]


def _open_port(c: dict[str, Any]) -> None:
    c["services"]["ui"]["ports"] = ["5006:5006"]


def _open_port_long_syntax(c: dict[str, Any]) -> None:
    c["services"]["api"]["ports"] = [{"target": 8000, "published": 8000}]


def _drop_restart(c: dict[str, Any]) -> None:
    del c["services"]["produce"]["restart"]


def _drop_kafka_healthcheck(c: dict[str, Any]) -> None:
    del c["services"]["kafka"]["healthcheck"]


def _other_kafka_image(c: dict[str, Any]) -> None:
    c["services"]["kafka"]["image"] = "bitnami/kafka:3.9"


def _drop_kafka_volume(c: dict[str, Any]) -> None:
    del c["services"]["kafka"]["volumes"]


def _drop_service(c: dict[str, Any]) -> None:
    del c["services"]["ui"]


def _drop_api_healthcheck(c: dict[str, Any]) -> None:
    del c["services"]["api"]["healthcheck"]


def _api_on_loopback(c: dict[str, Any]) -> None:
    c["services"]["api"]["environment"]["FLEETCAST_API_HOST"] = "127.0.0.1"


def _move_ui_port(c: dict[str, Any]) -> None:
    c["services"]["ui"]["environment"]["FLEETCAST_UI_PORT"] = 5007


def _no_wait_for_kafka(c: dict[str, Any]) -> None:
    del c["services"]["api"]["depends_on"]


def _undeclared_volume(c: dict[str, Any]) -> None:
    del c["volumes"]["process-state"]


def _no_security_pass_through(c: dict[str, Any]) -> None:
    del c["services"]["produce"]["environment"]["FLEETCAST_KAFKA_SASL_PASSWORD"]


def _list_form_typo(c: dict[str, Any]) -> None:
    env = c["services"]["infer"]["environment"]
    c["services"]["infer"]["environment"] = [f"{k}={v}" for k, v in env.items()] + [
        "FLEETCAST_BATCHSIZE=32"]


MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "renamed subcommand": (_rename_subcommand, "fleetcast stream"),
    "misspelt variable": (_misspell_variable, "FLEETCAST_API_HOSTNAME"),
    "no bootstrap": (_drop_bootstrap, "infer: KAFKA_BOOTSTRAP_SERVERS"),
    "open port": (_open_port, "ui: port 5006"),
    "open port, long syntax": (_open_port_long_syntax, "api: port 8000"),
    "no restart": (_drop_restart, "produce: no restart"),
    "no kafka healthcheck": (_drop_kafka_healthcheck, "kafka: no broker healthcheck"),
    "other kafka image": (_other_kafka_image, "apache/kafka"),
    "no kafka volume": (_drop_kafka_volume, "/var/lib/kafka/data"),
    "missing service": (_drop_service, "ui: no service"),
    "no api healthcheck": (_drop_api_healthcheck, "api: no HTTP healthcheck"),
    "api on loopback": (_api_on_loopback, "FLEETCAST_API_HOST must be 0.0.0.0"),
    "ui port moved": (_move_ui_port, "ui: the container port"),
    "no wait for kafka": (_no_wait_for_kafka, "api: does not wait"),
    "undeclared volume": (_undeclared_volume, "'process-state' is not declared"),
    "no security pass-through": (_no_security_pass_through, "FLEETCAST_KAFKA_SASL_PASSWORD"),
    "typo in list-form env": (_list_form_typo, "FLEETCAST_BATCHSIZE"),
    "no produce healthcheck": (lambda c: c["services"]["produce"].pop("healthcheck"),
                               "produce: no healthcheck"),
    "metrics on loopback": (
        lambda c: c["services"]["process"]["environment"].update(
            FLEETCAST_METRICS_HOST="127.0.0.1"), "process: FLEETCAST_METRICS_HOST"),
    "healthcheck on another port": (
        lambda c: c["services"]["infer"]["environment"].update(FLEETCAST_METRICS_PORT_INFER=9200),
        "infer: no healthcheck on http://127.0.0.1:9200/metrics"),
    "metrics off": (
        lambda c: c["services"]["produce"]["environment"].update(FLEETCAST_METRICS_PORT_PRODUCE=0),
        "produce: its metrics port is off"),
}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=list(MUTATIONS))
def test_checker_catches(mutation: str) -> None:
    mutate, expected = MUTATIONS[mutation]
    broken = copy.deepcopy(load_compose())
    mutate(broken)
    problems = compose_problems(broken)
    assert any(expected in problem for problem in problems), problems
