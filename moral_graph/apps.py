from django.apps import AppConfig


class MoralGraphConfig(AppConfig):
    name = "moral_graph"
    default_auto_field = "django.db.models.BigAutoField"
