"""WSGI entry point (gunicorn config.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
application = get_wsgi_application()
# Import every view module now (the URLconf pulls in the ranking code, scipy and the model client: about two
# seconds), while the worker boots, instead of during its first request.
get_resolver().url_patterns  # noqa: B018
