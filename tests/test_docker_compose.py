"""docker-compose.yml cannot run here (no Docker engine); check its services and wiring."""

from __future__ import annotations

from ruamel.yaml import YAML

from tests.conftest import ROOT


def load() -> dict:
    return YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())


def test_services_and_wiring():
    services = load()["services"]
    assert {"api", "worker", "webhook-worker", "redis", "postgres", "migrate"} <= set(services)
    for name in ("api", "worker", "webhook-worker", "migrate"):
        env = services[name]["environment"]
        assert env["MODERATION_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in env["MODERATION_DATABASE_URL"]
        assert env["MODERATION_REDIS_URL"] == "redis://redis:6379/0"
        assert env["MODERATION_RULES"].startswith("/app/rules/")
        # Not generated per container: shared by every API replica and kept across restarts.
        assert env["MODERATION_SESSION_SECRET"].startswith("${MODERATION_SESSION_SECRET:?")
    assert services["migrate"]["command"] == ["moderation", "db", "upgrade"]
    for name in ("api", "worker", "webhook-worker"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["worker"]["command"] == ["moderation", "worker"]
    assert services["webhook-worker"]["command"] == ["moderation", "worker", "--webhooks"]
    for name in ("worker", "webhook-worker"):  # scale with --scale worker=N
        assert "ports" not in services[name] and "container_name" not in services[name]
    # The bracket keeps the pattern from matching the shell that runs pgrep.
    assert "moderation worker --webhook[s]" in services["webhook-worker"]["healthcheck"]["test"][1]
    for name in ("api", "worker", "webhook-worker", "redis", "postgres"):
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_the_commands_it_runs_exist():
    from moderation.cli import build_parser

    parser = build_parser()
    parser.parse_args(["db", "upgrade"])
    parser.parse_args(["worker"])
    assert parser.parse_args(["worker", "--webhooks"]).webhooks
    assert (ROOT / "Dockerfile").exists()
