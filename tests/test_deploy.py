"""deploy/: the Grafana dashboard, Prometheus's configuration and alert rules, the Kubernetes
manifests and docker-compose.yml's monitoring profile.

No Grafana, Prometheus, promtool or cluster runs here, so they are checked by parsing: every
metric a PromQL expression names must be a series of ``moderation.metrics.METRICS`` (the
catalogue), every label it matches, groups by or shows must be one of that metric's labels,
and the manifests must run the commands, probes and queues the service really has.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rq import Queue
from ruamel.yaml import YAML

from moderation import defaults
from moderation.db import make_engine, upgrade
from moderation.metrics import METRICS, Metric
from moderation.settings import Settings
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "moderation.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
KUBERNETES = DEPLOY / "kubernetes"

SERIES: dict[str, Metric] = {series: m for m in METRICS for series in m.series}
"""Every name a scrape shows (a histogram's _bucket, _sum and _count), to its metric."""


# --- reading ---------------------------------------------------------------------------------
def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def yaml_docs(path: Path) -> list[Any]:
    return [doc for doc in YAML(typ="safe").load_all(path.read_text()) if doc is not None]


def deploy_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file())


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())
    return loaded


def manifests(*, optional: bool = True) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object under deploy/kubernetes (the kustomization aside); without
    ``optional``, only those kustomization.yaml applies (not optional/)."""
    for path in sorted(KUBERNETES.rglob("*.yaml")):
        if path.name == "kustomization.yaml" or (not optional and path.parent != KUBERNETES):
            continue
        for doc in yaml_docs(path):
            yield path, doc


def objects(kind: str, *, optional: bool = True) -> dict[str, dict[str, Any]]:
    return {
        doc["metadata"]["name"]: doc
        for _, doc in manifests(optional=optional)
        if doc["kind"] == kind
    }


def applied(kind: str) -> dict[str, dict[str, Any]]:
    return objects(kind, optional=False)


# --- PromQL, by pattern ------------------------------------------------------------------------
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
METRIC_NAME = re.compile(r"(?<![\w:])moderation_[a-z_]+\b")
SELECTOR = re.compile(r"(?<![\w:])(moderation_[a-z_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(
    r'\s*([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*(?:"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')\s*(?:,|$)'
)
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def allowed_labels(series: str) -> set[str]:
    metric = SERIES[series]
    return set(metric.labels) | ({"le"} if series.endswith("_bucket") else set())


def balanced(text: str) -> bool:
    stack: list[str] = []
    for char in text:
        if char in "([{":
            stack.append(")]}"["([{".index(char)])
        elif char in ")]}" and (not stack or stack.pop() != char):
            return False
    return not stack


def check_expr(expr: str, where: str) -> tuple[list[str], set[str]]:
    """Problems with one PromQL expression, and the labels its metrics have (to check
    legends and annotations against)."""
    problems = []
    bare = STRING.sub('""', expr)  # a label value never counts as a name
    if not balanced(bare):
        problems.append(f"{where}: brackets do not pair up (in: {expr.strip()})")
    names = set(METRIC_NAME.findall(bare))
    for name in sorted(names - set(SERIES)):
        problems.append(
            f"{where}: {name} is no series of moderation.metrics.METRICS (in: {expr.strip()})"
        )
    known = names & set(SERIES)
    labels = set().union(*(allowed_labels(n) for n in known)) if known else set()
    for name, body in SELECTOR.findall(expr):
        if name not in SERIES:
            continue
        matchers = MATCHER.findall(body)
        if MATCHER.sub("", body).strip():
            problems.append(f"{where}: cannot read the matchers {{{body}}} of {name}")
        for label in matchers:
            if label not in allowed_labels(name):
                problems.append(
                    f"{where}: {name} has no label {label!r} (it has: "
                    f"{', '.join(sorted(allowed_labels(name)))}; in: {expr.strip()})"
                )
    if known:
        for group in GROUPING.findall(bare):
            for label in filter(None, (g.strip() for g in group.split(","))):
                if label not in labels:
                    problems.append(
                        f"{where}: groups by {label!r}, which none of {sorted(known)} has "
                        f"(in: {expr.strip()})"
                    )
    return problems, labels


def test_the_expression_check_catches_wrong_names_and_labels():
    ok, labels = check_expr(
        "histogram_quantile(0.9, sum by (le) (rate(moderation_decision_latency_seconds_bucket"
        '{site=~"$site", decided_by="rules"}[5m])))',
        "x",
    )
    assert ok == [] and labels == {"site", "decided_by", "le"}
    assert check_expr('moderation_queue_depth{queue="moderation_x"}', "x")[0] == []
    wrong, _ = check_expr("sum(rate(moderation_comments_total[5m]))", "f.json panel 'P'")
    assert wrong == [
        "f.json panel 'P': moderation_comments_total is no series of moderation.metrics.METRICS "
        "(in: sum(rate(moderation_comments_total[5m])))"
    ]
    assert "has no label 'le'" in check_expr('moderation_queue_depth{le="1"}', "x")[0][0]
    assert "has no label 'state'" in check_expr('moderation_workers_busy{state="x"}', "x")[0][0]
    assert "groups by 'site'" in check_expr("sum by (site) (moderation_workers)", "x")[0][0]
    assert "brackets" in check_expr("sum(rate(moderation_scoring_failures_total[5m])", "x")[0][0]


# --- every file -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", deploy_files(), ids=rel)
def test_every_file_under_deploy_parses(path):
    if path.suffix == ".json":
        json.loads(path.read_text())
    else:
        assert path.suffix in (".yml", ".yaml"), f"{rel(path)}: what is this file?"
        assert yaml_docs(path), f"{rel(path)} is empty"


# --- the dashboard --------------------------------------------------------------------------
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(within: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in within.get("panels", []):
        yield panel
        yield from panels(panel)  # a collapsed row keeps its panels inside


def dashboard_exprs() -> Iterator[tuple[str, str, str]]:
    """(where, expression, legend) for every query of every panel."""
    for panel in panels(dashboard()):
        for target in panel.get("targets", []):
            where = f"{rel(DASHBOARD)} panel {panel['title']!r} query {target['refId']}"
            yield where, target["expr"], target.get("legendFormat", "")


def test_the_dashboard_names_only_metrics_and_labels_that_exist():
    problems = []
    for where, expr, legend in dashboard_exprs():
        found, labels = check_expr(expr, where)
        problems += found
        for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend) if not found else ():
            if label not in labels:
                problems.append(f"{where}: the legend shows {{{{{label}}}}}, not a label of {expr}")
    for variable in dashboard()["templating"]["list"]:
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query or ""
        for name, label in re.findall(r"label_values\(\s*(\w+)\s*,\s*(\w+)\s*\)", query):
            where = f"{rel(DASHBOARD)} variable {variable['name']!r}"
            if name not in SERIES:
                problems.append(f"{where}: {name} is no series of moderation.metrics.METRICS")
            elif label not in allowed_labels(name):
                problems.append(f"{where}: {name} has no label {label!r}")
    assert not problems, "\n".join(problems)


def test_the_dashboard_shows_every_metric():
    shown = {
        SERIES[name]
        for _, expr, _ in dashboard_exprs()
        for name in METRIC_NAME.findall(STRING.sub('""', expr))
        if name in SERIES
    }
    missing = [m.name for m in METRICS if m not in shown]
    assert not missing, f"{rel(DASHBOARD)} has no panel for: {', '.join(missing)}"


def test_the_dashboard_imports_anywhere_as_it_is():
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    assert board["id"] is None  # Grafana gives it one
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    site = variables["site"]
    assert site["definition"] == "label_values(moderation_comments_received_total, site)"
    assert site["includeAll"] and site["multi"] and site["allValue"] == ".*"
    ids = []
    for panel in panels(board):
        ids.append(panel["id"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"{panel['title']!r} is wider than the board"
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel["description"], panel
        # Every query through the dashboard's own data source variable: no uid to rewrite.
        for source in (panel["datasource"], *(t["datasource"] for t in panel["targets"])):
            assert source == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs), panel["title"]
    assert len(set(ids)) == len(ids), "panel ids repeat"


def test_the_dashboard_filters_by_site_wherever_a_metric_has_sites():
    for where, expr, _ in dashboard_exprs():
        for name, body in SELECTOR.findall(expr):
            if "site" in SERIES[name].labels:
                assert 'site=~"$site"' in body, f"{where}: {name} ignores $site"
        for name in METRIC_NAME.findall(STRING.sub('""', expr)):
            if "site" in SERIES[name].labels:
                assert re.search(rf"{name}\s*\{{", expr), f"{where}: {name} ignores $site"


# --- Prometheus -------------------------------------------------------------------------------
def alert_rules() -> list[dict[str, Any]]:
    (loaded,) = yaml_docs(ALERTS)
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_the_alert_rules_are_complete_and_name_only_metrics_that_exist():
    (loaded,) = yaml_docs(ALERTS)
    assert loaded["groups"] and all(g["name"] and g["rules"] for g in loaded["groups"])
    problems = []
    names = []
    for rule in alert_rules():
        where = f"{rel(ALERTS)} alert {rule.get('alert')!r}"
        names.append(rule.get("alert"))
        missing = [k for k in ("alert", "expr", "for", "labels", "annotations") if k not in rule]
        if missing:
            problems.append(f"{where}: no {', '.join(missing)}")
            continue
        if not re.fullmatch(r"\d+[smhd]", str(rule["for"])):
            problems.append(f"{where}: for: {rule['for']!r} is not a duration")
        if rule["labels"].get("severity") not in ("critical", "warning"):
            problems.append(f"{where}: severity {rule['labels'].get('severity')!r}")
        for key in ("summary", "description"):
            if not str(rule["annotations"].get(key, "")).strip():
                problems.append(f"{where}: no annotations.{key}")
        found, labels = check_expr(rule["expr"], where)
        problems += found
        if labels:  # an expression on moderation's metrics: its annotations show their labels
            for text in rule["annotations"].values():
                for label in re.findall(r"\$labels\.(\w+)", text):
                    if label not in labels:
                        problems.append(f"{where}: annotations show $labels.{label}, not a label")
    assert not problems, "\n".join(problems)
    assert len(set(names)) == len(names), "alert names repeat"
    wanted = {
        "ModerationScoringQueueSlow",
        "ModerationPendingCommentOld",
        "ModerationHTTPErrors",
        "ModerationScoringFailures",
        "ModerationWebhookBacklogGrowing",
        "ModerationWebhookDeliveriesGivenUp",
        "ModerationNoScoringWorker",
        "ModerationNoWebhookWorker",
        "ModerationRulesRefused",
        "ModerationEscalationsWaiting",
    }
    assert wanted <= set(names), f"missing: {sorted(wanted - set(names))}"


def test_the_alerts_watch_the_live_queue_and_workers_as_the_service_names_them():
    rules = {r["alert"]: r["expr"] for r in alert_rules()}
    assert f'queue="{defaults.DEFAULT_QUEUE}"' in rules["ModerationScoringQueueSlow"]
    bulk = defaults.DEFAULT_QUEUE + defaults.DEFAULT_BULK_QUEUE_SUFFIX
    assert f'queue="{bulk}"' in rules["ModerationBulkQueueStuck"]
    from moderation.api.routes.metrics import WORKER_STATES

    for alert, kind in (
        ("ModerationNoScoringWorker", "scoring"),
        ("ModerationNoWebhookWorker", "webhooks"),
    ):
        assert (
            f'kind="{kind}"' in rules[alert]
            and f'absent(moderation_workers{{kind="{kind}"}})' in rules[alert]
        )
        assert set(re.search(r'state=~"([^"]+)"', rules[alert])[1].split("|")) <= set(WORKER_STATES)
    assert 'outcome="refused"' in rules["ModerationRulesRefused"]


def test_prometheus_scrapes_the_api_with_a_key_and_loads_the_alerts():
    (config,) = yaml_docs(PROMETHEUS)
    services = compose()["services"]
    mounts = dict(v.split(":")[:2] for v in services["prometheus"]["volumes"] if v.startswith("./"))
    assert mounts[f"./{rel(PROMETHEUS)}"] == "/etc/prometheus/prometheus.yml"
    assert config["rule_files"] == [mounts[f"./{rel(ALERTS)}"]]
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": ["api:8000"]}]
    assert "8000:8000" in services["api"]["ports"]
    # Compose's API is reached from another container: not loopback, so a key is needed.
    assert job["authorization"]["type"] == "Bearer"
    key_file = job["authorization"]["credentials_file"]
    assert f"> {key_file} " in services["prometheus"]["command"][0]
    assert "$$MODERATION_METRICS_KEY" in services["prometheus"]["command"][0]
    up = {r["alert"]: r["expr"] for r in alert_rules()}["ModerationMetricsDown"]
    assert f'job="{job["job_name"]}"' in up


# --- Grafana and docker-compose.yml --------------------------------------------------------------
def test_grafana_is_provisioned_from_compose_with_the_dashboard():
    services = compose()["services"]
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"] if v.startswith("./"))
    (sources,) = yaml_docs(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in services["prometheus"]["ports"]
    (providers,) = yaml_docs(DEPLOY / "grafana/provisioning/dashboards/moderation.yml")
    (provider,) = providers["providers"]
    assert provider["options"]["path"] == mounts["./deploy/grafana/dashboards"]
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"
    for sub in ("datasources", "dashboards"):
        assert mounts[f"./deploy/grafana/provisioning/{sub}"] == f"/etc/grafana/provisioning/{sub}"


def test_compose_runs_monitoring_only_under_its_profile():
    loaded = compose()
    services = loaded["services"]
    for name in ("prometheus", "grafana"):
        service = services[name]
        assert service["profiles"] == ["monitoring"], name
        image, _, tag = service["image"].partition(":")
        assert tag and tag != "latest", f"{name}: pin the image's version ({service['image']})"
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert source.startswith("./deploy/"), f"{name} mounts {source}"
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in loaded["volumes"], f"{name}: volume {source} is not declared"
        assert all(p.startswith("127.0.0.1:") for p in service["ports"]), name
    assert "api" in services["prometheus"]["depends_on"]
    assert "prometheus" in services["grafana"]["depends_on"]
    others = set(services) - {"prometheus", "grafana"}
    assert not [n for n in others if "profiles" in services[n]], "`docker compose up` changed"
    assert services["api"]["environment"]["MODERATION_LOG_FORMAT"] == "json"


# --- Kubernetes ----------------------------------------------------------------------------
def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def only_container(doc: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod_spec(doc)["containers"]
    return container


def test_every_manifest_has_api_version_kind_and_name():
    problems = [
        f"{rel(path)}: a document without {key}"
        for path, doc in manifests()
        for key in ("apiVersion", "kind", "metadata")
        if not doc.get(key)
    ]
    problems += [
        f"{rel(path)}: {doc['kind']} without metadata.name"
        for path, doc in manifests()
        if not (doc.get("metadata") or {}).get("name")
    ]
    assert not problems, "\n".join(problems)
    names = [(doc["kind"], doc["metadata"]["name"], p.parent.name) for p, doc in manifests()]
    assert len(set(names)) == len(names), "two objects of one kind share a name"


def test_kustomization_lists_every_manifest_in_the_folder():
    (kustomization,) = yaml_docs(KUBERNETES / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    # A template is listed by the name of the copy it asks for (secret.example -> secret).
    expected = {name.replace(".example.yaml", ".yaml") for name in files}
    listed = set(kustomization["resources"])
    assert listed == expected, f"listed {sorted(listed)}; in the folder {sorted(expected)}"
    assert not (KUBERNETES / "secret.yaml").exists() or "secret.yaml" in listed
    (image,) = kustomization["images"]
    assert f"{image['newName']}:{image['newTag']}" == compose()["services"]["api"]["image"]


def test_the_api_deployment_is_probed_on_healthz_and_readyz():
    api = applied("Deployment")["moderation-api"]
    assert api["spec"]["replicas"] >= 2
    container = only_container(api)
    assert container["command"] == compose()["services"]["api"]["command"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    served = int(container["command"][container["command"].index("--port") + 1])
    paths = {
        "livenessProbe": "/healthz",
        # Judged on what storing a comment needs: no worker up is no reason to turn
        # publishers away (tests/api/test_health.py, the "only" tests).
        "readinessProbe": "/readyz?only=database,rules",
    }
    for probe, path in paths.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert ports.get(get["port"], get["port"]) == served, f"{probe} on another port"
    from moderation.api.routes import health

    routes = {r.path for r in health.router.routes}  # type: ignore[attr-defined]
    assert {"/healthz", "/readyz"} <= routes
    assert {"database", "rules"} <= set(health.CHECKS)
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_the_service_selects_the_api_pods_and_only_them():
    (service,) = applied("Service").values()
    selector = service["spec"]["selector"]
    deployments = applied("Deployment")
    for name, doc in deployments.items():
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        chosen = selector.items() <= labels.items()
        assert chosen == (name == "moderation-api"), f"the Service selects {name}: {chosen}"
    container = only_container(deployments["moderation-api"])
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in container["ports"]}
    (pdb,) = applied("PodDisruptionBudget").values()
    assert pdb["spec"]["selector"]["matchLabels"] == selector


def test_the_job_migrates_and_the_pods_wait_for_it():
    (job,) = applied("Job").values()
    assert only_container(job)["command"] == ["moderation", "db", "upgrade"]
    assert only_container(job)["command"] == compose()["services"]["migrate"]["command"]
    for name, doc in applied("Deployment").items():
        (wait,) = pod_spec(doc)["initContainers"]
        assert wait["command"] == ["python", "/etc/moderation/wait_for_migrations.py"], name
        mounted = {m["name"]: m["mountPath"] for m in wait["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec(doc)["volumes"]}
        assert volumes["scripts"]["configMap"]["name"] == "moderation-scripts", name
        assert mounted["scripts"] == "/etc/moderation", name


def test_the_workers_run_the_worker_commands_without_http_probes():
    deployments = applied("Deployment")
    worker = only_container(deployments["moderation-worker"])
    webhooks = only_container(deployments["moderation-webhook-worker"])
    assert worker["command"] == ["moderation", "worker"]
    assert webhooks["command"] == ["moderation", "worker", "--webhooks"]
    for container in (worker, webhooks):
        assert not {"livenessProbe", "readinessProbe", "ports"} & set(container)
    # SIGTERM lets the scoring pass in hand finish; a pass may run up to the job timeout.
    grace = pod_spec(deployments["moderation-worker"])["terminationGracePeriodSeconds"]
    assert grace > defaults.DEFAULT_JOB_TIMEOUT
    grace = pod_spec(deployments["moderation-webhook-worker"])["terminationGracePeriodSeconds"]
    assert grace > defaults.DEFAULT_WEBHOOK_TIMEOUT_SECONDS


def test_the_workers_scale_on_the_default_queues_length():
    (scaled,) = applied("ScaledObject").values()
    target = scaled["spec"]["scaleTargetRef"]
    assert target.get("kind", "Deployment") == "Deployment"
    assert target["name"] in applied("Deployment")
    assert only_container(applied("Deployment")[target["name"]])["command"] == [
        "moderation",
        "worker",
    ]
    assert scaled["spec"]["minReplicaCount"] >= 1  # decisions would wait for a worker to load
    triggers = scaled["spec"]["triggers"]
    assert {t["type"] for t in triggers} == {"redis"}
    lists = [t["metadata"]["listName"] for t in triggers]
    prefix = Queue.redis_queue_namespace_prefix  # RQ's key for a queue's list of job ids
    assert lists[0] == prefix + defaults.DEFAULT_QUEUE
    assert prefix + defaults.DEFAULT_QUEUE + defaults.DEFAULT_BULK_QUEUE_SUFFIX in lists
    (secret,) = objects("Secret").values()
    for trigger in triggers:
        assert trigger["metadata"]["addressFromEnv"] in secret["stringData"]
        assert int(trigger["metadata"]["listLength"]) > 0


def test_the_optional_hpa_scales_the_worker_on_a_metric_that_exists():
    (hpa,) = objects("HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "moderation-worker"
    assert hpa["spec"]["minReplicas"] >= 1
    for metric in hpa["spec"]["metrics"]:
        external = metric["external"]["metric"]
        assert external["name"] in SERIES
        labels = external.get("selector", {}).get("matchLabels", {})
        assert set(labels) <= set(SERIES[external["name"]].labels)
        assert labels.get("queue") in (None, defaults.DEFAULT_QUEUE)


def test_every_pod_runs_the_image_as_its_user_with_settings_that_exist():
    uid = int(re.search(r"--uid (\d+)", (ROOT / "Dockerfile").read_text())[1])
    image = compose()["services"]["api"]["image"]
    configmaps, secrets = objects("ConfigMap"), objects("Secret")
    settings = {f"MODERATION_{name.upper()}" for name in Settings.model_fields}
    for name, doc in {**applied("Deployment"), **applied("Job")}.items():
        spec = pod_spec(doc)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == uid, name
        for container in (*spec.get("initContainers", []), *spec["containers"]):
            where = f"{name}/{container['name']}"
            assert container["image"] == image, where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert container["resources"]["requests"], where
            for source in container["envFrom"]:
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps, where
                else:
                    assert source["secretRef"]["name"] in secrets, where
            for env in container.get("env", []):
                assert env["name"] in settings, f"{where}: {env['name']} is no setting"
    values = {
        **configmaps["moderation-settings"]["data"],
        **next(iter(secrets.values()))["stringData"],
    }
    unknown = [k for k in values if k.startswith("MODERATION_") and k not in settings]
    assert not unknown, f"no such settings: {unknown} (moderation/settings.py)"
    assert values["MODERATION_SESSION_SECRET"], "API replicas must share the session secret"
    for key, value in next(iter(secrets.values()))["stringData"].items():
        if "KEY" in key or "SECRET" in key:  # placeholders only, clearly marked
            assert value == "" or "CHANGE-ME" in value, key


def test_the_wait_for_migrations_script_waits_until_the_job_has_run(tmp_path):
    script = objects("ConfigMap")["moderation-scripts"]["data"]["wait_for_migrations.py"]
    (tmp_path / "wait.py").write_text(script)
    url = f"sqlite:///{tmp_path / 'moderation.db'}"
    env = {"MODERATION_DATABASE_URL": url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    waiting = subprocess.Popen(
        [sys.executable, str(tmp_path / "wait.py")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiting.stdout is not None
        first = waiting.stdout.readline()
        assert first.startswith("database at None; waiting for the moderation-migrate Job")
        assert waiting.poll() is None
        upgrade(make_engine(url))  # what the Job runs
        assert waiting.wait(timeout=30) == 0
        assert waiting.stdout.read().splitlines()[-1].startswith("database at revision ")
    finally:
        waiting.kill()
        waiting.wait()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl (its kustomize)")
def test_kustomize_builds_the_manifests(tmp_path):
    shutil.copytree(KUBERNETES, tmp_path / "k", ignore=shutil.ignore_patterns("secret.yaml"))
    shutil.copy(tmp_path / "k" / "secret.example.yaml", tmp_path / "k" / "secret.yaml")
    built = subprocess.run(
        ["kubectl", "kustomize", str(tmp_path / "k")], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    kinds = sorted(d["kind"] for d in YAML(typ="safe").load_all(built.stdout) if d)
    assert kinds.count("Deployment") == 3 and "ScaledObject" in kinds and "Job" in kinds
