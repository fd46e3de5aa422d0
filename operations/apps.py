from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Work that spans every domain, above them all: the sweeper, privacy export and deletion, the demo seed."""

    name = "operations"
    default_auto_field = "django.db.models.BigAutoField"
