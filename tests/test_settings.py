"""Settings come from the environment, with an embedded default and a production profile that refuses insecure values."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD_SECRET = "k3J9x!vQ2#pL8@wZ5^mN1&rT7*yB4(cF6)hD0-sG9_aE2+uI3=oP5"


def _settings(module: str, **env: str) -> subprocess.CompletedProcess:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "db = settings.DATABASES['default']; "
        "print(json.dumps({'engine': db['ENGINE'], 'health': db.get('CONN_HEALTH_CHECKS'), "
        "'broker': settings.CELERY_BROKER_URL, 'eager': settings.CELERY_TASK_ALWAYS_EAGER, "
        "'cache': settings.CACHES['default']['BACKEND'], 'debug': settings.DEBUG}))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}}
    clean.update(env, DJANGO_SETTINGS_MODULE=module, WISER_VAR_DIR=str(ROOT / "var"))
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_the_embedded_default_needs_no_variables():
    result = _settings("config.settings.local")
    assert result.returncode == 0, result.stderr
    assert '"engine": "django.db.backends.sqlite3"' in result.stdout
    assert '"eager": true' in result.stdout and '"debug": true' in result.stdout
    assert "LocMemCache" in result.stdout


def test_database_and_redis_urls_switch_to_postgresql_and_redis():
    result = _settings(
        "config.settings.local",
        DATABASE_URL="postgres://wiser@127.0.0.1:5432/wiser",
        REDIS_URL="redis://127.0.0.1:6379/3",
    )
    assert result.returncode == 0, result.stderr
    assert '"engine": "django.db.backends.postgresql"' in result.stdout
    assert '"health": true' in result.stdout
    assert '"broker": "redis://127.0.0.1:6379/3"' in result.stdout
    assert '"eager": false' in result.stdout and "RedisCache" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": GOOD_SECRET, "DEBUG": "1"}, "DEBUG must be off"),
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "dev-insecure-wiser-key-change-me"}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY": GOOD_SECRET, "REDIS_URL": "redis://127.0.0.1:6379/0"}, "DATABASE_URL"),
        ({"SECRET_KEY": GOOD_SECRET, "DATABASE_URL": "postgres://w@127.0.0.1/w"}, "REDIS_URL"),
    ],
)
def test_production_refuses_insecure_settings(env, message):
    result = _settings("config.settings.production", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_production_starts_with_good_settings():
    result = _settings(
        "config.settings.production",
        SECRET_KEY=GOOD_SECRET,
        DATABASE_URL="postgres://w@127.0.0.1:5432/w",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stderr
    assert '"debug": false' in result.stdout and '"eager": false' in result.stdout


def test_a_bad_boolean_is_a_clear_error():
    result = _settings("config.settings.local", CELERY_TASK_ALWAYS_EAGER="perhaps")
    assert result.returncode != 0 and "CELERY_TASK_ALWAYS_EAGER must be a boolean" in result.stderr
