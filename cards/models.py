"""Values cards, canonical values, and the reversible merge records between them."""
from django.db import models
from django.db.models import Q

TITLE_MAX = 80
DESCRIPTION_MAX = 400
POLICY_MAX = 300
MIN_POLICIES = 3
MAX_POLICIES = 7


class ValuesCard(models.Model):
    """What one participant said matters to them; never deleted by deduplication."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        HIDDEN = "hidden", "Hidden by a moderator"

    class DedupStatus(models.TextChoices):
        PENDING = "pending", "Waiting for deduplication"
        PLACED = "placed", "Placed in a canonical value"
        REVIEW = "review", "Waiting for an organizer"

    round = models.ForeignKey("deliberation.Round", on_delete=models.CASCADE, related_name="cards")
    question = models.ForeignKey("deliberation.Question", on_delete=models.CASCADE, related_name="cards")
    context = models.ForeignKey("deliberation.Context", on_delete=models.PROTECT, related_name="cards")
    author = models.ForeignKey(
        "deliberation.Participant", null=True, blank=True, on_delete=models.SET_NULL, related_name="cards"
    )
    title = models.CharField(max_length=TITLE_MAX)
    description = models.CharField(max_length=DESCRIPTION_MAX)
    policies = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    hidden_reason = models.CharField(max_length=500, blank=True)
    dedup_status = models.CharField(max_length=16, choices=DedupStatus.choices, default=DedupStatus.PENDING)
    dedup_attempts = models.PositiveSmallIntegerField(default=0)
    source = models.CharField(max_length=16, default="form")
    transcript = models.JSONField(default=list, blank=True)
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["round", "dedup_status"])]
        constraints = [
            models.CheckConstraint(condition=~Q(title=""), name="card_title_not_empty"),
            models.CheckConstraint(condition=~Q(description=""), name="card_description_not_empty"),
        ]

    def __str__(self) -> str:
        return self.title


class CanonicalValue(models.Model):
    """A deduplicated value: the best articulation of a cluster of cards."""

    round = models.ForeignKey("deliberation.Round", on_delete=models.CASCADE, related_name="values")
    question = models.ForeignKey("deliberation.Question", on_delete=models.CASCADE, related_name="values")
    title = models.CharField(max_length=TITLE_MAX)
    description = models.CharField(max_length=DESCRIPTION_MAX)
    policies = models.JSONField()
    representative = models.ForeignKey(
        ValuesCard, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    is_active = models.BooleanField(default=True)
    external_id = models.CharField(max_length=64, blank=True, default="")
    contexts = models.ManyToManyField("deliberation.Context", related_name="values", blank=True)
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["question", "is_active"])]

    def __str__(self) -> str:
        return self.title


class CardMerge(models.Model):
    """A card's membership in a canonical value; undone, never deleted."""

    class Origin(models.TextChoices):
        AUTO = "auto", "Automatic"
        JUDGE = "judge", "Model judge"
        ORGANIZER = "organizer", "Organizer"
        SPLIT = "split", "Split out by its author"
        CHOSEN = "chosen", "Chosen by its author"
        IMPORT = "import", "Imported"

    card = models.ForeignKey(ValuesCard, on_delete=models.CASCADE, related_name="merges")
    value = models.ForeignKey(CanonicalValue, on_delete=models.CASCADE, related_name="merges")
    origin = models.CharField(max_length=16, choices=Origin.choices)
    similarity = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undo_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["card"], condition=Q(undone_at__isnull=True), name="merge_one_active_per_card"
            )
        ]


class MergeConfirmation(models.Model):
    """A participant's answer to "is this your value?" for the merge their card is in."""

    class Answer(models.TextChoices):
        SAME = "same", "Yes, this is my value"
        DIFFERENT = "different", "No, this is not my value"

    merge = models.OneToOneField(CardMerge, on_delete=models.CASCADE, related_name="confirmation")
    answer = models.CharField(max_length=16, choices=Answer.choices)
    created_at = models.DateTimeField(auto_now_add=True)


class ArticulationSession(models.Model):
    """A participant's chat with the assistant towards one values card; kept so it can be resumed."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        SUBMITTED = "submitted", "Submitted as a card"
        ABANDONED = "abandoned", "Abandoned"

    class Mode(models.TextChoices):
        MODEL = "model", "With the model"
        GUIDED = "guided", "Guided questions, no model"

    class Pending(models.TextChoices):
        NONE = "", "Nothing"
        REPLY = "reply", "The assistant's next question"
        DRAFT = "draft", "A draft card"

    participant = models.ForeignKey(
        "deliberation.Participant", on_delete=models.CASCADE, related_name="articulation_sessions"
    )
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.MODEL)
    # What a background task is writing for this chat now (the page polls until it is done).
    pending = models.CharField(max_length=8, choices=Pending.choices, blank=True, default="")
    pending_since = models.DateTimeField(null=True, blank=True)
    context = models.ForeignKey(
        "deliberation.Context", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    messages = models.JSONField(default=list, blank=True)
    draft = models.JSONField(default=dict, blank=True)
    turns = models.PositiveSmallIntegerField(default=0)
    drafts = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    fault = models.CharField(max_length=32, blank=True)
    prompt_version = models.CharField(max_length=64, blank=True)
    card = models.ForeignKey(ValuesCard, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["participant"],
                condition=Q(status="open"),
                name="articulation_one_open_per_participant",
            )
        ]

    def __str__(self) -> str:
        return f"chat {self.pk} ({self.status})"
