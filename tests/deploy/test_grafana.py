"""Prometheus and Grafana in docker-compose.yml: the scrape reaches syncsight's /metrics with a
token, Grafana's data sources are the Prometheus service and ClickHouse's read-only user, and every
provisioned dashboard asks only for metrics syncsight exports and for tables and columns that exist
(each SQL query runs on the real engine)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from tests.deploy.compose_files import (
    CLICKHOUSE_USERS,
    COMPOSE_FILE,
    ROOT,
    environment,
    load_yaml,
    references,
)
from tests.deploy.test_compose import syncsight_settings
from tests.deploy.test_metrics_reference import documented
from warehouse.correlation_rules import CorrelationRules
from warehouse.migrations import migrate

COMPOSE = load_yaml(COMPOSE_FILE)
SERVICES: dict[str, Any] = COMPOSE["services"]
GRAFANA = SERVICES["grafana"]
PROMETHEUS = SERVICES["prometheus"]


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path → repository file of a service's bind mounts."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            found[target] = ROOT / source
    return found


def grafana_file(target_prefix: str) -> list[Path]:
    return [path for target, path in mounts(GRAFANA).items() if target.startswith(target_prefix)]


DATASOURCES = {
    source["uid"]: source
    for path in grafana_file("/etc/grafana/provisioning/datasources/")
    for source in load_yaml(path)["datasources"]
}
DASHBOARDS = {
    path.name: json.loads(path.read_text(encoding="utf-8"))
    for path in grafana_file("/var/lib/grafana/dashboards/")
}


def targets(datasource_type: str) -> list[tuple[str, dict[str, Any]]]:
    """(dashboard file, target) of every panel query on a data source of that type."""
    return [
        (name, target)
        for name, dashboard in DASHBOARDS.items()
        for panel in dashboard["panels"]
        for target in panel["targets"]
        if target["datasource"]["type"] == datasource_type
    ]


def exported_names() -> set[str]:
    """Every sample name syncsight's /metrics can carry (a counter's _total, a histogram's
    _bucket/_sum/_count): the families of docs/operations.md's metrics reference, which
    tests/deploy/test_metrics_reference.py holds to what the service exposes."""
    suffixes = {"counter": ("",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {name + suffix for name, kind in documented().items() for suffix in suffixes[kind]}


class TestPrometheus:
    def test_it_scrapes_syncsights_metrics_port_with_a_viewer_token_secret(self) -> None:
        """The target is the syncsight service on its port; the token file is the mounted secret."""
        config_path = mounts(PROMETHEUS)["/etc/prometheus/prometheus.yml"]
        (job,) = load_yaml(config_path)["scrape_configs"]
        port = syncsight_settings(SERVICES["syncsight"]).port
        assert job["static_configs"] == [{"targets": [f"syncsight:{port}"]}]
        assert job["metrics_path"] == "/metrics"
        (secret,) = PROMETHEUS["secrets"]
        assert job["authorization"] == {
            "type": "Bearer",
            "credentials_file": f"/run/secrets/{secret}",
        }
        source = COMPOSE["secrets"][secret]["file"]
        assert references(source) == [("PROMETHEUS_API_TOKEN_FILE", ":?")]

    def test_it_starts_after_syncsight_and_keeps_its_data_in_a_volume(self) -> None:
        """Prometheus waits for a healthy syncsight and Alertmanager; Grafana for ClickHouse and
        Prometheus."""
        assert set(PROMETHEUS["depends_on"]) == {"syncsight", "alertmanager"}
        assert set(GRAFANA["depends_on"]) == {"clickhouse", "prometheus"}
        assert "prometheus-data:/prometheus" in PROMETHEUS["volumes"]
        assert "grafana-data:/var/lib/grafana" in GRAFANA["volumes"]


class TestGrafanaDataSources:
    def test_clickhouse_is_read_as_the_read_only_user(self) -> None:
        """The plugin Grafana installs, the clickhouse service, syncsight's database, and the
        syncsight_reader user (readonly profile) with its password from the environment."""
        source = DATASOURCES["syncsight-clickhouse"]
        plugin = environment(GRAFANA)["GF_PLUGINS_PREINSTALL_SYNC"].split("@")[0]
        assert source["type"] == plugin == "grafana-clickhouse-datasource"
        settings = source["jsonData"]
        assert (settings["host"], settings["port"], settings["protocol"]) == (
            "clickhouse",
            9000,
            "native",
        )
        assert settings["defaultDatabase"] == environment(SERVICES["clickhouse"])["CLICKHOUSE_DB"]
        users = ET.parse(CLICKHOUSE_USERS).getroot()
        user = users.find(f"users/{settings['username']}")
        assert user is not None
        profile = users.find(f"profiles/{user.findtext('profile')}")
        assert profile is not None
        # 1 or 2: no writes and no DDL (2 lets a client set per-query limits, as syncsight does)
        assert profile.findtext("readonly") in ("1", "2")
        password = source["secureJsonData"]["password"]
        variable = password.removeprefix("$")
        assert user.find("password").get("from_env") == variable  # type: ignore[union-attr]
        assert references(environment(GRAFANA)[variable]) == [(variable, ":?")]

    def test_prometheus_is_the_compose_service(self) -> None:
        """Grafana's default data source is the prometheus service on its port."""
        source = DATASOURCES["syncsight-prometheus"]
        assert (source["type"], source["url"], source["isDefault"]) == (
            "prometheus",
            "http://prometheus:9090",
            True,
        )
        assert "http://127.0.0.1:9090/-/healthy" in PROMETHEUS["healthcheck"]["test"]


class TestGrafanaDashboards:
    def test_the_provider_reads_the_mounted_dashboards(self) -> None:
        """Both dashboards are mounted where the provider looks, each with its own uid."""
        (provider_path,) = grafana_file("/etc/grafana/provisioning/dashboards/")
        (provider,) = load_yaml(provider_path)["providers"]
        folder = provider["options"]["path"]
        mounted = [t for t in mounts(GRAFANA) if t.startswith("/var/lib/grafana/dashboards/")]
        assert mounted
        assert all(target.startswith(folder + "/") for target in mounted)
        assert sorted(DASHBOARDS) == ["syncsight-business.json", "syncsight-service.json"]
        uids = [dashboard["uid"] for dashboard in DASHBOARDS.values()]
        assert len(set(uids)) == len(uids)

    def test_every_panel_uses_a_provisioned_data_source(self) -> None:
        """No panel names a data source uid that is not provisioned."""
        for name, dashboard in DASHBOARDS.items():
            for panel in dashboard["panels"]:
                assert panel["datasource"]["uid"] in DATASOURCES, (name, panel["title"])
                for target in panel["targets"]:
                    assert target["datasource"]["uid"] in DATASOURCES, (name, panel["title"])

    def test_the_self_metrics_cover_ingest_evaluator_and_notifications(self) -> None:
        """Each part of syncsight has a panel, and every metric asked for is exported."""
        exprs = [target["expr"] for _, target in targets("prometheus")]
        asked = {name for expr in exprs for name in re.findall(r"\bsyncsight_[a-z_]+", expr)}
        assert asked <= exported_names(), sorted(asked - exported_names())
        for part in (
            "syncsight_spans_",
            "syncsight_evaluator_",
            "syncsight_notifications_",
            "syncsight_ledger_",
            "syncsight_warehouse_mutation",
        ):
            assert any(name.startswith(part) for name in asked), part


GRAFANA_MACROS = {
    r"\$__timeFilter\((\w+)\)": r"\1 >= now() - INTERVAL 30 DAY AND \1 <= now()",
    r"\$__fromTime": "now() - INTERVAL 30 DAY",
    r"\$__toTime": "now()",
}


@pytest.mark.parametrize(
    ("dashboard", "sql"),
    [(name, target["rawSql"]) for name, target in targets("grafana-clickhouse-datasource")],
    ids=lambda value: value if value.endswith(".json") else None,
)
def test_every_business_query_runs_on_the_schema(
    client: Client, database: str, dashboard: str, sql: str
) -> None:
    """With Grafana's macros expanded, each query runs on a migrated database: its tables and
    columns exist and it type-checks."""
    migrate(client, CorrelationRules.default())
    assert "syncsight." in sql, "queries name syncsight's database, as the reader sees it"
    for macro, replacement in GRAFANA_MACROS.items():
        sql = re.sub(macro, replacement, sql)
    assert "$" not in sql, f"{dashboard}: an unknown Grafana macro in {sql}"
    client.query(sql.replace("syncsight.", f"{database}."))
