"""docker-compose.yml, read as data (no Docker engine here): every service the README
promises is there, starts in order, has a health check, and no secret has a default."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
SECRET = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|API_KEY")


def promised() -> set[str]:
    """Service names in the README's production table (| `name` | ... |)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Production", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z-]+)` \|", section, re.M))


def test_every_service_the_readme_promises_is_there():
    names = promised()
    assert {"postgres", "redis", "temporal", "temporal-ui", "migrate", "api", "worker"} <= names
    assert names <= set(SERVICES)


def test_every_long_running_service_has_a_health_check_and_restarts():
    for name, service in SERVICES.items():
        if name == "migrate":
            assert service["restart"] == "no"  # runs once per deployment
            continue
        assert service["healthcheck"]["test"], name
        assert service["restart"] == "unless-stopped", name


def test_services_start_in_order_and_migrations_run_once_before_the_app():
    def needs(name):
        return {dep: cond["condition"] for dep, cond in SERVICES[name]["depends_on"].items()}

    assert needs("temporal") == {"postgres": "service_healthy"}
    assert needs("migrate") == {"postgres": "service_healthy", "temporal": "service_healthy"}
    for app in ("api", "worker"):
        assert needs(app)["migrate"] == "service_completed_successfully"
        assert needs(app)["temporal"] == needs(app)["redis"] == "service_healthy"
    assert "stocksaga migrate" in " ".join(SERVICES["migrate"]["entrypoint"])


def test_temporal_keeps_its_state_in_postgres_and_data_lives_in_volumes():
    temporal = SERVICES["temporal"]["environment"]
    assert temporal["DB"].startswith("postgres") and temporal["POSTGRES_SEEDS"] == "postgres"
    assert any(v.startswith("pgdata:") for v in SERVICES["postgres"]["volumes"])
    assert "pgdata" in COMPOSE["volumes"]


def test_the_api_can_run_more_than_one_replica():
    api = SERVICES["api"]
    assert "container_name" not in api  # a fixed name would allow only one
    default = re.fullmatch(r"\$\{API_REPLICAS:-(\d+)\}", str(api["deploy"]["replicas"]))
    assert default and int(default.group(1)) >= 2
    assert re.search(r"\d+-\d+\}?:8000", api["ports"][0])  # a range of host ports: one per replica


def test_no_secret_has_a_default_and_the_app_reads_an_env_file():
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            if SECRET.search(key):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), f"{name}.{key} must be required, not defaulted"
            assert not re.search(r"://[^:/]+:[^$@]+@", value), f"{name}.{key} has a password written in"
    for app in ("migrate", "api", "worker"):
        assert SERVICES[app]["env_file"] == ["stocksaga.env"]
    example = (ROOT / "stocksaga.env.example").read_text()
    secrets = dict(line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#"))
    assert all(v.startswith("change-me") for k, v in secrets.items() if SECRET.search(k))


def test_the_app_runs_as_production_with_a_required_admin_key():
    for app in ("api", "worker"):
        environment = SERVICES[app]["environment"]
        assert environment["ENVIRONMENT"] == "production", app  # placeholders refused at start
    assert SERVICES["api"]["environment"]["ADMIN_API_KEY"].startswith("${ADMIN_API_KEY:?")
