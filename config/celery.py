"""The Celery application: broker from REDIS_URL, tasks eager when no broker is configured."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("wiser")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
