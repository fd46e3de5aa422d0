"""Transition stories, assignments, wiser votes (with their history) and ranking snapshots."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class StoredJSONField(models.JSONField):
    """A JSONField that PostgreSQL keeps as `json` (the text, checked when written) instead of `jsonb`.

    For documents written whole and read whole, never queried inside by an index: a ranking snapshot is
    megabytes, and turning its text into jsonb was most of writing it (decision 48). `->`, `->>` and
    `json_array_elements` work on it as on jsonb; equality and `?` do not exist for json. psycopg parses json
    values itself (Django only asks it for jsonb as text), so an already parsed value is taken as it is.
    """

    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def from_db_value(self, value, expression, connection):
        if value is not None and not isinstance(value, str):
            return value
        return super().from_db_value(value, expression, connection)


class TransitionStory(models.Model):
    """A wiser-than hypothesis: someone moved from one value to another in a context."""

    class Origin(models.TextChoices):
        MODEL = "model", "Model"
        TEMPLATE = "template", "Template"
        ORGANIZER = "organizer", "Organizer"
        IMPORT = "import", "Imported"

    round = models.ForeignKey("deliberation.Round", on_delete=models.CASCADE, related_name="stories")
    context = models.ForeignKey("deliberation.Context", on_delete=models.CASCADE, related_name="stories")
    from_value = models.ForeignKey(
        "cards.CanonicalValue", on_delete=models.CASCADE, related_name="stories_from"
    )
    to_value = models.ForeignKey("cards.CanonicalValue", on_delete=models.CASCADE, related_name="stories_to")
    text = models.TextField(max_length=4000)
    origin = models.CharField(max_length=16, choices=Origin.choices)
    prompt_version = models.CharField(max_length=64, blank=True)
    is_hidden = models.BooleanField(default=False)
    hidden_reason = models.CharField(max_length=500, blank=True)
    external_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["context", "from_value", "to_value"], name="story_unique_pair"),
            models.CheckConstraint(condition=~Q(from_value=F("to_value")), name="story_distinct_values"),
        ]
        # (round, updated_at): the newest story edit of a round, read by the report cache's fingerprint.
        indexes = [models.Index(fields=["round", "is_hidden"]), models.Index(fields=["round", "updated_at"])]


class StoryAssignment(models.Model):
    """A story shown to a participant (an impression); nobody gets the same story twice."""

    participant = models.ForeignKey(
        "deliberation.Participant", on_delete=models.CASCADE, related_name="assignments"
    )
    # Indexed with the id (below): a fanned-out part counts its context's impressions at the assignment watermark
    # from the index alone (decision 51); lookups by story use the same index.
    story = models.ForeignKey(
        TransitionStory, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "story"], name="assignment_unique_participant_story"
            )
        ]
        indexes = [models.Index(fields=["story", "id"], name="assignment_story_id")]


class Answer(models.TextChoices):
    WISER = "wiser", "Yes, wiser"
    NOT_WISER = "not_wiser", "No"
    NOT_SURE = "not_sure", "Not sure"


class WiserVote(models.Model):
    """The current answer of one participant on one story; changes are kept as revisions."""

    # No index of its own: the unique (participant, story) constraint's index serves lookups by participant.
    participant = models.ForeignKey(
        "deliberation.Participant", on_delete=models.CASCADE, related_name="votes", db_index=False
    )
    story = models.ForeignKey(TransitionStory, on_delete=models.CASCADE, related_name="votes")
    answer = models.CharField(max_length=16, choices=Answer.choices)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["participant", "story"], name="vote_unique_participant_story"),
            models.CheckConstraint(
                condition=Q(answer__in=[a.value for a in Answer]), name="vote_answer_valid"
            ),
        ]


class WiserVoteRevision(models.Model):
    """Every answer ever given, append-only. Its id is the ranking watermark."""

    # Indexed by the (vote, id) and (round, id) indexes below, which also serve lookups on the key alone.
    vote = models.ForeignKey(WiserVote, on_delete=models.CASCADE, related_name="revisions", db_index=False)
    round = models.ForeignKey(
        "deliberation.Round", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    answer = models.CharField(max_length=16, choices=Answer.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    # The vote's story, participant and the story's context, copied from the vote (which never changes them): a
    # ranking reads one context's answers from this table alone, through the (context, id) index (decision 46).
    # No foreign-key constraints of their own: the vote's cascade removes a revision with its vote.
    story = models.ForeignKey(
        TransitionStory, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    participant = models.ForeignKey(
        "deliberation.Participant", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    context = models.ForeignKey(
        "deliberation.Context", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["round", "id"]),
            models.Index(fields=["vote", "id"]),
            # Covering: a context's answers are read from the index alone (its rows are spread over every page
            # of the table, so reading them from the table read all of it, once per context).
            models.Index(
                fields=["context", "id"],
                include=["vote", "answer", "participant", "story"],
                name="revision_context_answers",
            ),
        ]


class RankingRun(models.Model):
    """One computation of a round's rankings at a watermark; readers follow Round.current_ranking."""

    class Status(models.TextChoices):
        COMPUTING = "computing", "Computing"
        PUBLISHED = "published", "Published"
        SUPERSEDED = "superseded", "Superseded"
        FAILED = "failed", "Failed"

    round = models.ForeignKey("deliberation.Round", on_delete=models.CASCADE, related_name="ranking_runs")
    method = models.CharField(max_length=32)
    parameters = models.JSONField(default=dict)
    watermark = models.BigIntegerField(help_text="The last WiserVoteRevision id included.")
    structure_version = models.PositiveIntegerField(
        default=0, help_text="Round.structure_version when computed."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPUTING)
    error = models.TextField(blank=True)
    software_version = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["round", "method", "watermark", "structure_version"],
                condition=Q(status="published") | Q(status="superseded"),
                name="ranking_run_unique_watermark",
            )
        ]


class RankingSnapshot(models.Model):
    """The ranked values of one context (or, with no context, one question pooled) within a run."""

    run = models.ForeignKey(RankingRun, on_delete=models.CASCADE, related_name="snapshots")
    round = models.ForeignKey("deliberation.Round", on_delete=models.CASCADE, related_name="+")
    question = models.ForeignKey("deliberation.Question", on_delete=models.CASCADE, related_name="+")
    context = models.ForeignKey("deliberation.Context", null=True, on_delete=models.CASCADE, related_name="+")
    results = StoredJSONField()
    # The result's scores alone, [[value id, score], ...]: what the next run's warm start reads
    # (`selectors.run_scores`) without parsing the whole result, which json (unlike jsonb) would (decision 48).
    # Null in snapshots written before the column; readers then take the scores from results.
    scores = StoredJSONField(null=True, blank=True)
    # The digest of the inputs the result was computed from (`moral_graph.digest`; also in results.parameters):
    # a later run copies this snapshot when its context's inputs have the same digest (decision 45).
    inputs_digest = models.CharField(max_length=64, blank=True, default="")
    # A copied result: the id of the snapshot it was computed in (readers that cache a result by snapshot, such as
    # the report, find it under that id). Empty when the result was computed in this snapshot's own run.
    origin = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "question", "context"], name="snapshot_unique_context"),
        ]


class RankingPart(models.Model):
    """One context of a run ranked by its own task (the fan-out): its inputs, kept until its snapshot is written.

    The run stays `computing`, invisible to readers, until its last part is in; that part publishes it."""

    run = models.ForeignKey(RankingRun, on_delete=models.CASCADE, related_name="parts")
    context = models.ForeignKey("deliberation.Context", on_delete=models.CASCADE, related_name="+")
    question = models.ForeignKey("deliberation.Question", on_delete=models.CASCADE, related_name="+")
    claim = models.PositiveBigIntegerField(help_text="The ranking job's claim when the run was fanned out.")
    inputs = models.BinaryField(
        help_text="The part's spec (numpy .npz): its context's impressions, placed values, the round's merges "
        "and the previous snapshot's digest; the part reads its context's votes itself."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "context"], name="ranking_part_unique_context")]


class RankingRelease(models.Model):
    """An organizer made another run the published round's public result: when, why and what it replaced."""

    round = models.ForeignKey("deliberation.Round", on_delete=models.CASCADE, related_name="ranking_releases")
    run = models.ForeignKey(RankingRun, on_delete=models.CASCADE, related_name="releases")
    previous_run = models.ForeignKey(RankingRun, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=1000)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["round", "created_at"])]


class GuidanceRequest(models.Model):
    """A situation sent for guidance; stored only when the round's organizer switched logging on."""

    round = models.ForeignKey(
        "deliberation.Round", on_delete=models.CASCADE, related_name="guidance_requests"
    )
    situation = models.TextField(max_length=20000)
    matched_context = models.ForeignKey(
        "deliberation.Context", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    similarity = models.FloatField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
