"""docker-compose.yml, its exporter-topology override and the Collector and Alertmanager configs,
checked as Compose, the Collector and syncsight would read them (no Docker engine runs here)."""

from __future__ import annotations

import re
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lineage.signing import load_signer
from syncsight.access import require_tokens_for_bind
from syncsight.config_file import load_config
from syncsight.settings import Settings
from tests.deploy.compose_files import (
    CLICKHOUSE_USERS,
    COMPOSE_FILE,
    ENV_EXAMPLE,
    EXPORTER_OVERRIDE,
    ROOT,
    TEST_ENV,
    TLS_OVERRIDE,
    MissingVariable,
    compose_client,
    environment,
    interpolate,
    load_yaml,
    parse_env_file,
    references,
    strings,
)
from tests.syncsight.test_cli import run
from warehouse.schema import OTEL_TRACES

COMPOSE = load_yaml(COMPOSE_FILE)
OVERRIDE = load_yaml(EXPORTER_OVERRIDE)
TLS = load_yaml(TLS_OVERRIDE)
SERVICES: dict[str, Any] = COMPOSE["services"]
BUILT = sorted(name for name, service in SERVICES.items() if "build" in service)
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|KEY", re.IGNORECASE)
SECRETS_DIR = "/run/secrets/"
"""Where Compose mounts a service's secrets; a setting naming a file there is not a secret."""


def collector_config(service: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """The config file the Collector service's ``--config`` names, resolved through its mounts."""
    command = service["command"]
    target = next(arg.split("=", 1)[1] for arg in command if arg.startswith("--config="))
    mounts = dict(reversed(volume.split(":")[:2]) for volume in service["volumes"])
    source = ROOT / mounts[target]
    return source, load_yaml(source)


def with_override(name: str) -> dict[str, Any]:
    """A service of the exporter topology: the base service with the override's keys merged."""
    base, extra = dict(SERVICES[name]), OVERRIDE["services"].get(name, {})
    merged = {**base, **extra}
    merged["environment"] = {**environment(base), **environment(extra)}
    merged["volumes"] = [*base.get("volumes", []), *extra.get("volumes", [])]
    merged["depends_on"] = {**base.get("depends_on", {}), **extra.get("depends_on", {})}
    return merged


def syncsight_settings(service: dict[str, Any]) -> Settings:
    """The Settings a service's SYNCSIGHT_* environment builds, after interpolation."""
    values = {
        key.removeprefix("SYNCSIGHT_").lower(): interpolate(value, TEST_ENV)
        for key, value in environment(service).items()
        if key.startswith("SYNCSIGHT_")
    }
    return Settings(**values)  # type: ignore[arg-type]


class TestServices:
    def test_the_topology_has_every_component_of_the_issue(self) -> None:
        """ClickHouse, the Collector (with its probe), syncsight, the dashboard, Alertmanager, and
        Prometheus and Grafana watching syncsight."""
        assert set(SERVICES) == {
            "clickhouse",
            "otel-collector",
            "otel-collector-health",
            "syncsight",
            "dashboard",
            "alertmanager",
            "prometheus",
            "grafana",
        }
        assert SERVICES["otel-collector"]["image"].startswith(
            "otel/opentelemetry-collector-contrib:"
        )

    @pytest.mark.parametrize("name", sorted(SERVICES))
    def test_every_image_is_pinned_to_a_version(self, name: str) -> None:
        """A version tag, never latest; the image built here carries the package version."""
        image = SERVICES[name]["image"]
        repository, _, tag = image.rpartition(":")
        assert repository, image
        assert re.fullmatch(r"v?\d+(\.\d+)+", tag), image
        if name in BUILT:
            version = re.search(
                r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M
            )
            assert version is not None
            assert tag == version.group(1)
            assert SERVICES[name]["build"] == {"context": ".", "dockerfile": "Dockerfile"}

    @pytest.mark.parametrize("name", sorted(SERVICES))
    def test_every_service_is_health_checked(self, name: str) -> None:
        """Each service has a health check, or a probe sharing its network namespace has one."""
        probes = [
            other
            for other in SERVICES.values()
            if other.get("network_mode") == f"service:{name}" and "healthcheck" in other
        ]
        checked = SERVICES[name].get("healthcheck", {}).get("test") or (
            probes and probes[0]["healthcheck"]["test"]
        )
        assert checked, f"{name} has no health check"

    @pytest.mark.parametrize(
        ("name", "dependency"),
        [(name, dep) for name, s in SERVICES.items() for dep in s.get("depends_on", {})],
    )
    def test_dependencies_wait_for_healthy_services(self, name: str, dependency: str) -> None:
        """depends_on waits for health (a network-namespace probe waits for its target to start)."""
        condition = SERVICES[name]["depends_on"][dependency]["condition"]
        if SERVICES[name].get("network_mode") == f"service:{dependency}":
            assert condition == "service_started"
        else:
            assert condition == "service_healthy"
            assert "healthcheck" in SERVICES[dependency]

    def test_start_order_is_storage_then_syncsight_then_its_clients(self) -> None:
        """ClickHouse and Alertmanager before syncsight; the Collector and dashboard after it."""
        assert set(SERVICES["syncsight"]["depends_on"]) == {"clickhouse", "alertmanager"}
        assert "syncsight" in SERVICES["otel-collector"]["depends_on"]
        assert "syncsight" in SERVICES["dashboard"]["depends_on"]

    def test_volumes_are_named_and_bind_mounts_exist(self) -> None:
        """Data lives in declared named volumes; every ./file mounted is in the repository."""
        declared = set(COMPOSE["volumes"])
        used = set()
        for service in [*SERVICES.values(), *OVERRIDE["services"].values()]:
            for volume in service.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("./"):
                    assert (ROOT / source).is_file(), volume
                else:
                    assert source in declared, volume
                    used.add(source)
        assert used == declared
        assert {"clickhouse-data", "syncsight-spool"} <= declared

    def test_published_ports_listen_on_loopback_by_default(self) -> None:
        """Published ports bind BIND_ADDRESS (default 127.0.0.1); ClickHouse is not published."""
        assert "ports" not in SERVICES["clickhouse"]
        for name, service in SERVICES.items():
            for port in service.get("ports", []):
                host = interpolate(port, {}).split(":")[0]
                assert host == "127.0.0.1", f"{name}: {port}"

    def test_container_ports_match_the_settings_and_the_collector(self) -> None:
        """syncsight publishes SYNCSIGHT_PORT; the Collector publishes the OTLP ports 4317/4318."""
        settings = syncsight_settings(SERVICES["syncsight"])
        assert SERVICES["syncsight"]["ports"][0].endswith(f":{settings.port}")
        collector_ports = {p.rsplit(":", 1)[1] for p in SERVICES["otel-collector"]["ports"]}
        assert collector_ports == {"4317", "4318"}
        dashboard_port = syncsight_settings(SERVICES["dashboard"]).dashboard_port
        assert SERVICES["dashboard"]["ports"][0].endswith(f":{dashboard_port}")
        assert environment(SERVICES["dashboard"])["STREAMLIT_SERVER_ADDRESS"] == "0.0.0.0"
        probe = " ".join(SERVICES["dashboard"]["healthcheck"]["test"])
        assert f"127.0.0.1:{dashboard_port}/_stcore/health" in probe


class TestVariables:
    def test_no_secret_is_written_in_the_compose_files(self) -> None:
        """Passwords and tokens come from required ${VAR:?…}; no value holds a token-like literal."""
        for document in (COMPOSE, OVERRIDE):
            for name, service in document["services"].items():
                for key, value in environment(service).items():
                    literal = re.sub(r"\$\{[^}]*\}", "", value)
                    assert not re.search(r"[A-Za-z0-9]{16,}", literal), f"{name}.{key}"
                    if SECRET_NAME.search(key) and not value.startswith(SECRETS_DIR):
                        assert any(op == ":?" for _, op in references(value)), f"{name}.{key}"

    def test_every_variable_is_listed_in_env_example(self) -> None:
        """deploy/env.example lists exactly the variables the compose files use."""
        used = {
            name
            for document in (COMPOSE, OVERRIDE, TLS)
            for text in strings(document)
            for name, _ in references(text)
        }
        assert set(parse_env_file(ENV_EXAMPLE)) == used

    def test_required_secrets_are_empty_in_env_example(self) -> None:
        """The example holds no usable secret: Compose refuses to start until each is filled."""
        example = parse_env_file(ENV_EXAMPLE)
        for name, value in example.items():
            if SECRET_NAME.search(name):
                assert value == "", name

    def test_a_missing_required_variable_is_named(self) -> None:
        """Interpolating without CLICKHOUSE_PASSWORD fails with the variable's name."""
        url = environment(SERVICES["syncsight"])["SYNCSIGHT_CLICKHOUSE_URL"]
        without = {k: v for k, v in TEST_ENV.items() if k != "CLICKHOUSE_PASSWORD"}
        with pytest.raises(MissingVariable, match="CLICKHOUSE_PASSWORD"):
            interpolate(url, without)

    def test_every_syncsight_variable_is_a_setting(self) -> None:
        """Each SYNCSIGHT_* name in the compose files and the Dockerfile exists in Settings."""
        names = {
            match
            for document in (COMPOSE, OVERRIDE)
            for text in strings(document)
            for match in re.findall(r"\bSYNCSIGHT_[A-Z0-9_]+", text)
        }
        names |= set(re.findall(r"\bSYNCSIGHT_[A-Z0-9_]+", (ROOT / "Dockerfile").read_text()))
        fields = {f"SYNCSIGHT_{name.upper()}" for name in Settings.model_fields}
        assert "SYNCSIGHT_API_TOKENS" in names
        assert names <= fields, sorted(names - fields)

    @pytest.mark.parametrize("name", ["syncsight", "dashboard"])
    def test_the_syncsight_environment_builds_valid_settings(self, name: str) -> None:
        """After interpolation the environment validates, and a public bind has tokens."""
        settings = syncsight_settings(SERVICES[name])
        if name == "syncsight":
            assert urlsplit(settings.clickhouse_url).hostname == "clickhouse"
            require_tokens_for_bind(
                settings.host,
                api_tokens=settings.api_tokens.enabled,
                ingest_tokens=settings.ingest_tokens.enabled,
            )

    def test_the_dashboard_holds_no_token_and_reaches_an_allowed_host(self) -> None:
        """The dashboard asks its user for a token; its API URL names a Host syncsight answers."""
        api = syncsight_settings(SERVICES["syncsight"])
        dashboard = syncsight_settings(SERVICES["dashboard"])
        assert dashboard.api_token.get_secret_value() == ""
        assert not any("TOKEN" in key for key in environment(SERVICES["dashboard"]))
        assert urlsplit(dashboard.api_url).hostname == "syncsight"
        assert urlsplit(dashboard.api_url).port == api.port
        assert {"syncsight", "127.0.0.1"} <= api.allowed_host_names

    def test_every_api_token_is_a_persons_own(self) -> None:
        """syncsight's API tokens come from one required variable, with no shared dashboard token."""
        value = environment(SERVICES["syncsight"])["SYNCSIGHT_API_TOKENS"]
        assert references(value) == [("SYNCSIGHT_API_TOKENS", ":?")]
        assert len(syncsight_settings(SERVICES["syncsight"]).api_token_grants) == 2

    def test_the_mounted_syncsight_config_file_is_valid(self) -> None:
        """deploy/syncsight.toml parses as syncsight's TOML configuration."""
        load_config(ROOT / "deploy" / "syncsight.toml")


class TestCollector:
    @pytest.mark.parametrize("topology", ["syncsight ingest", "clickhouse exporter"])
    def test_every_pipeline_component_is_defined(self, topology: str) -> None:
        """Receivers, processors, exporters and extensions named in service: are configured."""
        service = (
            SERVICES["otel-collector"]
            if topology == "syncsight ingest"
            else with_override("otel-collector")
        )
        _, config = collector_config(service)
        assert set(config["service"]["extensions"]) <= set(config["extensions"])
        for pipeline in config["service"]["pipelines"].values():
            for kind in ("receivers", "processors", "exporters"):
                assert set(pipeline.get(kind, [])) <= set(config.get(kind) or {}), kind
        grpc = config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
        http = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
        assert (grpc, http) == ("0.0.0.0:4317", "0.0.0.0:4318")

    def test_spans_are_forwarded_to_syncsight_with_an_accepted_ingest_token(self) -> None:
        """The otlphttp exporter targets the syncsight service and sends a token it accepts."""
        service = SERVICES["otel-collector"]
        _, config = collector_config(service)
        (name,) = config["service"]["pipelines"]["traces"]["exporters"]
        exporter = config["exporters"][name]
        settings = syncsight_settings(SERVICES["syncsight"])
        assert name.split("/")[0] == "otlphttp"
        assert exporter["endpoint"] == f"http://syncsight:{settings.port}"
        header = exporter["headers"]["Authorization"]
        variable = re.fullmatch(r"Bearer \$\{env:(\w+)\}", header)
        assert variable is not None
        token = interpolate(environment(service)[variable.group(1)], TEST_ENV)
        assert settings.ingest_tokens.allows(f"Bearer {token}")

    def test_the_health_probe_asks_the_health_check_extension(self) -> None:
        """The sidecar probes the port the health_check extension listens on."""
        _, config = collector_config(SERVICES["otel-collector"])
        port = config["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1]
        probe = SERVICES["otel-collector-health"]["healthcheck"]["test"]
        assert f"http://127.0.0.1:{port}/" in probe

    def test_the_exporter_topology_writes_syncsights_raw_table(self) -> None:
        """The ClickHouse exporter writes otel_traces of syncsight's database as the insert-only
        user, with that user's password; schema creation is off."""
        service = with_override("otel-collector")
        _, config = collector_config(service)
        exporter = config["exporters"]["clickhouse"]
        api = syncsight_settings(SERVICES["syncsight"])
        url = urlsplit(api.clickhouse_url)
        assert exporter["create_schema"] is False
        assert exporter["traces_table_name"] == OTEL_TRACES
        assert exporter["database"] == url.path.strip("/")
        assert exporter["username"] == "syncsight_writer"
        assert urlsplit(exporter["endpoint"]).hostname == "clickhouse"
        password = re.fullmatch(r"\$\{env:(\w+)\}", exporter["password"])
        assert password is not None
        user = USERS.find(f"users/{exporter['username']}")
        assert user is not None
        variable = user.find("password").get("from_env")  # type: ignore[union-attr]
        clickhouse_env = environment(SERVICES["clickhouse"])
        assert interpolate(service["environment"][password.group(1)], TEST_ENV) == interpolate(
            clickhouse_env[variable], TEST_ENV
        )
        assert grants(exporter["username"]) == writer_grants(exporter["database"])

    def test_the_exporter_starts_after_syncsight_migrated_the_database(self) -> None:
        """The override waits for a healthy syncsight (migrations ran) and a healthy ClickHouse."""
        depends = OVERRIDE["services"]["otel-collector"]["depends_on"]
        assert depends["syncsight"]["condition"] == "service_healthy"
        assert depends["clickhouse"]["condition"] == "service_healthy"
        assert set(OVERRIDE["services"]) <= set(SERVICES)


USERS = ET.parse(CLICKHOUSE_USERS).getroot()


def grants(user: str) -> list[str]:
    return [query.text or "" for query in USERS.findall(f"users/{user}/grants/query")]


def writer_grants(database: str) -> list[str]:
    """INSERT on the raw table, and CREATE TEMPORARY TABLE, which syncsight's insert through the
    input() table function needs; no SELECT, no DDL on the database."""
    return [f"GRANT INSERT ON {database}.{OTEL_TRACES}", "GRANT CREATE TEMPORARY TABLE ON *.*"]


class TestCollectorAuthentication:
    @pytest.mark.parametrize("topology", ["syncsight ingest", "clickhouse exporter"])
    def test_both_receivers_require_a_bearer_token(self, topology: str) -> None:
        """gRPC and HTTP receivers authenticate with a bearertokenauth extension that is enabled."""
        service = (
            SERVICES["otel-collector"]
            if topology == "syncsight ingest"
            else with_override("otel-collector")
        )
        _, config = collector_config(service)
        for protocol in ("grpc", "http"):
            name = config["receivers"]["otlp"]["protocols"][protocol]["auth"]["authenticator"]
            assert name.split("/")[0] == "bearertokenauth"
            assert name in config["service"]["extensions"]
            token = re.fullmatch(r"\$\{env:(\w+)\}", config["extensions"][name]["token"])
            assert token is not None
            value = environment(SERVICES["otel-collector"])[token.group(1)]
            assert references(value) == [("OTLP_SENDER_TOKEN", ":?")]

    def test_the_sender_token_differs_from_syncsights_ingest_token(self) -> None:
        """Applications get a token of their own; the Collector's token for syncsight stays inside."""
        collector = environment(SERVICES["otel-collector"])
        assert collector["OTLP_SENDER_TOKEN"] != collector["INGEST_TOKEN"]

    def test_the_tls_override_adds_tls_to_both_receivers(self) -> None:
        """compose.otlp-tls.yml keeps the main config and merges in TLS from the mounted files."""
        service = {**SERVICES["otel-collector"], **TLS["services"]["otel-collector"]}
        configs = [arg.split("=", 1)[1] for arg in service["command"]]
        assert configs[0] == "/etc/otelcol-contrib/config.yaml"
        mounts = dict(reversed(volume.rsplit(":", 2)[:2]) for volume in service["volumes"])
        overlay = load_yaml(ROOT / mounts[configs[1]])
        for protocol in ("grpc", "http"):
            tls = overlay["receivers"]["otlp"]["protocols"][protocol]["tls"]
            for key in ("cert_file", "key_file"):
                directory = str(Path(tls[key]).parent)
                assert references(mounts[directory]) == [("OTLP_TLS_DIR", ":?")]
            assert tls["min_version"] == "1.2"


class TestClickHouseUsers:
    def test_the_users_file_is_mounted_into_users_d(self) -> None:
        """The users of deploy/clickhouse/users.d are what the server loads."""
        mounts = dict(reversed(v.split(":")[:2]) for v in SERVICES["clickhouse"]["volumes"])
        target = "/etc/clickhouse-server/users.d/syncsight-users.xml"
        assert ROOT / mounts[target] == CLICKHOUSE_USERS

    @pytest.mark.parametrize("user", ["syncsight_writer", "syncsight_reader"])
    def test_passwords_come_from_required_variables(self, user: str) -> None:
        """No password in the file: from_env names a variable the ClickHouse service requires."""
        password = USERS.find(f"users/{user}/password")
        assert password is not None
        assert (password.text or "").strip() == ""
        value = environment(SERVICES["clickhouse"])[password.get("from_env", "")]
        assert any(op == ":?" for _, op in references(value))

    def test_the_writer_may_only_insert_raw_spans(self) -> None:
        """INSERT on otel_traces (and the temporary table input() needs): no SELECT, no DDL, no
        other table."""
        assert grants("syncsight_writer") == writer_grants("syncsight")

    def test_the_reader_is_read_only_with_limits(self) -> None:
        """SELECT only, a readonly profile with time, memory and result limits that constraints
        keep anyone from raising, and a quota."""
        assert grants("syncsight_reader") == ["GRANT SELECT ON syncsight.*"]
        profile = USERS.find(f"profiles/{USERS.findtext('users/syncsight_reader/profile')}")
        assert profile is not None
        # 2: reads only, and a client may set its own (lower) limits per query, as the API does
        assert profile.findtext("readonly") == "2"
        for limit in ("max_execution_time", "max_memory_usage", "max_result_rows"):
            assert int(profile.findtext(limit) or 0) > 0, limit
            assert profile.findtext(f"constraints/{limit}/max") == profile.findtext(limit), limit
        assert profile.findtext("result_overflow_mode") == "throw"
        quota = USERS.findtext("users/syncsight_reader/quota")
        assert USERS.find(f"quotas/{quota}/interval/queries") is not None

    @pytest.mark.parametrize(
        ("setting", "user", "password"),
        [
            ("clickhouse_url", "syncsight", "CLICKHOUSE_PASSWORD"),
            ("clickhouse_insert_url", "syncsight_writer", "CLICKHOUSE_WRITER_PASSWORD"),
            ("clickhouse_read_url", "syncsight_reader", "CLICKHOUSE_READER_PASSWORD"),
        ],
    )
    def test_serve_migrates_as_admin_inserts_as_writer_and_reads_as_reader(
        self, setting: str, user: str, password: str
    ) -> None:
        """Each of serve's ClickHouse URLs names its user, that user's password and one database."""
        settings = syncsight_settings(SERVICES["syncsight"])
        url = urlsplit(getattr(settings, setting))
        assert (url.username, url.hostname, url.path) == (user, "clickhouse", "/syncsight")
        assert url.password == TEST_ENV[password]
        if user != "syncsight":
            assert USERS.find(f"users/{user}") is not None
            from_env = USERS.find(f"users/{user}/password").get("from_env")  # type: ignore[union-attr]
            assert from_env == password
            assert password in environment(SERVICES["clickhouse"])

    def test_the_database_matches_syncsights(self) -> None:
        """The grants on tables name the database syncsight's URL and CLICKHOUSE_DB use."""
        database = urlsplit(syncsight_settings(SERVICES["syncsight"]).clickhouse_url).path
        assert environment(SERVICES["clickhouse"])["CLICKHOUSE_DB"] == database.strip("/")
        for user in ("syncsight_writer", "syncsight_reader"):
            on_tables = [g for g in grants(user) if not g.startswith("GRANT CREATE TEMPORARY")]
            assert on_tables
            assert all(f" ON {database.strip('/')}." in grant for grant in on_tables)


class TestAlertmanagerAndClickHouse:
    def test_alerts_route_to_a_webhook_read_from_a_compose_secret(self) -> None:
        """The route's receiver exists and its webhook URL file is the mounted secret."""
        service = SERVICES["alertmanager"]
        mounts = dict(reversed(v.split(":")[:2]) for v in service["volumes"])
        config = load_yaml(ROOT / mounts["/etc/alertmanager/alertmanager.yml"])
        receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
        webhook = receivers[config["route"]["receiver"]]["webhook_configs"][0]
        (secret,) = service["secrets"]
        assert webhook["url_file"] == f"/run/secrets/{secret}"
        assert secret in COMPOSE["secrets"]
        assert any(op == ":?" for _, op in references(COMPOSE["secrets"][secret]["file"]))

    def test_the_backup_disk_is_a_mounted_volume(self) -> None:
        """The 'backups' disk of BACKUP … TO Disk('backups', …) is the clickhouse-backups volume."""
        service = SERVICES["clickhouse"]
        mounts = dict(reversed(v.split(":")[:2]) for v in service["volumes"])
        config = ET.parse(ROOT / mounts["/etc/clickhouse-server/config.d/backups.xml"]).getroot()
        disk_path = config.findtext("storage_configuration/disks/backups/path")
        assert config.findtext("backups/allowed_disk") == "backups"
        assert disk_path is not None
        assert mounts[disk_path.rstrip("/")] == "clickhouse-backups"


class TestSigningKey:
    def test_the_signing_key_setting_reads_a_mounted_secret(self) -> None:
        """syncsight signs with the key file Compose mounts from SIGNING_KEY_FILE, a required
        variable; no key is generated inside the container (it would change on every rebuild)."""
        service = SERVICES["syncsight"]
        settings = syncsight_settings(service)
        assert settings.signing_key_file is not None
        secret = settings.signing_key_file.name
        assert settings.signing_key_path == Path(SECRETS_DIR) / secret
        assert secret in service["secrets"]
        source = COMPOSE["secrets"][secret]["file"]
        assert ("SIGNING_KEY_FILE", ":?") in references(source)
        assert "SIGNING_KEY_FILE" in parse_env_file(ENV_EXAMPLE)

    def test_every_secret_path_setting_names_a_secret_of_its_service(self) -> None:
        """A SYNCSIGHT_* setting under /run/secrets/ names a secret the service mounts."""
        for name, service in SERVICES.items():
            for key, value in environment(service).items():
                if value.startswith(SECRETS_DIR):
                    assert value.removeprefix(SECRETS_DIR) in service.get("secrets", []), (
                        f"{name}.{key}"
                    )

    def test_keygen_writes_an_owner_only_key_the_setting_loads(self, tmp_path: Path) -> None:
        """`syncsight ledger keygen --output FILE` writes a 0600 PEM key that the service loads
        from signing_key_file, and refuses to replace an existing key."""
        key = tmp_path / "keys" / "signing-key.pem"
        made = run("ledger", "keygen", "--output", str(key), cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        signer = load_signer(Settings(signing_key_file=key).signing_key_path)
        assert signer.key_id in made.stdout
        written = key.read_bytes()
        again = run("ledger", "keygen", "--output", str(key), cwd=tmp_path)
        assert again.returncode == 2
        assert "exists already" in again.stdout + again.stderr
        assert key.read_bytes() == written


COMPOSE_CLIENT = compose_client()
needs_compose = pytest.mark.skipif(
    COMPOSE_CLIENT is None, reason="no Docker Compose v2 client installed (docker compose plugin)"
)


def run_compose(
    tmp_path: Path, env: dict[str, str], *files: Path
) -> subprocess.CompletedProcess[str]:
    assert COMPOSE_CLIENT is not None
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
    file_args = [arg for f in files for arg in ("-f", str(f))]
    command = [*COMPOSE_CLIENT, "--project-directory", str(ROOT), "--env-file", str(env_file)]
    return subprocess.run(
        [*command, *file_args, "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs_compose
class TestComposeClient:
    @pytest.mark.parametrize(
        "files",
        [(COMPOSE_FILE,), (COMPOSE_FILE, EXPORTER_OVERRIDE), (COMPOSE_FILE, TLS_OVERRIDE)],
        ids=["ingest", "exporter", "ingest-tls"],
    )
    def test_docker_compose_config_accepts_both_topologies(
        self, tmp_path: Path, files: tuple[Path, ...]
    ) -> None:
        """The Compose client itself validates each topology with the variables set."""
        result = run_compose(tmp_path, TEST_ENV, *files)
        assert result.returncode == 0, result.stderr

    def test_docker_compose_config_names_a_missing_variable(self, tmp_path: Path) -> None:
        """Without CLICKHOUSE_PASSWORD, Compose refuses and names it."""
        env = {k: v for k, v in TEST_ENV.items() if k != "CLICKHOUSE_PASSWORD"}
        result = run_compose(tmp_path, env, COMPOSE_FILE)
        assert result.returncode != 0
        assert "CLICKHOUSE_PASSWORD" in result.stderr
