"""compose.yaml, deploy/nats.conf and the Dockerfile: what a Docker user relies on.

No Docker engine runs here: these tests read the files and check that the pieces fit
together (service names in URLs, health checks, volumes, JetStream durability) and
that the command compose runs is one the `ticketflow` CLI accepts.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from typer.testing import CliRunner

import services.cli.up
from infra import logs
from infra.store import store_env
from services.cli.main import app
from services.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text("utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text("utf-8")


def command_of(service: str) -> list[str]:
    command = SERVICES[service].get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def option(args: list[str], name: str) -> str:
    """The value of `--name VALUE` or `--name=VALUE` in `args`."""
    for i, arg in enumerate(args):
        if arg == name:
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} not given in {args}")


def mounts(service: str) -> dict[str, str]:
    """target path -> source (a named volume or a host path) of a service's volumes."""
    result = {}
    for volume in SERVICES[service].get("volumes", []):
        if isinstance(volume, dict):
            result[volume["target"]] = volume["source"]
        else:
            source, target = volume.split(":")[:2]
            result[target] = source
    return result


def nats_config() -> dict[str, str]:
    """The `jetstream { ... }` block of the config file the nats service mounts."""
    config_path = option(command_of("nats"), "-c")
    source = mounts("nats")[config_path]
    text = (ROOT / source).read_text("utf-8")
    text = re.sub(r"#.*", "", text)
    block = re.search(r"\bjetstream\s*[:=]?\s*\{([^}]*)\}", text)
    assert block, f"{source} has no jetstream {{ ... }} block"
    pairs = re.findall(r"(\w+)\s*[:=]\s*([^\s,]+)", block.group(1))
    return {key: value.strip("\"'") for key, value in pairs}


def copied_by_dockerfile() -> set[str]:
    return {
        source
        for op, args in dockerfile_instructions()
        if op == "COPY"
        for source in args.split()[:-1]
    }


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


class TestServices:
    def test_compose_runs_nats_postgres_and_ticketflow(self) -> None:
        assert {"nats", "postgres", "ticketflow"} <= set(SERVICES)

    def test_nats_is_a_recent_official_image(self) -> None:
        image = SERVICES["nats"]["image"]
        match = re.fullmatch(r"nats:(\d+)\.(\d+)[\w.-]*", image)
        assert match, image
        assert (int(match[1]), int(match[2])) >= (2, 11)

    def test_postgres_is_version_16_or_newer(self) -> None:
        match = re.fullmatch(r"postgres:(\d+)[\w.-]*", SERVICES["postgres"]["image"])
        assert match and int(match[1]) >= 16

    def test_ticketflow_is_built_from_this_repository(self) -> None:
        build = SERVICES["ticketflow"]["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        assert (ROOT / context).resolve() == ROOT


class TestTicketflowCommand:
    def test_it_runs_ticketflow_up(self) -> None:
        assert command_of("ticketflow")[0] == "up"

    def test_it_connects_to_the_nats_service(self) -> None:
        url = urlparse(option(command_of("ticketflow"), "--nats-url"))
        assert (url.scheme, url.hostname, url.port) == ("nats", "nats", 4222)

    def test_its_store_is_the_postgres_service_with_its_credentials(self) -> None:
        url = urlparse(option(command_of("ticketflow"), "--store"))
        env = SERVICES["postgres"]["environment"]
        assert url.scheme == "postgresql"
        assert (url.hostname, url.port) == ("postgres", 5432)
        assert url.username == env["POSTGRES_USER"]
        assert url.password == env["POSTGRES_PASSWORD"]
        assert url.path.strip("/") == env["POSTGRES_DB"]

    def test_the_store_url_is_one_ticketflow_accepts(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TICKETFLOW_CIPHER_KEY", "A" * 43 + "=")  # no key file written
        env = store_env(option(command_of("ticketflow"), "--store"), tmp_path)
        assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
        assert env["POSTGRES_HOST"] == "postgres"

    def test_the_cli_runs_the_command_compose_gives_it(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        started: list[Settings] = []

        async def run_service(settings: Settings, announce: Any) -> int:
            started.append(settings)  # instead of running the service
            return 0

        monkeypatch.setattr(services.cli.up, "run_service", run_service)
        monkeypatch.setattr(logs, "configure", lambda level: None)
        result = CliRunner().invoke(app, command_of("ticketflow"))
        assert result.exit_code == 0, result.output
        (settings,) = started
        assert settings.nats_url == "nats://nats:4222"
        assert settings.store_url.startswith("postgresql://")
        assert settings.data_dir == Path("/data")

    def test_its_data_dir_is_a_persistent_volume(self) -> None:
        data_dir = option(command_of("ticketflow"), "--data-dir")
        assert mounts("ticketflow")[data_dir] in COMPOSE["volumes"]

    def test_the_cipher_key_comes_from_the_environment_not_the_file(self) -> None:
        value = str(SERVICES["ticketflow"]["environment"]["TICKETFLOW_CIPHER_KEY"])
        assert value.startswith("${TICKETFLOW_CIPHER_KEY")

    def test_it_starts_after_nats_and_postgres_are_healthy(self) -> None:
        depends = SERVICES["ticketflow"]["depends_on"]
        for service in ("nats", "postgres"):
            assert depends[service]["condition"] == "service_healthy"
            assert SERVICES[service]["healthcheck"]["test"]


class TestNatsDurability:
    def test_the_nats_service_reads_the_mounted_config_file(self) -> None:
        config_path = option(command_of("nats"), "-c")
        source = mounts("nats")[config_path]
        assert (ROOT / source).is_file()

    def test_jetstream_syncs_every_write_to_disk(self) -> None:
        assert nats_config()["sync_interval"] == "always"

    def test_jetstream_stores_in_a_named_volume(self) -> None:
        store_dir = nats_config()["store_dir"]
        assert mounts("nats")[store_dir] in COMPOSE["volumes"]

    def test_the_health_check_requires_jetstream(self) -> None:
        assert "js-enabled-only=true" in " ".join(SERVICES["nats"]["healthcheck"]["test"])

    def test_the_client_port_is_published_on_loopback_only(self) -> None:
        assert all(str(p).startswith("127.0.0.1:") for p in SERVICES["nats"].get("ports", []))


class TestVolumes:
    def test_every_named_volume_used_is_declared(self) -> None:
        for service in SERVICES:
            for source in mounts(service).values():
                if not source.startswith((".", "/", "~")):
                    assert source in COMPOSE["volumes"], f"{service}: volume {source}"

    def test_postgres_keeps_its_data_in_a_named_volume(self) -> None:
        assert mounts("postgres")["/var/lib/postgresql/data"] in COMPOSE["volumes"]


class TestDockerfile:
    def test_it_starts_from_python_3_11_slim(self) -> None:
        assert dockerfile_instructions()[0] == ("FROM", "python:3.11-slim")

    def test_it_installs_the_package(self) -> None:
        runs = [args for op, args in dockerfile_instructions() if op == "RUN"]
        assert any(re.search(r"\bpip install \.(\s|$)", run) for run in runs), runs

    def test_it_copies_every_package_pyproject_names(self) -> None:
        pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
        find = pyproject["tool"]["setuptools"]["packages"]["find"]
        packages = [pattern.rstrip("*") for pattern in find["include"]]
        copied = copied_by_dockerfile()
        assert {"pyproject.toml", pyproject["project"]["readme"], *packages} <= copied

    def test_it_runs_as_a_non_root_user(self) -> None:
        users = [args for op, args in dockerfile_instructions() if op == "USER"]
        assert users and users[-1] not in ("root", "0")

    def test_its_entrypoint_is_ticketflow(self) -> None:
        entrypoint = [args for op, args in dockerfile_instructions() if op == "ENTRYPOINT"]
        assert entrypoint == ['["ticketflow"]']

    def test_the_build_context_leaves_out_secrets_and_local_state(self) -> None:
        ignored = (ROOT / ".dockerignore").read_text("utf-8").split()
        assert {".env", ".venv", ".git", ".ticketflow"} <= set(ignored)
        assert not copied_by_dockerfile() & set(ignored)


class TestTheClusterProfile:
    NODES = ("nats1", "nats2", "nats3")

    def test_three_nats_nodes_route_to_each_other_with_jetstream_synced(self) -> None:
        for node in self.NODES:
            service = COMPOSE["services"][node]
            assert service["profiles"] == ["cluster"]
            config = (ROOT / "deploy" / f"nats-cluster-{node[-1]}.conf").read_text()
            assert "sync_interval: always" in config
            others = {f"nats://{n}:6222" for n in self.NODES if n != node}
            assert all(route in config for route in others)

    def test_two_instances_share_the_cluster_and_one_postgresql(self) -> None:
        for name in ("ticketflow-a", "ticketflow-b"):
            args = command_of(name)
            assert option(args, "--nats-url") == ",".join(f"nats://{n}:4222" for n in self.NODES)
            assert option(args, "--nats-replicas") == "3"
            assert option(args, "--store").startswith("postgresql://")
            assert set(COMPOSE["services"][name]["depends_on"]) == {*self.NODES, "postgres"}
