"""The Docker deployment (docker-compose.yml, Dockerfile, .dockerignore), checked without a Docker engine.

What can be checked from the files alone: the Compose structure (a subset of the Compose Specification
schema), the services of the official Airflow 3 layout, the executor / metadata DB / broker wiring, the
mounts, the data volume, the DuckDB writer queue (one consumer, concurrency 1, the same name as in the DAGs),
the init service, healthchecks and dependencies, the sample site's feeds file, the Dockerfile's base image
and install line, and the build context. When a Compose v2 client is installed (`docker compose` or a v2
`docker-compose`; no engine needed) the file also goes through `config`, Compose's own parser and merger.
What none of this shows (images build, containers start, tasks run) is listed in docs/docker.md.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMMON = ROOT / "dags" / "newsflow_common.py"

REQUIRED_SERVICES = {
    "postgres",
    "redis",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}
WRITER_WORKER = "airflow-worker-writer"
SCALABLE_WORKER = "airflow-worker"
PYTHON_VERSION = "3.11"


# --- reading the files --------------------------------------------------------------------------------------

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: Any) -> Any:
    """Compose's variable substitution with every variable unset: `${X:-default}` -> default, `$$` -> `$`."""
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1) or m.group(4), m.group(2), m.group(3)
        if op and op.endswith("?"):
            raise AssertionError(f"${{{name}}} is required: `docker compose config` fails without it")
        if op and op.endswith("-"):
            return arg or ""
        return ""

    return _VAR.sub(substitute, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    """The file as Compose sees it with no .env: anchors merged, variables at their defaults."""
    return interpolate(raw)  # type: ignore[no-any-return]


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def command(svc: dict[str, Any]) -> list[str]:
    cmd = svc.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def script(svc: dict[str, Any]) -> str:
    """Entrypoint and command as one text, for shell scripts passed with `bash -c`."""
    parts = svc.get("entrypoint") or []
    parts = [parts] if isinstance(parts, str) else parts
    return "\n".join([*map(str, parts), *command(svc)])


def mounts(svc: dict[str, Any]) -> list[dict[str, Any]]:
    """Volumes in long form: type (bind/volume), source, target, read_only."""
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, str):
            parts = v.split(":")
            source, target = (parts[0], parts[1]) if len(parts) > 1 else (None, parts[0])
            mode = parts[2] if len(parts) > 2 else ""
            kind = "bind" if source and source.startswith((".", "/", "~")) else "volume"
            out.append(
                {"type": kind, "source": source, "target": target, "read_only": "ro" in mode.split(",")}
            )
        else:
            out.append({"read_only": False, **v})
    return out


def mount_at(svc: dict[str, Any], target: str) -> dict[str, Any] | None:
    return next((m for m in mounts(svc) if m["target"].rstrip("/") == target.rstrip("/")), None)


def bind_of(svc: dict[str, Any], host_dir: str) -> dict[str, Any] | None:
    want = (ROOT / host_dir).resolve()
    for m in mounts(svc):
        if m["type"] == "bind" and (ROOT / m["source"]).resolve() == want:
            return m
    return None


def is_airflow(svc: dict[str, Any]) -> bool:
    return "AIRFLOW__CORE__EXECUTOR" in environment(svc)


def airflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if is_airflow(svc)}


def celery_worker(svc: dict[str, Any]) -> tuple[list[str], int | None] | None:
    """(queues, concurrency) of an `airflow celery worker` service, None for any other service."""
    cmd = command(svc)
    if cmd[:1] == ["airflow"]:
        cmd = cmd[1:]
    if cmd[:2] != ["celery", "worker"]:
        return None
    env = environment(svc)
    queues = env.get("AIRFLOW__OPERATORS__DEFAULT_QUEUE", "default")
    concurrency = env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY")
    args = iter(cmd[2:])
    for arg in args:
        flag, _, inline = arg.partition("=")
        if flag in ("-q", "--queues"):
            queues = inline or next(args)
        elif flag in ("-c", "--concurrency"):
            concurrency = inline or next(args)
    return [q.strip() for q in queues.split(",") if q.strip()], int(concurrency) if concurrency else None


def writer_settings() -> dict[str, str]:
    """WRITER_POOL, WRITER_QUEUE (its default) and the variable that overrides it, from the DAGs' module."""
    found: dict[str, str] = {}
    for node in ast.parse(COMMON.read_text()).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target, value = node.targets[0], node.value
        if not (isinstance(target, ast.Name) and target.id in ("WRITER_POOL", "WRITER_QUEUE")):
            continue
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            found[target.id] = value.value
        elif (  # os.environ.get("VAR", "default") / os.getenv("VAR", "default")
            isinstance(value, ast.Call)
            and ast.unparse(value.func) in ("os.environ.get", "os.getenv")
            and len(value.args) == 2
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in value.args)
        ):
            found[target.id] = value.args[1].value  # type: ignore[attr-defined]
            found[f"{target.id}_ENV"] = value.args[0].value  # type: ignore[attr-defined]
        else:
            raise AssertionError(f"{COMMON.name}: cannot read {target.id} = {ast.unparse(value)}")
    assert {"WRITER_POOL", "WRITER_QUEUE"} <= found.keys(), f"{COMMON.name} defines {sorted(found)}"
    return found


# --- Compose structure --------------------------------------------------------------------------------------

# The parts of the Compose Specification schema (compose-spec/compose-spec, schema/compose-spec.json) this
# file uses, with the spec's complete lists of top-level and service keys, so a misspelt key fails here as it
# would in `docker compose config`.
_SERVICE_KEYS = """annotations attach blkio_config build cap_add cap_drop cgroup cgroup_parent command configs
container_name cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpu_shares cpus cpuset
credential_spec depends_on deploy develop device_cgroup_rules devices dns dns_opt dns_search domainname
entrypoint env_file environment expose extends external_links extra_hosts gpus group_add healthcheck hostname
image init ipc isolation label_file labels links logging mac_address mem_limit mem_reservation mem_swappiness
memswap_limit models network_mode networks oom_kill_disable oom_score_adj pid pids_limit platform ports
post_start pre_stop privileged profiles provider pull_policy pull_refresh_after read_only restart runtime
scale secrets security_opt shm_size stdin_open stop_grace_period stop_signal storage_opt sysctls tmpfs tty
ulimits use_api_socket user userns_mode uts volumes volumes_from working_dir""".split()
_NAME = "^[a-zA-Z0-9._-]+$"
_COMMAND = {"oneOf": [{"type": "null"}, {"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_LIST_OR_DICT = {
    "oneOf": [
        {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
        _STRINGS,
    ]
}
COMPOSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "version": {"type": "string"},
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
        "include": {"type": "array"},
        "services": {"type": "object", "patternProperties": {_NAME: {"$ref": "#/definitions/service"}}},
        "networks": {"type": "object"},
        "volumes": {"type": "object", "patternProperties": {_NAME: {"type": ["object", "null"]}}},
        "secrets": {"type": "object"},
        "configs": {"type": "object", "patternProperties": {_NAME: {"$ref": "#/definitions/config"}}},
        "models": {"type": "object"},
    },
    "patternProperties": {"^x-": {}},
    "additionalProperties": False,
    "definitions": {
        "service": {
            "type": "object",
            "propertyNames": {"anyOf": [{"enum": _SERVICE_KEYS}, {"pattern": "^x-"}]},
            "properties": {
                "image": {"type": "string"},
                "build": {
                    "oneOf": [
                        {"type": "string"},
                        {
                            "type": "object",
                            "properties": {"context": {"type": "string"}, "dockerfile": {"type": "string"}},
                        },
                    ]
                },
                "command": _COMMAND,
                "entrypoint": _COMMAND,
                "environment": _LIST_OR_DICT,
                "user": {"type": "string"},
                "hostname": {"type": "string"},
                "restart": {"enum": ["no", "always", "on-failure", "unless-stopped"]},
                "profiles": _STRINGS,
                "expose": {"type": "array", "items": {"type": ["string", "number"]}},
                "ports": {"type": "array", "items": {"type": ["string", "number", "object"]}},
                "volumes": {
                    "type": "array",
                    "items": {
                        "oneOf": [
                            {"type": "string"},
                            {
                                "type": "object",
                                "required": ["type"],
                                "properties": {"type": {"enum": ["bind", "volume", "tmpfs"]}},
                            },
                        ]
                    },
                },
                "configs": {
                    "type": "array",
                    "items": {
                        "oneOf": [
                            {"type": "string"},
                            {
                                "type": "object",
                                "required": ["source"],
                                "properties": {"source": {"type": "string"}, "target": {"type": "string"}},
                            },
                        ]
                    },
                },
                "depends_on": {
                    "oneOf": [
                        _STRINGS,
                        {
                            "type": "object",
                            "patternProperties": {
                                _NAME: {
                                    "type": "object",
                                    "required": ["condition"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "condition": {
                                            "enum": [
                                                "service_started",
                                                "service_healthy",
                                                "service_completed_successfully",
                                            ]
                                        },
                                        "required": {"type": "boolean"},
                                        "restart": {"type": ["boolean", "string"]},
                                    },
                                }
                            },
                            "additionalProperties": False,
                        },
                    ]
                },
                "healthcheck": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "disable": {"type": "boolean"},
                        "interval": {"type": "string"},
                        "retries": {"type": "integer"},
                        "start_interval": {"type": "string"},
                        "start_period": {"type": "string"},
                        "timeout": {"type": "string"},
                        "test": {
                            "oneOf": [
                                {"type": "string"},
                                {"type": "array", "items": {"type": "string"}, "minItems": 2},
                            ]
                        },
                    },
                },
            },
            "additionalProperties": True,  # every key is checked by propertyNames above
        },
        "config": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "content": {"type": "string"},
                "environment": {"type": "string"},
                "file": {"type": "string"},
                "external": {"type": ["boolean", "string", "object"]},
                "labels": _LIST_OR_DICT,
                "template_driver": {"type": "string"},
            },
            "oneOf": [
                {"required": ["content"]},
                {"required": ["environment"]},
                {"required": ["file"]},
                {"required": ["external"]},
            ],
        },
    },
}


def test_compose_file_matches_the_compose_spec_subset(raw: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    errors = sorted(jsonschema.Draft7Validator(COMPOSE_SCHEMA).iter_errors(raw), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_schema_subset_rejects_what_compose_rejects() -> None:
    """The checker above is not vacuous: typical mistakes fail it."""
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft7Validator(COMPOSE_SCHEMA)
    bad = [
        {"services": {"a": {"image": "x", "depend_on": ["b"]}}},  # misspelt key
        {"services": {"a": {"image": "x", "depends_on": {"b": {"condition": "healthy"}}}}},
        {"services": {"a": {"image": "x", "healthcheck": {"test": "x", "intervall": "1s"}}}},
        {"servces": {}},
        {"configs": {"c": {"content": "a", "file": "b"}}},
    ]
    for doc in bad:
        assert list(validator.iter_errors(doc)), doc


def test_the_official_airflow_3_services_are_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    missing = REQUIRED_SERVICES - services.keys()
    assert not missing, f"missing services: {sorted(missing)}"
    assert WRITER_WORKER in services
    expected = {
        "airflow-apiserver": ["api-server"],
        "airflow-scheduler": ["scheduler"],
        "airflow-dag-processor": ["dag-processor"],
        "airflow-triggerer": ["triggerer"],
    }
    for name, cmd in expected.items():
        args = command(services[name])
        assert args == cmd or " ".join(["airflow", *cmd]) in script(services[name]), (name, args)
    for name in (SCALABLE_WORKER, WRITER_WORKER):
        assert celery_worker(services[name]) is not None, f"{name} is not a celery worker"
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")


def test_every_airflow_service_shares_executor_db_broker_and_secrets(compose: dict[str, Any]) -> None:
    services = airflow_services(compose)
    assert set(services) >= REQUIRED_SERVICES - {"postgres", "redis"} | {WRITER_WORKER}
    shared = [
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__FERNET_KEY",
        "NEWSFLOW_HOME",
        "NEWSFLOW_FEEDS",
        "NEWSFLOW_WRITER_QUEUE",
    ]
    for key in shared:
        values = {name: environment(svc).get(key) for name, svc in services.items()}
        assert len(set(values.values())) == 1, f"{key} differs between services: {values}"
        assert None not in values.values(), f"{key} missing somewhere: {values}"

    env = environment(services["airflow-scheduler"])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    db = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert db.scheme.startswith("postgresql") and db.hostname == "postgres", db
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis" and broker.hostname == "redis", broker
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"], "components must share one JWT secret (Airflow 3)"
    # HMAC-SHA512 (Airflow's signing) wants a key of at least its block's half, 64 bytes: PyJWT warns below
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"].encode()) >= 64


def test_a_default_workers_tasks_share_its_cores(compose: dict[str, Any]) -> None:
    """Each task's worker processes take the cores divided by the tasks the worker runs at once."""
    for name, svc in airflow_services(compose).items():
        worker = celery_worker(svc)
        if worker is None or worker[0] == [writer_settings()["WRITER_QUEUE"]]:
            continue
        assert worker[1] and worker[1] > 1, name
        assert environment(svc).get("NEWSFLOW_TASK_SLOTS") == str(worker[1]), name


def test_the_image_holds_the_ui_plugin() -> None:
    copies = [rest for op, rest in _dockerfile_instructions() if op == "COPY"]
    assert any(c.split()[-1] == "/opt/airflow/plugins" and " plugins " in f" {c} " for c in copies), copies
    assert (ROOT / "plugins" / "newsflow_plugin.py").is_file()


def test_execution_api_url_points_at_the_api_server(compose: dict[str, Any]) -> None:
    services = compose["services"]
    url = urlsplit(environment(services["airflow-scheduler"])["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert url.hostname == "airflow-apiserver" and url.path.rstrip("/") == "/execution", url
    published = [str(p) for p in services["airflow-apiserver"].get("ports", [])]
    assert any(p.split(":")[-1] == str(url.port or 80) for p in published), (url, published)


def test_api_server_login_uses_the_simple_auth_manager_with_a_known_password(compose: dict[str, Any]) -> None:
    api = compose["services"]["airflow-apiserver"]
    env = environment(api)
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
    user, _, role = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].partition(":")
    assert (user, role) == (env["_AIRFLOW_WWW_USER_USERNAME"], "admin")
    passwords_file = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    text = script(api)
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in text and "exec airflow api-server" in text
    assert text.index("SIMPLE_AUTH_MANAGER_PASSWORDS_FILE") < text.index("exec airflow api-server")
    assert passwords_file.startswith("/opt/airflow/")


def test_code_is_mounted_and_include_is_on_pythonpath(compose: dict[str, Any]) -> None:
    services = dict(airflow_services(compose))
    services["sample-site"] = compose["services"]["sample-site"]
    for name, svc in services.items():
        include = bind_of(svc, "include")
        assert include, f"{name}: include/ not mounted"
        pythonpath = environment(svc).get("PYTHONPATH", "").split(":")
        assert include["target"] in pythonpath, f"{name}: {include['target']} not on PYTHONPATH {pythonpath}"
        assert include["read_only"], f"{name}: mount include/ read-only"
        if name == "sample-site":
            continue
        dags = bind_of(svc, "dags")
        assert dags and dags["target"] == "/opt/airflow/dags" and dags["read_only"], f"{name}: dags/ {dags}"
    assert (ROOT / "include" / "newsflow" / "__init__.py").is_file()


def test_the_data_volume_is_at_newsflow_home_in_every_service_that_runs_tasks(
    compose: dict[str, Any],
) -> None:
    services = airflow_services(compose)
    workers = {name for name, svc in services.items() if celery_worker(svc)}
    assert {SCALABLE_WORKER, WRITER_WORKER} <= workers
    task_runners = workers | {"airflow-dag-processor", "airflow-triggerer", "airflow-init"}
    sources = set()
    for name in task_runners:
        svc = services[name]
        home = environment(svc).get("NEWSFLOW_HOME")
        assert home, f"{name}: NEWSFLOW_HOME not set"
        mount = mount_at(svc, home)
        assert mount and mount["type"] == "volume", f"{name}: no named volume at NEWSFLOW_HOME={home}"
        assert not mount["read_only"], f"{name}: the data volume must be writable"
        sources.add(mount["source"])
    assert len(sources) == 1, f"services mount different data volumes: {sources}"
    assert sources <= set(compose.get("volumes") or {})


def test_exactly_one_worker_consumes_the_writer_queue_with_concurrency_1(compose: dict[str, Any]) -> None:
    queue = writer_settings()["WRITER_QUEUE"]
    workers = {name: celery_worker(svc) for name, svc in compose["services"].items() if celery_worker(svc)}
    consumers = {name: w for name, w in workers.items() if w and queue in w[0]}
    assert list(consumers) == [WRITER_WORKER], f"consumers of {queue!r}: {consumers}"
    queues, concurrency = consumers[WRITER_WORKER]
    assert queues == [queue], f"the writer worker takes only the writer queue, not {queues}"
    assert concurrency == 1
    writer = compose["services"][WRITER_WORKER]
    assert int(writer.get("scale", 1)) == 1
    assert int((writer.get("deploy") or {}).get("replicas", 1)) == 1
    for name, (queues, _) in workers.items():
        if name != WRITER_WORKER:
            assert queue not in queues and "default" in queues, (name, queues)


def test_writer_queue_and_pool_match_the_dags(compose: dict[str, Any]) -> None:
    settings = writer_settings()
    assert settings["WRITER_POOL"] == "duckdb_writer"
    env_name = settings.get("WRITER_QUEUE_ENV")
    for name, svc in airflow_services(compose).items():
        if env_name:  # the DAGs read the queue from the environment: compose must pass the same value
            assert environment(svc).get(env_name) == settings["WRITER_QUEUE"], name
    # ...and every task in the writer pool goes to the writer queue (else a default worker could take it).
    for path in sorted((ROOT / "dags").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                kw = {k.arg: ast.unparse(k.value) for k in node.keywords if k.arg}
                if kw.get("pool") == "WRITER_POOL":
                    assert kw.get("queue") == "WRITER_QUEUE", f"{path.name}:{node.lineno}: pool without queue"


def test_init_migrates_the_db_and_creates_the_one_slot_writer_pool(compose: dict[str, Any]) -> None:
    services = compose["services"]
    init = services["airflow-init"]
    text = script(init)
    assert "airflow db migrate" in text
    pools = re.findall(r"airflow pools set\s+(\S+)\s+(\d+)", text)
    assert pools == [(writer_settings()["WRITER_POOL"], "1")], pools
    assert "set -e" in text, "a failed step must fail the init service (the others wait for its success)"
    assert text.index("airflow db migrate") < text.index("airflow pools set")
    assert init.get("restart") in (None, "no"), "a one-shot service"
    for name, svc in airflow_services(compose).items():
        if name == "airflow-init" or "profiles" in svc:
            continue
        dep = (svc.get("depends_on") or {}).get("airflow-init")
        assert dep == {"condition": "service_completed_successfully"}, (name, dep)


def test_depends_on_targets_exist_and_their_conditions_can_be_met(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        deps = {d: {"condition": "service_started"} for d in deps} if isinstance(deps, list) else deps
        for target, spec in deps.items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert target != name
            if spec["condition"] == "service_healthy":
                assert services[target].get("healthcheck"), (
                    f"{name} waits for {target}'s health: none defined"
                )
            if spec["condition"] == "service_completed_successfully":
                assert services[target].get("restart") in (None, "no"), f"{target} never completes"
            if "profiles" in services[target]:
                assert "profiles" in svc, f"{name} depends on {target}, which only starts with a profile"


def test_every_named_volume_and_config_used_is_declared(compose: dict[str, Any]) -> None:
    declared_volumes = set(compose.get("volumes") or {})
    declared_configs = set(compose.get("configs") or {})
    used_volumes, used_configs = set(), set()
    for name, svc in compose["services"].items():
        for m in mounts(svc):
            if m["type"] == "volume" and m.get("source"):
                assert m["source"] in declared_volumes, f"{name}: volume {m['source']} not declared"
                used_volumes.add(m["source"])
            if m["type"] == "bind":
                assert not Path(m["source"]).is_absolute(), f"{name}: host-specific path {m['source']}"
        for c in svc.get("configs") or []:
            source = c if isinstance(c, str) else c["source"]
            assert source in declared_configs, f"{name}: config {source} not declared"
            used_configs.add(source)
    assert declared_volumes == used_volumes, f"declared but unused: {declared_volumes - used_volumes}"
    assert declared_configs == used_configs, f"declared but unused: {declared_configs - used_configs}"


def test_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in (
        "postgres",
        "redis",
        "airflow-apiserver",
        "airflow-scheduler",
        SCALABLE_WORKER,
        WRITER_WORKER,
    ):
        test = (services[name].get("healthcheck") or {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, (name, test)
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "ping" in services["redis"]["healthcheck"]["test"]
    assert any("/api/v2/" in part for part in services["airflow-apiserver"]["healthcheck"]["test"])
    scheduler = environment(services["airflow-scheduler"])
    assert scheduler["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"  # what its healthcheck asks


def test_airflow_services_run_as_airflow_uid_with_group_0(compose: dict[str, Any]) -> None:
    for name, svc in airflow_services(compose).items():
        expected = "0:0" if name == "airflow-init" else "50000:0"
        assert svc.get("user") == expected, (name, svc.get("user"))


# --- the sample site and its feeds file ---------------------------------------------------------------------


def test_the_sample_feeds_file_reaches_the_sample_site_service(
    compose: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsflow.config import load_feeds_file
    from newsflow.net import NetGuard

    services = compose["services"]
    site = services["sample-site"]
    host = site.get("hostname") or "sample-site"
    port_arg = re.search(r"serve-sample\s+--host\s+(\S+)\s+--port\s+(\d+)", script(site))
    assert port_arg, "sample-site must run `newsflow serve-sample --host HOST --port PORT`"
    assert port_arg.group(1) == host == "sample-site"
    port = int(port_arg.group(2))

    feeds_path = environment(services[WRITER_WORKER])["NEWSFLOW_FEEDS"]
    for name, svc in airflow_services(compose).items():
        target = [
            c for c in svc.get("configs") or [] if isinstance(c, dict) and c.get("target") == feeds_path
        ]
        assert target, f"{name}: nothing mounted at NEWSFLOW_FEEDS={feeds_path}"
    content = compose["configs"][target[0]["source"]]["content"]
    path = tmp_path / "feeds.yaml"
    path.write_text(content)
    config = load_feeds_file(path)  # validates like the DAGs do
    assert config.feeds
    guard = NetGuard(config.allow_hosts, resolver=lambda h, p: ["172.18.0.5"])  # a compose network address
    for feed in config.feeds:
        url = urlsplit(str(feed.url))
        assert (url.hostname, url.port) == (host, port), feed.url
        guard.check(str(feed.url))  # allow-listed, although the address is private
    healthcheck = " ".join(site["healthcheck"]["test"])
    assert f"http://{host}:{port}/" in healthcheck


# --- image --------------------------------------------------------------------------------------------------


def _pinned(requirements: Path, package: str) -> str:
    for line in requirements.read_text().splitlines():
        m = re.match(rf"^{re.escape(package)}==([^\s#;]+)", line.strip(), re.IGNORECASE)
        if m:
            return m.group(1)
    raise AssertionError(f"{package} is not pinned in {requirements.name}")


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_base_image_matches_the_airflow_pin() -> None:
    airflow = _pinned(ROOT / "requirements.txt", "apache-airflow")
    assert _pinned(ROOT / "constraints.txt", "apache-airflow") == airflow
    froms = [rest for op, rest in _dockerfile_instructions() if op == "FROM"]
    assert froms == [f"apache/airflow:{airflow}-python{PYTHON_VERSION}"], froms


def test_dockerfile_installs_requirements_with_constraints_keeping_the_image_airflow() -> None:
    runs = [rest for op, rest in _dockerfile_instructions() if op == "RUN" and "pip install" in rest]
    assert len(runs) == 1, runs
    run = runs[0]
    args = shlex.split(run.split("&&")[0])
    req = args[args.index("-r") + 1]
    con = args[args.index("-c") + 1]
    assert Path(req).name == "requirements.txt" and Path(con).name == "constraints.txt", (req, con)
    assert "apache-airflow==${AIRFLOW_VERSION}" in args, "pin the image's own Airflow on the install line"
    assert "pip check" in run
    copies = [rest for op, rest in _dockerfile_instructions() if op == "COPY"]
    assert any("requirements.txt" in c and "constraints.txt" in c for c in copies)
    env = " ".join(rest for op, rest in _dockerfile_instructions() if op == "ENV")
    assert "PYTHONPATH=/opt/airflow/include" in env


def _glob(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: `*` and `?` stay inside one path segment, `**` crosses them."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] in "*?":
            out, i = out + ("[^/]*" if pattern[i] == "*" else "[^/]"), i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "$")


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parent folders decides."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _glob(pattern.lstrip("!").strip("/"))
        if any(regex.match(c) for c in candidates):
            ignored = not negate
    return ignored


def _ignore_patterns() -> list[str]:
    return [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_private() -> None:
    patterns = _ignore_patterns()
    for op, rest in _dockerfile_instructions():
        if op != "COPY":
            continue
        sources = [a for a in shlex.split(rest) if not a.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            files = (
                [source]
                if (ROOT / source).is_file()
                else [
                    str(f.relative_to(ROOT))
                    for f in (ROOT / source).rglob("*.py")
                    if "__pycache__" not in f.parts
                ]
            )
            assert files, f"COPY {source}: nothing to copy"
            for f in files:
                assert not _dockerignored(f, patterns), f"COPY {source}: {f} excluded by .dockerignore"
    for private in (".venv", "data/warehouse.duckdb", ".git/config", ".env", ".airflow/airflow.db", "tests"):
        assert _dockerignored(private, patterns), f"{private} would be sent to the builder"
    assert _dockerignored("include/newsflow/__pycache__/cli.cpython-311.pyc", patterns)


def test_services_build_the_project_image(compose: dict[str, Any]) -> None:
    images = set()
    for name, svc in compose["services"].items():
        if "build" in svc:
            build = svc["build"]
            build = {"context": build} if isinstance(build, str) else build
            assert (ROOT / build.get("context", ".")).resolve() == ROOT, name
            assert (ROOT / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE, name
            images.add(svc.get("image"))
    assert len(images) == 1, f"one image for every service built here: {images}"
    assert set(airflow_services(compose)) | {"sample-site"} <= {
        n for n, s in compose["services"].items() if "build" in s
    }


# --- Compose itself, when a client is installed -------------------------------------------------------------


def _compose_cli() -> list[str] | None:
    """`docker compose` (the plugin) or a standalone Compose v2 `docker-compose`; `config` needs no engine."""
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cli in candidates:
        try:
            done = subprocess.run([*cli, "version"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0 and re.search(r"\bv?2\.\d+", done.stdout):
            return cli
    return None


@pytest.fixture(scope="module")
def compose_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    cli = _compose_cli()
    if cli is None:
        pytest.skip(
            "no Docker Compose v2 client here (`docker compose version` fails: the compose plugin is not "
            "installed, and no v2 `docker-compose` is on PATH); the checks above cover the file without it"
        )
    # Variables at their defaults, as in the tests above: no host variables, no .env.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW", "NEWSFLOW"))}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, "--env-file", os.devnull, "-f", str(COMPOSE_FILE), *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )

    return run


def test_docker_compose_config_accepts_the_file(
    compose_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    done = compose_cli("config", "--quiet")
    assert done.returncode == 0, done.stderr


def test_docker_compose_resolves_the_same_wiring(
    compose_cli: Callable[..., subprocess.CompletedProcess[str]], compose: dict[str, Any]
) -> None:
    """Compose's own merge and interpolation give what the tests above read from the file."""
    done = compose_cli("--profile", "debug", "--profile", "flower", "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    resolved = json.loads(done.stdout)
    assert set(resolved["services"]) == set(compose["services"])
    for name, svc in compose["services"].items():
        theirs = json.loads(json.dumps(resolved["services"][name]).replace("$$", "$"))  # config re-escapes $
        assert command(theirs) == command(svc), name
        assert environment(theirs) == environment(svc), name
        ours = {(m["target"], m["read_only"]) for m in mounts(svc)}
        assert {(m["target"], bool(m.get("read_only"))) for m in theirs.get("volumes", [])} == ours, name
