"""Settings for pytest. Tasks run in-process unless a test starts a real worker."""
import os

from .base import *  # noqa: F403
from .base import VAR_DIR

DEBUG = False
(VAR_DIR / "staticfiles").mkdir(parents=True, exist_ok=True)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
# No stage-date tick before requests (it would add a query to the first request of every 10 s); the tests of
# stage dates call the services, or switch it on (tests/deliberation/test_schedule.py).
WISER_SCHEDULE_ON_REQUEST = False
AXES_ENABLED = True
OPENAI_API_KEY = ""
OPENAI_BASE_URL = ""
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# Tests share one process-local cache (cleared before each test); a test that needs the Redis cache overrides it.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Figures counted afresh on every read, so a test sees its own writes at once (test_report_cache turns it on).
WISER_FIGURES_CACHE_SECONDS = 0

# A test database of its own per run, so runs side by side on one PostgreSQL server cannot drop each other's.
if DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    DATABASES["default"].setdefault("TEST", {})["NAME"] = f"test_wiser_{os.getpid()}"  # noqa: F405
# Model-bound tasks run inline in tests (deterministic); one test turns the background thread on.
WISER_EAGER_SLOW_TASKS_IN_THREAD = False
