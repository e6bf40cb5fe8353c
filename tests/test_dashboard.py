"""The Grafana dashboard and the Prometheus example in ``packaging/`` against the metrics the
code really exports, so a renamed or dropped metric cannot leave a panel silently empty.

The exported names come from real expositions: the hub's (the ``/metrics`` body, on the
tests' PostgreSQL) and the app's (its registry on a real encrypted store).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.sync.hub.hubfixtures import provide_hub_database

PACKAGING = Path(__file__).resolve().parents[1] / "packaging"
DASHBOARD = PACKAGING / "grafana" / "jaga.json"
SCRAPE = PACKAGING / "prometheus" / "jaga.yml"
# The metric names a query can use: ours, and the process figures prometheus_client adds.
OURS = re.compile(r"\b(?:jaga|process)_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


@pytest.fixture(scope="module")
def hub_database() -> Iterator[str]:
    yield from provide_hub_database()


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def queries(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in panels(dashboard) for t in p["targets"]]
    variables = [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return exprs + variables


def names_in(exposition: str) -> set[str]:
    """The series names a query can use for each family of an exposition (without the
    ``_created`` stamps prometheus_client adds to counters and histograms)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        if family.name.endswith("_created"):
            continue
        suffixes = SUFFIXES.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names


def hub_exposition(data: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from sync.hub.erasure_journal import DATA_DIR_ENV, record_replay
    from sync.hub.metrics import hub_metrics
    from sync.hub.metrics_http import exposition

    hub_metrics()  # the request and push families exist once the hub has counted anything
    # The erasure journal's families need a data folder and a replay recorded in it.
    data.mkdir()
    monkeypatch.setenv(DATA_DIR_ENV, str(data))
    record_replay(data, dict.fromkeys(("applied", "unreadable", "other_hub", "no_site"), 0))
    return exposition().decode()


def device_exposition(tmp_path: Path) -> str:
    from desktop.metrics import DeviceMetrics, LoadedClassifier
    from sync.client.metrics import StoreReader
    from sync.client.state import record_result
    from sync.store import Passphrase, Store
    from tests.sync.conftest import FAST

    path = tmp_path / "jaga.db"
    with Store.create(path, Passphrase("pw"), config=FAST) as store:
        record_result(store.database, store.clock.now(), None)  # the last-sync figures show
    reader = StoreReader(lambda: Store.open(path, Passphrase("pw"), config=FAST), {})
    metrics = DeviceMetrics(reader, lambda: LoadedClassifier("2026.03", "CPUExecutionProvider"), 0)
    try:
        return generate_latest(metrics.sync.registry).decode()
    finally:
        metrics.close()


def test_every_metric_the_dashboard_queries_is_one_the_code_exports(
    hub_database: str, dashboard: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = hub_exposition(tmp_path / "hub", monkeypatch)
    exported = names_in(hub) | names_in(device_exposition(tmp_path))
    used = {name for query in queries(dashboard) for name in OURS.findall(query)}
    assert used, "the dashboard's queries name no metric"
    assert used <= exported, f"the dashboard queries what nothing exports: {used - exported}"
    ours = {name for name in exported if name.startswith("jaga_")}
    families = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in ours}
    shown = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in used}
    assert families <= shown, f"exported but on no panel: {families - shown}"


def test_the_dashboard_is_grafana_json_on_a_prometheus_datasource_variable(
    dashboard: dict[str, Any],
) -> None:
    (source,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert (source["name"], source["query"]) == ("datasource", "prometheus")
    assert dashboard["uid"] and dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        title = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), title
        assert panel["fieldConfig"]["defaults"]["unit"], f"{title} has no unit"
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, title
    assert_no_overlap([p["gridPos"] for p in dashboard["panels"]])


def assert_no_overlap(boxes: list[dict[str, int]]) -> None:
    cells: set[tuple[int, int]] = set()
    for box in boxes:
        mine = {(x, y) for x in range(box["x"], box["x"] + box["w"])
                for y in range(box["y"], box["y"] + box["h"])}  # fmt: skip
        assert not cells & mine, f"panels overlap at {box}"
        cells |= mine


def test_the_scrape_example_reads_the_hub_with_its_token_and_devices_on_loopback() -> None:
    yaml = pytest.importorskip("yaml")
    jobs = {job["job_name"]: job for job in yaml.safe_load(SCRAPE.read_text())["scrape_configs"]}
    hub, device = jobs["jaga-hub"], jobs["jaga-device"]
    assert hub["metrics_path"] == "/metrics"
    assert hub["authorization"]["type"] == "Bearer" and hub["authorization"]["credentials_file"]
    (targets,) = device["static_configs"]
    assert all(t.startswith("127.0.0.1:") for t in targets["targets"])


def test_every_metric_the_readmes_name_is_one_the_code_exports(
    hub_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Operators write their alerts from the README's names (``jaga_hub_audit_breaks``, ...):
    a name the code no longer exports would be an alert that can never fire."""
    exported = names_in(hub_exposition(tmp_path / "hub", monkeypatch))
    exported |= names_in(device_exposition(tmp_path))
    families = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in exported}
    readmes = [PACKAGING.parent / "README.md", PACKAGING / "systemd" / "README.md"]
    named = {name for readme in readmes for name in OURS.findall(readme.read_text())}
    assert named, "the READMEs name no metric"
    assert not named - families - exported, f"named, never exported: {named - families - exported}"
