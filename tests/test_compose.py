"""docker-compose.yml describes the production stack with the settings Lotse reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_it_describes_web_watcher_worker_beat_database_and_redis() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]

    assert set(services) == {"web", "watcher", "worker", "beat", "db", "redis"}
    assert services["watcher"]["command"] == ["python", "manage.py", "watch_checks"]
    assert "courseware.asgi:application" in " ".join(services["web"]["command"])
    assert services["worker"]["command"][:4] == ["celery", "--app", "courseware", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "--app", "courseware", "beat"]
    for name in ("web", "watcher", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DEBUG"] == "0"
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"


def test_it_only_sets_variables_that_settings_read() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    settings_source = (ROOT / "courseware" / "settings.py").read_text()
    read = set(re.findall(r'env_\w+\("([A-Z_]+)"', settings_source))

    assert set(compose["services"]["web"]["environment"]) <= read
