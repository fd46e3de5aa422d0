"""The record of every model call (cost, latency, outcome, cache) and the embedding cache."""

from django.db import models


class Outcome(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"
    CACHED = "cached", "Answered from the record"
    BUDGET_EXCEEDED = "budget_exceeded", "Round budget spent"


class LLMCall(models.Model):
    """One gateway call: what was asked of which model, what it cost and how it ended."""

    purpose = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, help_text="structured, chat, chat_stream or embed.")
    provider = models.CharField(max_length=16)
    model = models.CharField(max_length=128)
    prompt_version = models.CharField(max_length=64, blank=True)
    input_hash = models.CharField(max_length=64)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="HTTP requests made, retries included.")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    error = models.TextField(blank=True)
    # A plain integer, not a foreign key: rounds live in another app and the record outlives them.
    round_id = models.BigIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["input_hash", "outcome"], name="llmcall_hash_outcome"),
            models.Index(fields=["round_id"], name="llmcall_round"),
            models.Index(fields=["purpose", "created_at"], name="llmcall_purpose_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome__in=[o.value for o in Outcome]), name="llmcall_outcome_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {self.provider}/{self.model} {self.outcome}"


class CachedEmbedding(models.Model):
    """A remote model's vector for one text, so a text is paid for once per embedding model."""

    provider_model = models.CharField(max_length=300, help_text="Base URL and model name.")
    text_hash = models.CharField(max_length=64)
    dimensions = models.PositiveIntegerField()
    vector = models.BinaryField(help_text="float32, little-endian.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider_model", "text_hash"], name="cachedembedding_unique_text"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider_model} {self.text_hash[:12]}"


class CachedTranslation(models.Model):
    """A model's translation of one participant text into one language, so a text is paid for once per language."""

    text_hash = models.CharField(max_length=64, help_text="sha256 of the original text.")
    language = models.CharField(max_length=16, help_text="The target language code, e.g. es.")
    text = models.TextField(help_text="The translation; equal to the original when it was already in the language.")
    model = models.CharField(max_length=300, help_text="Base URL and chat model that translated it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["text_hash", "language"], name="cachedtranslation_unique_text"),
        ]

    def __str__(self) -> str:
        return f"{self.language} {self.text_hash[:12]}"
