"""Settings come from the environment: embedded defaults, PostgreSQL and Redis by URL, and a
production mode that refuses to start half-configured and passes `check --deploy`."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from courseware.env import env_bool, env_int, env_list, env_secret

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "courseware" / "settings.py"
PROD_KEY = "k8s-lotse-" + "x9Qm2vT7pL4wZ8rB6nY3cF5hJ1sD0gA" * 2

SHOW = """
import json
from django.conf import settings
print(json.dumps({
    "debug": settings.DEBUG,
    "db": settings.DATABASES["default"]["ENGINE"],
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "broker": settings.CELERY_BROKER_URL,
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
}))
"""


def run_django(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS"}
    }
    script = (
        "import django, os\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'courseware.settings')\n"
        "django.setup()\n" + code
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_runs_on_embedded_defaults_in_development() -> None:
    result = run_django(SHOW, DEBUG="1")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "debug": True,
        "db": "django.db.backends.sqlite3",
        "layer": "channels.layers.InMemoryChannelLayer",
        "broker": "memory://",
        "eager": True,
    }


def test_it_switches_to_postgresql_and_redis_by_url() -> None:
    result = run_django(
        SHOW,
        DEBUG="1",
        DATABASE_URL="postgres://lotse@db:5432/lotse",
        REDIS_URL="redis://redis:6379/0",
    )

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["db"] == "django.db.backends.postgresql"
    assert shown["layer"] == "channels_redis.core.RedisChannelLayer"
    assert shown["broker"] == "redis://redis:6379/0"
    assert shown["eager"] is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"ALLOWED_HOSTS": "lotse.example.com"},
            "SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off",
        ),
        (
            {"ALLOWED_HOSTS": "lotse.example.com", "SECRET_KEY": PROD_KEY},
            "SITE_URL (e.g. https://lotse.example.com) is required when DEBUG is off",
        ),
        ({"SECRET_KEY": PROD_KEY}, "ALLOWED_HOSTS is required when DEBUG is off"),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        (
            {
                "ALLOWED_HOSTS": "lotse.example.com",
                "SECRET_KEY": PROD_KEY,
                "SITE_URL": "https://lotse.example.com",
                "LAB_TERMINAL_LOCAL_SHELL": "1",
            },
            "LAB_TERMINAL_LOCAL_SHELL and LAB_TERMINAL_LOCAL_UNCONFINED run shells on this "
            "machine: they are for development only and refused when DEBUG is off",
        ),
        (
            {"DEBUG": "1", "LAB_TERMINAL_BACKEND": "local"},
            "LAB_TERMINAL_BACKEND=local runs shells on this machine: set "
            "LAB_TERMINAL_LOCAL_SHELL=1 as well (development only)",
        ),
        (
            {"DEBUG": "1", "LAB_TERMINAL_BACKEND": "ssh"},
            "LAB_TERMINAL_BACKEND='ssh' is not a terminal backend (use kubernetes or local)",
        ),
    ],
)
def test_it_refuses_to_start_half_configured_in_production(
    env: dict[str, str], message: str
) -> None:
    result = run_django("", **env)

    assert result.returncode != 0
    assert message in result.stderr


def check_deploy(**env: str) -> subprocess.CompletedProcess[str]:
    """``manage.py check --deploy`` in production mode, failing on warnings."""
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DATABASE_URL", "REDIS_URL"}}
    base.update(
        SECRET_KEY=PROD_KEY, ALLOWED_HOSTS="lotse.example.com", SITE_URL="https://lotse.example.com"
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_check_deploy_in_production() -> None:
    result = check_deploy(KUBECONFIG_ENCRYPTION_KEYS=Fernet.generate_key().decode())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_warns_in_check_deploy_without_encryption_keys() -> None:
    result = check_deploy()

    assert result.returncode != 0
    assert "(labs.W001) KUBECONFIG_ENCRYPTION_KEYS is not set" in result.stderr
    assert "System check identified 1 issue" in result.stderr


def test_it_names_an_encryption_key_that_is_not_a_fernet_key() -> None:
    key = Fernet.generate_key().decode()

    result = check_deploy(KUBECONFIG_ENCRYPTION_KEYS=f"{key},not-a-key")

    assert result.returncode != 0
    assert "(labs.E001) Key 2 of KUBECONFIG_ENCRYPTION_KEYS is not a Fernet key" in result.stderr
    assert "not-a-key" not in result.stdout + result.stderr


def test_it_reads_a_secret_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("LOTSE_TEST_SECRET_FILE", str(secret))

    assert env_secret("LOTSE_TEST_SECRET") == "s3cret"


def test_it_refuses_a_secret_given_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTSE_TEST_SECRET", "a")
    monkeypatch.setenv("LOTSE_TEST_SECRET_FILE", str(tmp_path / "secret"))

    with pytest.raises(
        ImproperlyConfigured, match="set LOTSE_TEST_SECRET or LOTSE_TEST_SECRET_FILE, not both"
    ):
        env_secret("LOTSE_TEST_SECRET")


def test_it_names_an_unreadable_secret_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOTSE_TEST_SECRET_FILE", str(tmp_path / "missing"))

    with pytest.raises(
        ImproperlyConfigured, match=r"LOTSE_TEST_SECRET_FILE: cannot read .*missing"
    ):
        env_secret("LOTSE_TEST_SECRET")


def test_it_parses_typed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTSE_TEST_INT", "42")
    monkeypatch.setenv("LOTSE_TEST_BOOL", "Yes")
    monkeypatch.setenv("LOTSE_TEST_LIST", " a.example, ,b.example ")

    assert env_int("LOTSE_TEST_INT", 1) == 42
    assert env_bool("LOTSE_TEST_BOOL") is True
    assert env_list("LOTSE_TEST_LIST") == ["a.example", "b.example"]
    assert env_int("LOTSE_TEST_UNSET", 7) == 7

    monkeypatch.setenv("LOTSE_TEST_INT", "many")
    with pytest.raises(ImproperlyConfigured, match="LOTSE_TEST_INT='many' is not an integer"):
        env_int("LOTSE_TEST_INT", 1)


# -- the README's settings table lists every setting the code reads ------------------------


def settings_read() -> set[str]:
    """Every environment variable courseware/settings.py reads through the env_* helpers;
    env_secret reads NAME_FILE too."""
    names = set()
    tree = ast.parse((ROOT / "courseware" / "settings.py").read_text())
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id.startswith("env_")
        ):
            continue
        first = node.args[0] if node.args else None
        assert isinstance(first, ast.Constant), (
            f"settings.py:{node.lineno}: {node.func.id}() without a literal name"
        )
        names.add(first.value)
        if node.func.id == "env_secret":
            names.add(f"{first.value}_FILE")
    return names


def dev_script_reads() -> set[str]:
    """Every ${NAME...} the `dev` script expands: the environment it reads."""
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "dev").read_text()))


def readme_settings() -> set[str]:
    """The variables named in the first column of the tables under README's Configuration;
    `NAME(_FILE)` stands for NAME and NAME_FILE."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            for name in re.findall(r"`([A-Z][A-Z0-9_]*)((?:\(_FILE\))?)`", line.split("|")[1]):
                names.add(name[0])
                if name[1]:
                    names.add(f"{name[0]}_FILE")
    return names


def test_it_finds_the_settings_the_code_reads() -> None:
    # The parsers themselves: names known to be read, through each kind of helper.
    assert {"DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "TIME_ZONE", "DATABASE_CONN_MAX_AGE"} <= (
        settings_read()
    )
    assert {"LOTSE_ADDR", "LOTSE_SIMULATED_PORT", "KUBECONFIG"} <= dev_script_reads()
    assert {"DEBUG", "EMAIL_HOST_PASSWORD", "EMAIL_HOST_PASSWORD_FILE"} <= readme_settings()


def test_it_lists_every_setting_in_the_readme() -> None:
    missing = (settings_read() | dev_script_reads()) - readme_settings()

    assert missing == set(), f"README.md's settings table lacks {sorted(missing)}"
