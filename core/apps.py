from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared plumbing at the bottom of the layers: errors, the on-commit queue, text checks, API plumbing."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"
