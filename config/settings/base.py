"""Settings shared by every environment. Every external choice comes from an environment variable."""
from pathlib import Path

import dj_database_url

from config.env import env

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env.str("WISER_VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env.str("SECRET_KEY", default="dev-insecure-wiser-key-change-me")
DEBUG = False
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

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
    "operations",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.RequestGuardMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.ratelimit_middleware.RateLimitMiddleware",
    "config.schedule.StageScheduleMiddleware",
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
DATABASE_URL = env.str("DATABASE_URL", default="")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env.int("DB_CONN_MAX_AGE", default=60), conn_health_checks=True
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
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# At-least-once delivery: https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-acks-late
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
# Redis hands an unacknowledged message out again after this long. It must stay longer than the hard time limit
# (the longest a task can run), or a running task is delivered twice; no longer than that plus a minute, so a
# message of a worker killed outright comes back soon. A lost ranking does not wait for it: the sweeper takes it
# back after WISER_RANKING_STALE_SECONDS without a heartbeat.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 60)
}
CELERY_TASK_DEFAULT_QUEUE = "wiser"
# The sweeper leaves fresh work alone for a grace period, and treats a card "in progress" past the hard time
# limit as lost (its worker died).
WISER_SWEEP_GRACE_SECONDS = env.int("WISER_SWEEP_GRACE_SECONDS", default=30)
WISER_SWEEP_LOST_AFTER_SECONDS = env.int("WISER_SWEEP_LOST_AFTER_SECONDS", default=CELERY_TASK_TIME_LIMIT + 60)
WISER_SWEEP_INTERVAL_SECONDS = env.float("WISER_SWEEP_INTERVAL_SECONDS", default=15.0)
# A running ranking touches its Job row every WISER_RANKING_HEARTBEAT_SECONDS; one silent for
# WISER_RANKING_STALE_SECONDS was lost and is taken over (by the sweeper or the next vote's ranking).
WISER_RANKING_HEARTBEAT_SECONDS = env.float("WISER_RANKING_HEARTBEAT_SECONDS", default=5.0)
WISER_RANKING_STALE_SECONDS = env.int("WISER_RANKING_STALE_SECONDS", default=20)
# Leading-edge debounce of the ranking: the first vote after a quiet period ranks at once, later ones within this
# window are coalesced into one follow-up run (moral_graph.services.ranking_countdown).
WISER_RANK_DEBOUNCE_SECONDS = env.float("WISER_RANK_DEBOUNCE_SECONDS", default=1.0)
# A round's contexts ranked as parallel part tasks: "auto" (with workers, this many votes, and at least half of the
# contexts changed since the run whose results are copied), "always" or "never" (decision 41).
WISER_RANKING_FANOUT = env.str("WISER_RANKING_FANOUT", default="auto")
WISER_RANKING_FANOUT_MIN_VOTES = env.int("WISER_RANKING_FANOUT_MIN_VOTES", default=50_000)
# Start each Bradley-Terry fit from the current run's scores (recorded as parameters.warmStart).
WISER_RANKING_WARM_START = env.bool("WISER_RANKING_WARM_START", default=True)
# Copy the current run's result of a context whose inputs are unchanged instead of ranking it again (decision 45).
WISER_RANKING_REUSE = env.bool("WISER_RANKING_REUSE", default=True)
# Reads that stay fast in a big round: participation figures (report, dashboard) at most this old; assignment
# from story counts at most WISER_STORY_STATS_SECONDS old once a round has more visible stories than this.
WISER_FIGURES_CACHE_SECONDS = env.float("WISER_FIGURES_CACHE_SECONDS", default=10.0)
WISER_ASSIGNMENT_CACHED_STORIES = env.int("WISER_ASSIGNMENT_CACHED_STORIES", default=5_000)
WISER_STORY_STATS_SECONDS = env.float("WISER_STORY_STATS_SECONDS", default=30.0)
# Without a broker there is no beat: the middleware config.schedule applies the stage dates instead (decision 20).
WISER_SCHEDULE_ON_REQUEST = env.bool("WISER_SCHEDULE_ON_REQUEST", default=CELERY_TASK_ALWAYS_EAGER)
WISER_SCHEDULE_TICK_SECONDS = env.int("WISER_SCHEDULE_TICK_SECONDS", default=10)
CELERY_BEAT_SCHEDULE = {
    "sweep-pending-work": {"task": "operations.tasks.sweep_pending_work", "schedule": WISER_SWEEP_INTERVAL_SECONDS},
    # Reads only show the stage the dates call for; this records the moves (decision 20).
    "apply-stage-schedules": {"task": "deliberation.tasks.apply_stage_schedules", "schedule": 60.0},
}

# The LLM gateway (llm/). No key: the offline provider.
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
WISER_CHAT_MODEL = env.str("WISER_CHAT_MODEL", default="gpt-4o-mini")
WISER_EMBEDDING_MODEL = env.str("WISER_EMBEDDING_MODEL", default="text-embedding-3-small")
WISER_LLM_TIMEOUT = env.float("WISER_LLM_TIMEOUT", default=60.0)
WISER_LLM_MAX_RETRIES = env.int("WISER_LLM_MAX_RETRIES", default=3)
WISER_LLM_BACKOFF_BASE = env.float("WISER_LLM_BACKOFF_BASE", default=0.5)  # seconds, doubled per retry, with jitter
WISER_LLM_BACKOFF_MAX = env.float("WISER_LLM_BACKOFF_MAX", default=8.0)
# How a structured completion asks for JSON (docs/llm.md): "auto" tries json_schema once per server and falls
# back to "json_object_schema" ({"type": "json_object", "schema": ...}, llama-cpp-python) and then to plain
# "json_object" (the schema only in the prompt), remembering what the server accepted.
WISER_LLM_STRUCTURED_MODE = env.str("WISER_LLM_STRUCTURED_MODE", default="auto")
# Output cap for purposes without their own (llm.config.PURPOSE_MAX_TOKENS); every request sets one.
WISER_LLM_MAX_TOKENS = env.int("WISER_LLM_MAX_TOKENS", default=1024)
# Whole-call time limits (every attempt and backoff included): for callers that hold a web request open, and
# for the others (tasks, commands) when they pass none. WISER_LLM_TIMEOUT caps each single request.
WISER_LLM_WEB_TIMEOUT = env.float("WISER_LLM_WEB_TIMEOUT", default=10.0)
WISER_LLM_CALL_TIMEOUT = env.float("WISER_LLM_CALL_TIMEOUT", default=120.0)
# "remote": embeddings from the server when a key is set; "offline": always the bundled model (chat still remote).
WISER_EMBEDDINGS = env.str("WISER_EMBEDDINGS", default="remote")

WISER_CHAT_TURN_CAP = env.int("WISER_CHAT_TURN_CAP", default=12)

# Turns a missing PostgreSQL, Redis or worker into a test failure instead of a deselection (CI sets it).
WISER_REQUIRE_SERVICES = env.bool("WISER_REQUIRE_SERVICES", default=False)

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
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 1  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_CALLABLE = "frontend.views.lockout"
# One client-address rule for sign-in lockouts and rate limits: WISER_TRUSTED_PROXY_COUNT's (core.ratelimit.client_ip).
# ipware's proxy_count reads X-Forwarded-For from the left, which a client can forge behind our proxy; decision 22.
AXES_CLIENT_IP_CALLABLE = "core.ratelimit.client_ip_for_axes"
# axes stores the username in a varchar(255): a longer one (or one holding NUL) must not reach PostgreSQL.
AXES_USERNAME_CALLABLE = "config.security.axes_username"

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

# What the rate-limit middleware (core.ratelimit_middleware) counts: the routes, and who the participant is.
WISER_RATE_LIMITED_ROUTES = "config.rate_limits.ROUTES"
WISER_RATE_LIMIT_PARTICIPANT = "deliberation.auth.participant_id_of"

# Whether anyone may create an organizer account at /signup/ (on for the embedded default, off in production).
WISER_ALLOW_SIGNUP = env.bool("WISER_ALLOW_SIGNUP", default=False)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "deliberation.auth.ParticipantTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
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
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="wiser@localhost")
# The largest export an organizer may upload to "Verify an export" in the console (recomputed in the request).
WISER_VERIFY_MAX_BYTES = env.int("WISER_VERIFY_MAX_BYTES", default=50 * 1024 * 1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# Without a worker (eager tasks), model-bound tasks (chat replies, model stories) run in a background thread so
# that no web request waits on a model.
WISER_EAGER_SLOW_TASKS_IN_THREAD = env.bool("WISER_EAGER_SLOW_TASKS_IN_THREAD", default=True)
