"""Service fixtures shared by the whole suite: databases, Redis, a real Celery worker, the fake model server.

Tests reach this machine only: pytest-socket (`--allow-hosts` in pyproject.toml) refuses any other host.

A test marked needs_redis / needs_worker / needs_postgres runs only when that service is configured. Without it,
the test is deselected and the run says so plainly at the end; with WISER_REQUIRE_SERVICES=1 (CI) a missing
service makes the test fail instead.
"""

import os
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings

pytest_plugins = ["tests.fake_openai", "tests.model_server"]

SERVICE_MARKERS = {
    "needs_redis": ("REDIS_URL", "Redis"),
    "needs_worker": ("REDIS_URL", "a Celery worker"),
    "needs_postgres": ("DATABASE_URL", "PostgreSQL"),
}
_not_run: dict[str, list[str]] = {}


def _require_services() -> bool:
    return os.environ.get("WISER_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes", "on"}


def _configured(variable: str) -> bool:
    value = os.environ.get(variable, "")
    if variable == "DATABASE_URL":
        return value.startswith(("postgres://", "postgresql://"))
    return bool(value)


def pytest_collection_modifyitems(config, items):
    keep, dropped = [], []
    for item in items:
        missing = [
            label
            for marker, (variable, label) in SERVICE_MARKERS.items()
            if item.get_closest_marker(marker) and not _configured(variable)
        ]
        if missing and not _require_services():
            _not_run.setdefault(" and ".join(sorted(set(missing))), []).append(item.nodeid)
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_terminal_summary(terminalreporter):
    for label, nodeids in _not_run.items():
        terminalreporter.write_line(
            f"NOT RUN: {len(nodeids)} test(s) need {label}, which is not configured "
            f"(set DATABASE_URL / REDIS_URL, as .ci/run does).",
            yellow=True,
        )


def pytest_runtest_setup(item):
    for marker, (variable, label) in SERVICE_MARKERS.items():
        if item.get_closest_marker(marker) and not _configured(variable):
            pytest.fail(f"{label} is required (WISER_REQUIRE_SERVICES=1) but {variable} is not set.")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters, cached figures and placement indexes must not leak from one test into the next
    (ids and timestamps repeat across test databases)."""
    from django.core.cache import cache

    from cards.services import dedup_index_cache_clear
    from moral_graph.services import story_stats_memo_clear

    cache.clear()
    dedup_index_cache_clear()
    story_stats_memo_clear()
    yield
    dedup_index_cache_clear()
    story_stats_memo_clear()


@pytest.fixture
def redis_url() -> str:
    url = settings.REDIS_URL or os.environ.get("REDIS_URL", "")
    if not url:
        pytest.fail("REDIS_URL is not set.")
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=3):
        pass
    return url
