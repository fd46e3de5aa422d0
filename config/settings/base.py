"""Settings shared by every environment. Every external choice comes from an environment variable."""
from pathlib import Path

import dj_database_url

from config.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("WISER_VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env_str("SECRET_KEY", "dev-insecure-wiser-key-change-me")
DEBUG = False
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "llm",
    "core",
    "deliberation",
    "cards",
    "moral_graph",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "deliberation.ratelimit_middleware.RateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # AxesMiddleware must be last (https://django-axes.readthedocs.io/en/latest/2_installation.html).
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL (PostgreSQL through psycopg 3) or the embedded SQLite file under var/.
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "wiser.sqlite3",
            # https://docs.djangoproject.com/en/5.2/ref/databases/#sqlite-transaction-behavior
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: the Celery broker and the cache. Without it, tasks run in-process and the cache is local memory.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# At-least-once delivery: https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-acks-late
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
# Longer than the longest task, so a running task is not delivered twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 900)}
CELERY_TASK_DEFAULT_QUEUE = "wiser"
# The sweeper leaves fresh work alone for a grace period, and treats a job still "running" past the hard time
# limit as lost (its worker died).
WISER_SWEEP_GRACE_SECONDS = env_int("WISER_SWEEP_GRACE_SECONDS", 30)
WISER_SWEEP_LOST_AFTER_SECONDS = env_int("WISER_SWEEP_LOST_AFTER_SECONDS", CELERY_TASK_TIME_LIMIT + 60)
CELERY_BEAT_SCHEDULE = {
    "sweep-pending-work": {"task": "deliberation.tasks.sweep_pending_work", "schedule": 60.0},
    # Rounds also apply their dates when read (deliberation.services.round_apply_schedule); this catches the rest.
    "apply-stage-schedules": {"task": "deliberation.tasks.apply_stage_schedules", "schedule": 60.0},
}

# The LLM gateway (llm/). No key: the offline provider.
OPENAI_API_KEY = env_str("OPENAI_API_KEY", "")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL", "")
WISER_CHAT_MODEL = env_str("WISER_CHAT_MODEL", "gpt-4o-mini")
WISER_EMBEDDING_MODEL = env_str("WISER_EMBEDDING_MODEL", "text-embedding-3-small")
WISER_LLM_TIMEOUT = env_float("WISER_LLM_TIMEOUT", 60.0)
WISER_LLM_MAX_RETRIES = env_int("WISER_LLM_MAX_RETRIES", 3)
WISER_LLM_BACKOFF_BASE = env_float("WISER_LLM_BACKOFF_BASE", 0.5)  # seconds, doubled per retry, with jitter
WISER_LLM_BACKOFF_MAX = env_float("WISER_LLM_BACKOFF_MAX", 8.0)
# "json_schema" (structured outputs) or "json_object" (JSON mode) for servers without json_schema support.
WISER_LLM_STRUCTURED_MODE = env_str("WISER_LLM_STRUCTURED_MODE", "json_schema")

WISER_CHAT_TURN_CAP = env_int("WISER_CHAT_TURN_CAP", 12)

# Turns a missing PostgreSQL, Redis or worker into a test failure instead of a deselection (CI sets it).
WISER_REQUIRE_SERVICES = env_bool("WISER_REQUIRE_SERVICES", False)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGIN_URL = "frontend:login"
LOGIN_REDIRECT_URL = "frontend:console"
LOGOUT_REDIRECT_URL = "frontend:home"

# django-axes: lock an account and IP after repeated failed logins.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 1  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_CALLABLE = "frontend.views.lockout"

# Fixed-window limits per scope (atomic counters in the cache: Redis in production); see docs/security.md.
WISER_RATE_LIMITS = {
    "guidance": "30/m",
    "articulation": "20/m",
    "api_auth": "10/m",
    "join:ip": "30/m",
    "card:ip": "60/m",
    "card:participant": "20/m",
    "chat:ip": "240/m",
    "chat:participant": "20/m",
    "vote:ip": "600/m",
    "vote:participant": "120/m",
}

# Whether anyone may create an organizer account at /signup/ (on for the embedded default, off in production).
WISER_ALLOW_SIGNUP = env_bool("WISER_ALLOW_SIGNUP", False)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "deliberation.auth.ParticipantTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PAGINATION_CLASS": "core.apis_common.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.apis_common.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Wiser API",
    "DESCRIPTION": "Rounds, values cards, wiser votes and ranked moral graphs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc served from our own static files (no CDN): drf-spectacular-sidecar.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The default enum hook, then ours: every operation documents the one error body and its statuses.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.apis_common.error_responses_hook",
    ],
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# Mail (password reset): printed to the console unless EMAIL_BACKEND names a real one, e.g.
# django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST/EMAIL_PORT/EMAIL_HOST_USER/EMAIL_HOST_PASSWORD/
# EMAIL_USE_TLS. https://docs.djangoproject.com/en/5.2/topics/email/#email-backends
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_str("EMAIL_USE_TLS", "") in ("1", "true", "yes")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "wiser@localhost")
# The largest export an organizer may upload to "Verify an export" in the console (recomputed in the request).
WISER_VERIFY_MAX_BYTES = env_int("WISER_VERIFY_MAX_BYTES", 50 * 1024 * 1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
