"""Rounds, their questions and contexts, participants, invitations, organizer roles and the audit log."""
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_noop

# The consent text a round starts with. Stored in English; pages show it in the reader's language through the
# interface catalogue (frontend.texts.localized) while the organizer has not written their own.
DEFAULT_CONSENT_TEXT = gettext_noop(
    "Your answers are stored under a pseudonym and published only in aggregate. "
    "You can download or delete your data at any time."
)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def new_pseudonym() -> str:
    return "p-" + secrets.token_hex(6)


class Stage(models.TextChoices):
    DRAFT = "draft", "Draft"
    ARTICULATION = "articulation", "Articulation"
    VOTING = "voting", "Voting"
    CLOSED = "closed", "Closed"
    PUBLISHED = "published", "Published"


STAGE_ORDER = [Stage.DRAFT, Stage.ARTICULATION, Stage.VOTING, Stage.CLOSED, Stage.PUBLISHED]


class ReportVisibility(models.TextChoices):
    PRIVATE = "private", "Private (organizers only)"
    UNLISTED = "unlisted", "Anyone with the link"
    PUBLIC = "public", "Public"


class Round(models.Model):
    """A deliberation: one or more questions put to a population, moving through stages."""

    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.DRAFT)
    articulation_opens_at = models.DateTimeField(null=True, blank=True)
    voting_opens_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    # When the stage last changed (by hand or by the schedule): a date already passed by then is settled.
    stage_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Archived rounds leave the organizers' list of current rounds and the public list, and take no one new.
    archived_at = models.DateTimeField(null=True, blank=True)
    join_token = models.CharField(max_length=64, unique=True, default=new_token)
    open_link_enabled = models.BooleanField(default=True)
    consent_text = models.TextField(max_length=5000, default=DEFAULT_CONSENT_TEXT)
    participant_cap = models.PositiveIntegerField(null=True, blank=True)
    stories_per_participant = models.PositiveSmallIntegerField(default=5)
    min_votes_per_story = models.PositiveSmallIntegerField(default=5)
    dedup_threshold = models.FloatField(default=0.0, help_text="0 means the calibrated default.")
    ranking_method = models.CharField(max_length=32, default="bt")
    report_visibility = models.CharField(
        max_length=16, choices=ReportVisibility.choices, default=ReportVisibility.PRIVATE
    )
    guidance_logging = models.BooleanField(
        default=False, help_text="Store the situations sent to the guidance endpoint, for evaluation."
    )
    report_live = models.BooleanField(
        default=False, help_text="Show the current ranking to report readers before the round is published."
    )
    token_budget = models.PositiveIntegerField(null=True, blank=True, help_text="Model tokens; empty = unlimited.")
    ranking_dirty_since = models.DateTimeField(null=True, blank=True)
    structure_version = models.PositiveIntegerField(
        default=0, help_text="Bumped by merges, splits and hidden stories: changes a ranking sees besides votes."
    )
    current_ranking = models.ForeignKey(
        "moral_graph.RankingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_ranking = models.ForeignKey(
        "moral_graph.RankingRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The run readers of the published round see; later runs replace it only when published "
        "explicitly (moral_graph.services.ranking_release).",
    )
    translations = models.JSONField(
        default=dict, blank=True, help_text='Per language: {"es": {"title": ..., "description": ..., "consent_text": ...}}'
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(stories_per_participant__gte=1) & Q(stories_per_participant__lte=50),
                name="round_stories_per_participant_range",
            ),
            models.CheckConstraint(
                condition=Q(min_votes_per_story__gte=1) & Q(min_votes_per_story__lte=1000),
                name="round_min_votes_range",
            ),
            models.CheckConstraint(
                condition=Q(dedup_threshold__gte=0) & Q(dedup_threshold__lte=1), name="round_dedup_threshold_range"
            ),
            models.CheckConstraint(condition=Q(stage__in=[s.value for s in Stage]), name="round_stage_valid"),
        ]

    def __str__(self) -> str:
        return self.title


class Question(models.Model):
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="questions")
    text = models.TextField(max_length=2000)
    order = models.PositiveSmallIntegerField(default=0)
    translations = models.JSONField(default=dict, blank=True, help_text='Per language: {"es": {"text": ...}}')

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["round", "order"], name="question_unique_order")]

    def __str__(self) -> str:
        return self.text[:80]


class Context(models.Model):
    """A choice type, e.g. "When the user is in distress", within a question."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="contexts")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=2000)
    order = models.PositiveSmallIntegerField(default=0)
    translations = models.JSONField(
        default=dict, blank=True, help_text='Per language: {"es": {"name": ..., "description": ...}}'
    )

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["question", "name"], name="context_unique_name")]

    def __str__(self) -> str:
        return self.name


class ParticipantAttribute(models.Model):
    """An organizer-defined question asked on joining (e.g. political affiliation); may serve as a grouping."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="attributes")
    key = models.SlugField(max_length=64)
    label = models.CharField(max_length=200)
    choices = models.JSONField(default=list)
    is_grouping = models.BooleanField(default=True)
    order = models.PositiveSmallIntegerField(default=0)
    translations = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per language: {"es": {"label": ..., "choices": [...]}}, choices in the order of `choices`; '
        "answers are stored as the default-language choice.",
    )

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["round", "key"], name="attribute_unique_key")]


class Invitation(models.Model):
    """A one-time invite code."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="invitations")
    code = models.CharField(max_length=64, unique=True, default=new_token)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class Participant(models.Model):
    """A pseudonymous member of one round; no personal data is required."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="participants")
    pseudonym = models.CharField(max_length=32, unique=True, default=new_pseudonym)
    resume_token = models.CharField(max_length=64, unique=True, default=new_token)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="participations"
    )
    invitation = models.OneToOneField(Invitation, null=True, blank=True, on_delete=models.SET_NULL)
    attributes = models.JSONField(default=dict, blank=True)
    consent_at = models.DateTimeField()
    joined_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    eval_represented = models.PositiveSmallIntegerField(null=True, blank=True)
    eval_fair = models.PositiveSmallIntegerField(null=True, blank=True)
    is_simulated = models.BooleanField(default=False)
    external_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["round", "user"], condition=Q(user__isnull=False), name="participant_one_per_user"
            ),
            models.CheckConstraint(
                condition=Q(eval_represented__isnull=True) | Q(eval_represented__gte=1, eval_represented__lte=5),
                name="participant_eval_represented_range",
            ),
            models.CheckConstraint(
                condition=Q(eval_fair__isnull=True) | Q(eval_fair__gte=1, eval_fair__lte=5),
                name="participant_eval_fair_range",
            ),
        ]

    def __str__(self) -> str:
        return self.pseudonym

    @property
    def participant_id(self) -> int:
        """The id a rate limit counts against when a Participant is the request's auth (core.ratelimit)."""
        return self.pk


class OrganizerRole(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MODERATOR = "moderator", "Moderator"
        VIEWER = "viewer", "Viewer"

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="roles")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="round_roles")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["round", "user"], name="role_one_per_user_round")]


class AuditEvent(models.Model):
    """One organizer action, kept forever."""

    round = models.ForeignKey(Round, null=True, on_delete=models.SET_NULL, related_name="audit_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]


class Job(models.Model):
    """The state of one background job, for the dashboard and for the attempt counter."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=32)
    key = models.CharField(max_length=128, help_text="What the job works on, e.g. a card id.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    attempts = models.PositiveIntegerField(default=0)
    claim = models.PositiveBigIntegerField(
        default=0,
        help_text="Raised by every claim (and by the sweeper when it takes a lost job back): a computation may "
        "publish only while the claim it took is still the job's (fencing).",
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # A running job's heartbeat: its computation touches it every few seconds (moral_graph.services).
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(fields=["round", "kind", "key"], name="job_unique_kind_key")]
