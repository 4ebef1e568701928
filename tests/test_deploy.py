"""The deployment files (Dockerfile, deploy/compose.yaml, deploy/kubernetes/), checked without a container engine.

What a mistake there looks like: a misspelt PIXLENS_* name (pydantic-settings ignores an unknown top-level one, so
the setting silently keeps its default), a command or option pixlens does not have, a probe on a route the API does
not serve, a selector that matches no pod, a KEDA trigger watching another queue than the workers take from, a file
the kustomization forgets, a requirements file the image does not install. Each is checked against the code itself
(the settings model, the CLI's commands, the API's routes), and the files against the Compose Specification's schema
and the Kubernetes API's schemas (kubernetes-validate, bundled: no network).
"""

from __future__ import annotations

import copy
import fnmatch
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import typer
import yaml
from pydantic import BaseModel
from samtranslator.yaml_helper import yaml_parse as cloudformation_yaml

from pixlens.api.server import build
from pixlens.cli import app as cli_app
from pixlens.config import CelerySettings, Settings, load_settings
from pixlens.service import Pixlens

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "pixlens.env.example"
KUBE = DEPLOY / "kubernetes"
DOCKERFILE = ROOT / "Dockerfile"
K8S_VERSION = "1.30.0"  # the oldest Kubernetes still commonly run that this layout targets
IMAGE = "pixlens:0.1.0"
QUEUE_NAME = CelerySettings.model_fields["queue_name"].default
MIN_WORKER_GRACE_SECONDS = 60  # a batch of 8 took ~5 s here with every analyser on one thread: x10 and more
# Settings that the S3 store's branch adds (S3Settings): accepted by name until Settings has an "s3" section,
# then checked against it like every other name.
PENDING_SETTINGS = {"s3": {"PIXLENS_S3__ENDPOINT_URL", "PIXLENS_S3__REGION"}}


# ---- what the code says is real --------------------------------------------------------------------------------


def setting_names(model: type[BaseModel] = Settings, prefix: str = "PIXLENS_") -> set[str]:
    """Every environment variable name pixlens reads as a setting: PIXLENS_ and the field path, nested with __."""
    names = set()
    for name, field in model.model_fields.items():
        env = prefix + name.upper()
        names.add(env)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            names |= setting_names(field.annotation, env + "__")
    return names


SETTINGS = setting_names()
for _section, _names in PENDING_SETTINGS.items():
    if _section not in Settings.model_fields:
        SETTINGS |= _names


def is_setting(name: str) -> bool:
    return not name.startswith("PIXLENS_") or name in SETTINGS


@pytest.fixture(scope="module")
def api_routes(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The paths the HTTP API serves, from the app itself (built, not started)."""
    lens = Pixlens(load_settings(tmp_path_factory.mktemp("home")))
    try:
        app, _ = build(lens, None, watch=False)
        return {route.path for route in app.routes if hasattr(route, "path")}
    finally:
        lens.close()


def check_pixlens_argv(argv: list[str]) -> None:
    """Parse ``pixlens ...`` as the CLI would (its own click parser: unknown commands and options, missing required
    options and bad values fail), without running it. Typer bundles its own click, so its classes are duck-typed."""
    assert argv[0] == "pixlens", argv
    command: Any = typer.main.get_command(cli_app)
    arguments = argv[1:]
    path = ["pixlens"]
    while getattr(command, "commands", None) is not None:  # a group: the next word names a command of it
        assert arguments, f"{' '.join(argv)}: no command after {' '.join(path)}"
        name, arguments = arguments[0], arguments[1:]
        assert name in command.commands, f"{' '.join(argv)}: {' '.join(path)} has no command {name!r}"
        command, path = command.commands[name], [*path, name]
    try:
        command.make_context(" ".join(path), list(arguments))
    except Exception as exc:
        if type(exc).__name__ == "Exit" and getattr(exc, "exit_code", 1) == 0:
            return
        message = exc.format_message() if hasattr(exc, "format_message") else repr(exc)
        raise AssertionError(f"{' '.join(argv)}: {message}") from exc


def pixlens_invocations(shell: str) -> Iterator[list[str]]:
    """The ``pixlens ...`` commands in a shell line (up to the next shell operator; not ``kubectl -n pixlens``)."""
    word = r"""(?:"[^"]*"|'[^']*'|[^\s;&|)`"']+)"""  # a quoted string or a bare word
    for match in re.finditer(rf"(?<![\w-])(?<!-n )pixlens((?:[ \t]+{word})+)", shell):
        yield ["pixlens", *shlex.split(match.group(1))]


def check_command(argv: list[str]) -> None:
    """A container's command: pixlens itself, the image's pixlens-init, or a shell running pixlens."""
    if argv[0] == "pixlens":
        check_pixlens_argv(argv)
    elif argv[0] == "pixlens-init":
        assert argv == ["pixlens-init"], argv
        assert "/opt/pixlens/bin/pixlens-init" in DOCKERFILE.read_text(), "the image does not install pixlens-init"
    elif argv[:2] == ["sh", "-c"]:
        found = list(pixlens_invocations(argv[2]))
        assert found, f"a shell command that runs no pixlens command: {argv}"
        for invocation in found:
            check_pixlens_argv(invocation)
    else:
        raise AssertionError(f"not a pixlens command: {argv}")


def load_all(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def read_env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"{path.name}: not NAME=value: {line!r}"
            pairs[name.strip()] = value.strip()
    return pairs


def seconds(text: str | int) -> float:
    """A compose duration (``90s``, ``2m``, ``1m30s``) in seconds."""
    if isinstance(text, int):
        return float(text)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    assert parts and text, f"not a duration: {text!r}"
    hours, minutes, secs = (int(part or 0) for part in parts.groups())
    return hours * 3600 + minutes * 60 + secs


# ---- the checks' own checks: they must fail on the mistakes they are for ----------------------------------------


def test_setting_names_come_from_the_settings_model() -> None:
    assert {"PIXLENS_QUEUE", "PIXLENS_CATALOG", "PIXLENS_CELERY__CONCURRENCY", "PIXLENS_API__HOST"} <= SETTINGS
    assert not is_setting("PIXLENS_CELERY__CONCURENCY")  # misspelt
    assert not is_setting("PIXLENS_CONCURRENCY")  # a nested setting named flat
    assert is_setting("AWS_ACCESS_KEY_ID")  # not pixlens's


def test_command_check_refuses_what_the_cli_does_not_have() -> None:
    check_pixlens_argv(["pixlens", "serve", "--host", "0.0.0.0", "--no-watch"])
    check_pixlens_argv(["pixlens", "keys", "create", "--scope", "admin"])
    for wrong in (
        ["pixlens", "serv"],
        ["pixlens", "serve", "--watch-not"],
        ["pixlens", "worker", "--concurrency", "0"],  # below its minimum
        ["pixlens", "keys", "create"],  # --scope is required
        ["pixlens", "keys", "make"],
    ):
        with pytest.raises(AssertionError):
            check_pixlens_argv(wrong)
    assert list(pixlens_invocations('until [ -n "$(pixlens keys list --json)" ]; do sleep 5; done')) == [
        ["pixlens", "keys", "list", "--json"]
    ]
    assert list(pixlens_invocations("run api pixlens search 'dog AND NOT cat' --limit 5 | head")) == [
        ["pixlens", "search", "dog AND NOT cat", "--limit", "5"]
    ]


# ---- every file parses -----------------------------------------------------------------------------------------


def test_every_yaml_file_parses() -> None:
    files = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    assert COMPOSE in files and len(files) >= 10
    for path in files:
        if path.parent == DEPLOY / "aws":  # CloudFormation's YAML (!Ref, !Sub...): tests/test_aws_template.py
            assert cloudformation_yaml(path.read_text(encoding="utf-8")), f"{path} is empty"
            continue
        assert load_all(path), f"{path} is empty"


# ---- compose ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    (document,) = load_all(COMPOSE)
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


def test_compose_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads((DEPLOY / "schema" / "compose-spec.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)
    broken = copy.deepcopy(compose)
    broken["services"]["api"]["depends_on"]["init"]["condition"] = "service_done"
    assert not validator.is_valid(broken)  # the schema really is applied


def test_compose_services_have_images_and_builds_that_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"s3", "redis", "rabbitmq", "postgres", "init", "api", "worker"} <= set(services)
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"{name}: neither image nor build"
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image's tag, not {image!r}"
        if "build" in service:
            context = (COMPOSE.parent / service["build"]["context"]).resolve()
            assert context == ROOT, f"{name}: builds from {context}, not the repository root"
            assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file()
            assert image == IMAGE
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: mounts {source}, which does not exist"
            else:
                assert source in compose["volumes"], f"{name}: volume {source} is not declared"


def test_compose_commands_are_real(compose: dict[str, Any]) -> None:
    pixlens_services = [name for name, service in compose["services"].items() if service.get("image") == IMAGE]
    assert set(pixlens_services) == {"init", "api", "worker"}
    for name in pixlens_services:
        check_command(compose["services"][name]["command"])
    assert compose["services"]["api"]["command"][:2] == ["pixlens", "serve"]
    assert compose["services"]["worker"]["command"][:2] == ["pixlens", "worker"]


def test_compose_depends_on_services_that_exist_and_run(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on {target}, which is not a service"
            assert target != name
            condition = rule["condition"]
            if condition == "service_healthy":
                check = services[target].get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), f"{name} waits for {target}'s health: none"
            # a dependency left out by a profile stops `up` unless it is optional
            if set(services[target].get("profiles", [])) - set(service.get("profiles", [])):
                assert rule.get("required") is False, f"{name} needs {target}, which only runs in a profile"
    after = services["api"]["depends_on"]
    assert after["init"]["condition"] == "service_completed_successfully"  # the API key exists first


def test_compose_host_ports_are_unique(compose: dict[str, Any]) -> None:
    taken: dict[str, str] = {}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            parts = str(port).split(":")
            host = ":".join(parts[:-1]) if len(parts) > 2 else parts[0]
            _, _, host_port = host.rpartition(":")
            assert host_port not in taken, f"{name} and {taken.get(host_port)} both publish {host_port}"
            taken[host_port] = name
    assert taken.get("8377") == "api"


def test_compose_health_and_shutdown(compose: dict[str, Any], api_routes: set[str]) -> None:
    services = compose["services"]
    api_check = " ".join(services["api"]["healthcheck"]["test"])
    paths = re.findall(r"http://127\.0\.0\.1:8377(/[\w/]*)", api_check)
    assert paths and set(paths) <= api_routes, f"the API's healthcheck asks {paths}"
    worker = services["worker"]
    assert worker["healthcheck"]["disable"] is True  # the image's check is the API's: a worker has no port
    assert seconds(worker["stop_grace_period"]) >= MIN_WORKER_GRACE_SECONDS
    assert worker["deploy"]["replicas"] >= 1


def test_compose_env_names_are_settings(compose: dict[str, Any], env_example: dict[str, str]) -> None:
    for name, service in compose["services"].items():
        for entry in service.get("env_file", []):
            path = entry["path"] if isinstance(entry, dict) else entry
            assert (COMPOSE.parent / (path + ".example")).is_file(), f"{name}: no {path}.example to copy"
        environment = service.get("environment", {})
        names = environment if isinstance(environment, dict) else [item.split("=", 1)[0] for item in environment]
        assert all(is_setting(env) for env in names), f"{name}: {names}"
    wrong = sorted(name for name in env_example if not is_setting(name))
    assert not wrong, f"not pixlens settings: {wrong}"
    commented = re.findall(r"^#\s*(PIXLENS_\w+)=", ENV_EXAMPLE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert all(is_setting(name) for name in commented), commented


def test_compose_env_points_at_the_compose_servers(compose: dict[str, Any], env_example: dict[str, str]) -> None:
    services = compose["services"]
    catalog = urlsplit(env_example["PIXLENS_CATALOG"])
    assert catalog.scheme == "postgresql" and catalog.hostname in services
    assert catalog.username == env_example["POSTGRES_USER"]
    assert catalog.password == env_example["POSTGRES_PASSWORD"]
    assert catalog.path == "/" + env_example["POSTGRES_DB"]
    queue = urlsplit(env_example["PIXLENS_QUEUE"])
    assert queue.scheme == "redis" and queue.hostname in services
    amqp = re.search(r"^#\s*PIXLENS_QUEUE=(amqp://\S+)", ENV_EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE)
    assert amqp, "no RabbitMQ alternative in the env example"
    rabbit = urlsplit(amqp.group(1))
    assert rabbit.hostname in services and "rabbitmq" in services[rabbit.hostname]["profiles"]
    assert (rabbit.username, rabbit.password) == (
        env_example["RABBITMQ_DEFAULT_USER"],
        env_example["RABBITMQ_DEFAULT_PASS"],
    )
    endpoint = urlsplit(env_example["PIXLENS_S3__ENDPOINT_URL"])
    assert endpoint.hostname in services and f"-s3.port={endpoint.port}" in services[endpoint.hostname]["command"]
    assert env_example["PIXLENS_STORE"].startswith("s3://")
    # one analysis thread per worker process, so that N workers on N cores do not oversubscribe them
    assert env_example["PIXLENS_MODEL_THREADS"] == "1" and env_example["PIXLENS_WORKERS"] == "1"
    assert env_example.get("PIXLENS_CELERY__QUEUE_NAME", QUEUE_NAME) == QUEUE_NAME
    assert all("CHANGE-ME" in env_example[name] for name in ("POSTGRES_PASSWORD", "AWS_SECRET_ACCESS_KEY"))


# ---- kubernetes ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kube() -> list[dict[str, Any]]:
    """Every object of the base layout."""
    return [doc for path in sorted(KUBE.glob("*.yaml")) if path.name != "kustomization.yaml" for doc in load_all(path)]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [item for item in objects if item["kind"] == kind and (name is None or item["metadata"]["name"] == name)]


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for item in objects:
        if item["kind"] in ("Deployment", "Job"):
            yield item["metadata"]["name"], item["spec"]["template"]["spec"]
        elif item["kind"] == "CronJob":
            yield item["metadata"]["name"], item["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_kubernetes_objects_are_well_formed(kube: list[dict[str, Any]]) -> None:
    kinds = {item["kind"] for item in kube}
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "Service", "ScaledObject", "PodDisruptionBudget"} <= kinds
    for item in kube:
        assert item.get("apiVersion") and item.get("kind") and item.get("metadata", {}).get("name"), item
        if item["kind"] != "Namespace":
            assert item["metadata"].get("namespace") == "pixlens", item["metadata"]
        if item["apiVersion"].startswith("keda.sh/"):
            continue  # a custom resource: checked below, by hand
        kubernetes_validate.validate(item, K8S_VERSION, strict=True)  # raises with the first problem


def test_kubernetes_schema_check_catches_mistakes(kube: list[dict[str, Any]]) -> None:
    (api,) = find(kube, "Deployment", "pixlens-api")
    broken = copy.deepcopy(api)
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_selectors_match_their_pods(kube: list[dict[str, Any]]) -> None:
    deployments = find(kube, "Deployment")
    assert {item["metadata"]["name"] for item in deployments} == {"pixlens-api", "pixlens-worker"}
    pod_labels = {item["metadata"]["name"]: item["spec"]["template"]["metadata"]["labels"] for item in deployments}

    def selects(selector: dict[str, str]) -> set[str]:
        return {name for name, labels in pod_labels.items() if selector.items() <= labels.items()}

    for item in deployments:
        assert selects(item["spec"]["selector"]["matchLabels"]) == {item["metadata"]["name"]}
    (service,) = find(kube, "Service")
    assert selects(service["spec"]["selector"]) == {"pixlens-api"}
    (api,) = find(kube, "Deployment", "pixlens-api")
    port_names = {port["name"] for port in api["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert all(port["targetPort"] in port_names for port in service["spec"]["ports"])
    budgets = find(kube, "PodDisruptionBudget")
    assert sorted(name for item in budgets for name in selects(item["spec"]["selector"]["matchLabels"])) == [
        "pixlens-api",
        "pixlens-worker",
    ]


def test_containers_run_real_commands_with_real_settings(kube: list[dict[str, Any]]) -> None:
    assert {name for name, _ in pod_specs(kube)} == {
        "pixlens-api",
        "pixlens-worker",
        "pixlens-init",
        "pixlens-reconcile",
    }
    configmaps = {item["metadata"]["name"]: item["data"] for item in find(kube, "ConfigMap")}
    secrets = {item["metadata"]["name"]: item["stringData"] for item in find(kube, "Secret")}
    claims = {item["metadata"]["name"] for item in find(kube, "PersistentVolumeClaim")}
    for values in [*configmaps.values(), *secrets.values()]:
        wrong = sorted(name for name in values if not is_setting(name))
        assert not wrong, f"not pixlens settings: {wrong}"
    for owner, spec in pod_specs(kube):
        assert spec["securityContext"]["runAsNonRoot"] is True, owner
        for volume in spec.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, owner
        for container in containers(spec):
            assert container["image"] == IMAGE, f"{owner}: {container['image']}"
            check_command(container["command"])
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps, owner
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets, owner
            assert all(is_setting(env["name"]) for env in container.get("env", [])), owner
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], owner


def test_api_probes_ask_routes_the_api_serves(kube: list[dict[str, Any]], api_routes: set[str]) -> None:
    assert {"/healthz", "/readyz", "/metrics"} <= api_routes
    (api,) = find(kube, "Deployment", "pixlens-api")
    (container,) = api["spec"]["template"]["spec"]["containers"]
    probes = {kind: container[kind]["httpGet"]["path"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"] == "/healthz" and probes["readinessProbe"] == "/readyz"
    for _owner, spec in pod_specs(kube):
        for each in containers(spec):
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                if kind in each:
                    assert each[kind]["httpGet"]["path"] in api_routes, f"{kind} asks a route the API lacks"
                    assert each["command"][:2] == ["pixlens", "serve"], "a probe on a container that serves no HTTP"
    assert api["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"] in api_routes


def test_workers_get_time_to_finish_their_batch(kube: list[dict[str, Any]]) -> None:
    (worker,) = find(kube, "Deployment", "pixlens-worker")
    spec = worker["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] >= MIN_WORKER_GRACE_SECONDS
    assert spec["containers"][0]["command"][:2] == ["pixlens", "worker"]
    (settings,) = find(kube, "ConfigMap")
    threads = int(settings["data"]["PIXLENS_CELERY__CONCURRENCY"]) * int(settings["data"]["PIXLENS_MODEL_THREADS"])
    assert float(spec["containers"][0]["resources"]["requests"]["cpu"]) >= threads  # a core per model thread


def test_the_redis_scaler_watches_the_workers_queue(kube: list[dict[str, Any]]) -> None:
    (scaler,) = find(kube, "ScaledObject")
    assert scaler["apiVersion"] == "keda.sh/v1alpha1"
    assert find(kube, "Deployment", scaler["spec"]["scaleTargetRef"]["name"])
    assert scaler["spec"].get("scaleTargetRef", {}).get("kind", "Deployment") == "Deployment"
    assert (
        scaler["spec"]["maxReplicaCount"] >= 1
        and scaler["spec"]["minReplicaCount"] <= scaler["spec"]["maxReplicaCount"]
    )
    (trigger,) = scaler["spec"]["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == QUEUE_NAME
    (settings,) = find(kube, "ConfigMap")
    assert settings["data"].get("PIXLENS_CELERY__QUEUE_NAME", QUEUE_NAME) == trigger["metadata"]["listName"]
    (secret,) = find(kube, "Secret")
    queue = urlsplit(secret["stringData"]["PIXLENS_QUEUE"])
    assert queue.scheme == "redis"
    assert trigger["metadata"]["address"] == f"{queue.hostname}:{queue.port}"
    assert trigger["metadata"]["databaseIndex"] == (queue.path.strip("/") or "0")
    assert int(trigger["metadata"]["listLength"]) >= 1


def kustomization(folder: Path) -> dict[str, Any]:
    (document,) = load_all(folder / "kustomization.yaml")
    assert document["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and document["kind"] == "Kustomization"
    return document


def test_kustomizations_list_every_file_of_their_folder() -> None:
    folders = [path.parent for path in KUBE.rglob("kustomization.yaml")]
    assert sorted(folders) == [KUBE, KUBE / "rabbitmq"]
    for folder in folders:
        document = kustomization(folder)
        listed = [entry for entry in document.get("resources", []) if not (folder / entry).is_dir()]
        listed += [patch["path"] for patch in document.get("patches", []) if "path" in patch]
        files = sorted(path.name for path in folder.glob("*.y*ml") if path.name != "kustomization.yaml")
        assert sorted(listed) == files, f"{folder}: lists {sorted(listed)}, holds {files}"
        for entry in document.get("resources", []):
            if (folder / entry).is_dir():
                assert (folder / entry / "kustomization.yaml").is_file(), f"{folder}: {entry} is no kustomization"
    (image,) = kustomization(KUBE)["images"]
    assert image["name"] == IMAGE.split(":")[0] and image["newTag"] == IMAGE.split(":")[1]


def test_the_rabbitmq_overlay_watches_the_workers_queue(kube: list[dict[str, Any]]) -> None:
    """The overlay, applied by hand as kustomize would (a JSON patch and a merge of the Secret)."""
    folder = KUBE / "rabbitmq"
    document = kustomization(folder)
    objects = copy.deepcopy(kube)
    for entry in document["resources"]:
        if not (folder / entry).is_dir():
            objects += load_all(folder / entry)
    for patch in document["patches"]:
        (body,) = load_all(folder / patch["path"])
        if "target" in patch:
            (target,) = find(objects, patch["target"]["kind"], patch["target"]["name"])
            assert target["apiVersion"] == f"{patch['target']['group']}/{patch['target']['version']}"
            for operation in body:
                assert operation["op"] == "replace"
                *parents, last = operation["path"].strip("/").split("/")
                place = target
                for step in parents:
                    place = place[step]
                assert last in place, f"{operation['path']} is not in the base's {target['kind']}"
                place[last] = operation["value"]
        else:
            (target,) = find(objects, body["kind"], body["metadata"]["name"])
            target["stringData"].update(body["stringData"])
    (scaler,) = find(objects, "ScaledObject")
    (trigger,) = scaler["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq" and trigger["metadata"]["queueName"] == QUEUE_NAME
    assert trigger["metadata"]["mode"] == "QueueLength" and int(trigger["metadata"]["value"]) >= 1
    (auth,) = find(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    (secret,) = find(objects, "Secret")
    for reference in auth["spec"]["secretTargetRef"]:
        assert reference["name"] == secret["metadata"]["name"] and reference["key"] in secret["stringData"]
    queue, broker = urlsplit(secret["stringData"]["PIXLENS_QUEUE"]), urlsplit(secret["stringData"]["RABBITMQ_URL"])
    assert queue.scheme == "amqp" and (queue.hostname, queue.port) == (broker.hostname, broker.port)


# ---- the image -------------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def dockerignored(path: str) -> bool:
    """Whether .dockerignore leaves ``path`` (relative to the root) out of the build context (last match wins)."""
    ignored = False
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        keep = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        parts = Path(path).parts
        prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
        if any(
            fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(prefix, pattern.replace("**/", ""))
            for prefix in prefixes
        ):
            ignored = not keep
    return ignored


def test_the_image_installs_every_runtime_requirements_file() -> None:
    instructions = dockerfile_instructions()
    run_lines = " ".join(arguments for kind, arguments in instructions if kind == "RUN")
    # the loop over requirements/*.txt that leaves out only dev.txt
    assert "for file in requirements/*.txt" in run_lines and '[ "$file" = requirements/dev.txt ]' in run_lines
    installed = sorted(path.name for path in (ROOT / "requirements").glob("*.txt") if path.name != "dev.txt")
    assert "run.txt" in installed and "celery.txt" in installed
    for pip in re.findall(r"pip install [^&;]*", run_lines):
        assert "--no-deps" in pip or "pip==" in pip, f"pip may bring in unpinned packages: {pip}"
    # every optional extra pixlens has (but the test tools) has its pin file, so the image gets it
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    extras_block = pyproject.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    extras = re.findall(r"^(\w[\w-]*)\s*=", extras_block, flags=re.MULTILINE)
    assert "celery" in extras
    missing = [extra for extra in extras if extra != "dev" and f"{extra}.txt" not in installed]
    assert not missing, f"extras without a requirements/<extra>.txt for the image: {missing}"


def test_the_image_is_built_as_intended(api_routes: set[str]) -> None:
    instructions = dockerfile_instructions()
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in instructions
    stages = [arguments for kind, arguments in instructions if kind == "FROM"]
    assert stages == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]
    final = instructions[[kind for kind, _ in instructions].index("FROM", 1) :]
    users = [arguments for kind, arguments in final if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    health = " ".join(arguments for kind, arguments in final if kind == "HEALTHCHECK")
    assert set(re.findall(r":\{port\}(/\w+)", health)) == {"/healthz"} <= api_routes
    (command,) = [json.loads(arguments) for kind, arguments in final if kind == "CMD"]
    check_command(command)
    for kind, arguments in instructions:
        if kind == "COPY" and "--from=" not in arguments:
            sources = [part for part in arguments.split() if not part.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
                files = (
                    [source]
                    if (ROOT / source).is_file()
                    else sorted(str(path.relative_to(ROOT)) for path in (ROOT / source).rglob("*") if path.is_file())
                )
                assert any(not dockerignored(name) for name in files), f"COPY {source}: left out by .dockerignore"
    for needed in [*(ROOT / "requirements").glob("*.txt"), *(ROOT / "src/pixlens/models").rglob("*")]:
        if needed.is_file():
            assert not dockerignored(str(needed.relative_to(ROOT))), f"{needed}: left out by .dockerignore"
    assert (ROOT / "src/pixlens/models/SHA256SUMS").is_file()  # checked by the build (sha256sum --check)
    assert "models/*" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")  # the models are package data
    assert dockerignored(".venv") and dockerignored("tests/data") and dockerignored(".pixlens")
    assert not dockerignored("src/pixlens/models/faceres.onnx")


# ---- pixlens-init ----------------------------------------------------------------------------------------------


def load_init() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pixlens_init", DEPLOY / "init.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_init_reads_the_bucket_from_the_store_url() -> None:
    init = load_init()
    assert init.bucket_of("s3://photos/pixlens/images") == "photos"
    assert init.bucket_of("S3://photos") == "photos"
    assert init.bucket_of("/srv/images") is None and init.bucket_of("") is None
    with pytest.raises(SystemExit):
        init.bucket_of("s3:///prefix")


def test_init_makes_one_admin_key_and_no_more(tmp_path: Path) -> None:
    """Run as the job runs it (the same pixlens commands), on a folder store and SQLite: a second run makes none."""
    pixlens = Path(sys.executable).with_name("pixlens")
    environment = {
        **os.environ,
        "PIXLENS_HOME": str(tmp_path / "home"),
        "INIT_PIXLENS_COMMAND": str(pixlens),
        "INIT_ATTEMPTS": "1",
    }
    environment.pop("PIXLENS_STORE", None)
    environment.pop("PIXLENS_CATALOG", None)

    def run() -> str:
        done = subprocess.run(
            [sys.executable, str(DEPLOY / "init.py")], env=environment, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = run()
    (key,) = re.findall(r"admin API key \(shown only now, keep it\): (plk_\S+)", first)
    second = run()
    assert "API keys exist; none made" in second and key not in second
    listed = subprocess.run([str(pixlens), "keys", "list", "--json"], env=environment, capture_output=True, text=True)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(row["Scope"], row["Name"]) for row in rows] == [("admin", "pixlens-init")]
    assert rows[0]["Prefix"] == key[: len(rows[0]["Prefix"])]


def test_the_deployment_page_runs_real_commands() -> None:
    """Every ``pixlens ...`` of docs/DEPLOYMENT.md (shell blocks and inline code) is a command the CLI has, with
    its options; an inline one with a placeholder (N, ID) is left out."""
    page = (ROOT / "docs" / "DEPLOYMENT.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", page, flags=re.DOTALL)
    lines = [line.split("  #", 1)[0] for block in blocks for line in block.splitlines()]
    commands = [invocation for line in lines for invocation in pixlens_invocations(line)]
    prose = re.sub(r"```.*?```", "", page, flags=re.DOTALL)
    for span in re.findall(r"`([^`]+)`", prose):
        for invocation in pixlens_invocations(span.replace("\n", " ")):
            if not any(token.isupper() and token.isalpha() for token in invocation):
                commands.append(invocation)
    assert len(commands) >= 8
    for argv in commands:
        if argv != ["pixlens", "--help"]:
            check_pixlens_argv(argv)
