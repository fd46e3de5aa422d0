"""Read-only admin views of the model call record."""

from django.contrib import admin

from llm.models import CachedEmbedding, LLMCall


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "purpose",
        "kind",
        "provider",
        "model",
        "outcome",
        "tokens_in",
        "tokens_out",
        "latency_ms",
        "round_id",
    ]
    list_filter = ["outcome", "provider", "kind", "purpose"]
    search_fields = ["input_hash", "prompt_version", "purpose"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CachedEmbedding)
class CachedEmbeddingAdmin(admin.ModelAdmin):
    list_display = ["created_at", "provider_model", "text_hash", "dimensions"]
    search_fields = ["text_hash"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
