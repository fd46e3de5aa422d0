"""Production: PostgreSQL, Redis and Celery workers from the environment; refuses insecure settings."""

from django.core.exceptions import ImproperlyConfigured

from config.env import env

from .base import *  # noqa: F403
from .base import DATABASE_URL, REDIS_URL, SECRET_KEY

DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production settings.")
if (
    not SECRET_KEY
    or SECRET_KEY.startswith("dev-insecure")
    or len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
):
    raise ImproperlyConfigured("Set SECRET_KEY to a random value of at least 50 characters in production.")
if not DATABASE_URL:
    raise ImproperlyConfigured("Set DATABASE_URL (PostgreSQL) in production.")
if not REDIS_URL:
    raise ImproperlyConfigured("Set REDIS_URL (Redis) in production.")

CELERY_TASK_ALWAYS_EAGER = False
WISER_SCHEDULE_ON_REQUEST = False  # beat applies the stage dates
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# No page script reads the CSRF cookie: forms carry the token in a hidden field.
CSRF_COOKIE_HTTPONLY = True
# Keys of the rate-limit counters and the client address come from the proxy's X-Forwarded-For (one proxy).
WISER_TRUSTED_PROXY_COUNT = env.int("WISER_TRUSTED_PROXY_COUNT", default=1)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
