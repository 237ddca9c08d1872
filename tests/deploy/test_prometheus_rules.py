"""Prometheus's alerts on syncsight itself (deploy/prometheus/rules/syncsight.yml), checked by
Prometheus's own tool: the rules load, they fire and stay quiet as their unit tests say
(``promtool test rules`` evaluates them over synthetic series: tests/deploy/prometheus_rules_test.yml),
every metric they ask for is one syncsight exports, and the compose Prometheus loads them and sends
to the compose Alertmanager (``promtool check config`` on the compose configuration)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.deploy.compose_files import ROOT, load_yaml
from tests.deploy.test_grafana import PROMETHEUS, SERVICES, exported_names, mounts

PROMTOOL = shutil.which("promtool")
RULES = ROOT / "deploy" / "prometheus" / "rules" / "syncsight.yml"
UNIT_TESTS = Path(__file__).with_name("prometheus_rules_test.yml")


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL, (
        "Prometheus's promtool is not installed: `make test` installs it, or "
        "`apt-get install -y prometheus`"
    )
    return subprocess.run(
        [PROMTOOL, *arguments], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_rules_load() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rules_fire_and_stay_quiet_as_their_unit_tests_say() -> None:
    tested = promtool("test", "rules", str(UNIT_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_metric_a_rule_asks_for_is_exported() -> None:
    rules = [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]
    asked = {name for rule in rules for name in re.findall(r"\bsyncsight_[a-z_]+", rule["expr"])}
    assert asked, "no rule asks for a syncsight metric"
    assert asked <= exported_names(), sorted(asked - exported_names())
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert "docs/operations.md" in rule["annotations"]["description"], rule["alert"]


def test_the_compose_prometheus_loads_the_rules_and_alerts_the_compose_alertmanager(
    tmp_path: Path,
) -> None:
    """The configuration as mounted, with the container's paths pointed at the repository's files
    (the token file at a stand-in), passes ``promtool check config``, rules included."""
    mounted = mounts(PROMETHEUS)
    assert mounted["/etc/prometheus/rules/syncsight.yml"] == RULES
    config = load_yaml(mounted["/etc/prometheus/prometheus.yml"])
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    (manager,) = config["alerting"]["alertmanagers"]
    port = SERVICES["alertmanager"]["healthcheck"]["test"][-1].split(":")[2].split("/")[0]
    assert manager["static_configs"] == [{"targets": [f"alertmanager:{port}"]}]
    token = tmp_path / "token"
    token.write_text("stand-in")
    text = mounted["/etc/prometheus/prometheus.yml"].read_text()
    text = text.replace("/etc/prometheus/rules", str(RULES.parent))
    text = re.sub(r"/run/secrets/\w+", str(token), text)
    local = tmp_path / "prometheus.yml"
    local.write_text(text)
    checked = promtool("check", "config", str(local))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "9 rules found" in checked.stdout
