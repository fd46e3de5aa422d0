from django.apps import AppConfig


class MoralGraphConfig(AppConfig):
    name = "moral_graph"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Offer the ranking methods to rounds and react to the lower apps' events (core.events)."""
        from core import events
        from deliberation.services import ranking_methods_register
        from moral_graph import handlers
        from moral_graph.ranking import METHODS

        ranking_methods_register(METHODS)
        events.subscribe(events.ROUND_STAGE_CHANGED, handlers.on_round_stage_changed)
        events.subscribe(events.VALUE_FOUNDED, handlers.on_value_founded)
        events.subscribe(events.MERGES_CHANGED, handlers.on_merges_changed)
