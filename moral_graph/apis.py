"""The API of stories, wiser votes, ranking runs, the report and its exports."""

import io
import json
import tempfile
import zipfile
from pathlib import Path

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import Conflict, Forbidden, NotFound
from deliberation.apis import (
    bool_param,
    choice_param,
    int_param,
    require_organizer,
    require_participant,
    round_or_404,
)
from deliberation.auth import ParticipantTokenAuthentication
from deliberation.models import Participant
from deliberation.permissions import can, can_read_report
from moral_graph import selectors, services
from moral_graph.exports import ExportError, export_build, export_write_csv, export_write_graphml
from moral_graph.models import Answer, RankingRun, TransitionStory, WiserVote
from moral_graph.selectors.report import REPORT_VALUES_PER_CONTEXT, report_json, values_per_context_param

EXPORT_KINDS = ("json", "csv", "graphml")


class ValueBrief(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    policies = serializers.ListField(child=serializers.CharField())


class ContextBrief(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class VoteBrief(serializers.Serializer):
    id = serializers.IntegerField()
    answer = serializers.CharField()
    reason = serializers.CharField()


class StoryOut(serializers.ModelSerializer):
    context = serializers.SerializerMethodField()
    from_value = ValueBrief()
    to_value = ValueBrief()
    vote = serializers.SerializerMethodField()
    illustrative = serializers.SerializerMethodField(
        help_text="True for a template story: written from the two values' own words, not told by a person."
    )
    question = serializers.SerializerMethodField(help_text="The direction asked about, in words.")

    class Meta:
        model = TransitionStory
        fields = ["id", "context", "from_value", "to_value", "text", "illustrative", "question", "vote"]

    def get_illustrative(self, story: TransitionStory) -> bool:
        return story.origin == TransitionStory.Origin.TEMPLATE

    def get_question(self, story: TransitionStory) -> str:
        return f"Is moving from “{story.from_value.title}” to “{story.to_value.title}” wiser in this situation?"

    @extend_schema_field(ContextBrief)
    def get_context(self, story: TransitionStory) -> dict:
        return {"id": story.context_id, "name": story.context.name}

    @extend_schema_field(VoteBrief(allow_null=True))
    def get_vote(self, story: TransitionStory) -> dict | None:
        votes = self.context.get("votes", {})
        vote = votes.get(story.pk)
        return None if vote is None else {"id": vote.pk, "answer": vote.answer, "reason": vote.reason}


class VoteIn(serializers.Serializer):
    answer = serializers.CharField(max_length=100)
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=100_000, trim_whitespace=False
    )


class VoteOut(serializers.ModelSerializer):
    class Meta:
        model = WiserVote
        fields = ["id", "story", "answer", "reason", "created_at", "updated_at"]


class RankIn(serializers.Serializer):
    method = serializers.CharField(required=False)


class AssignedStoriesApi(APIView):
    """GET: the stories already assigned to you (a read). POST: be assigned stories up to the round's quota
    (while voting is open) and get all of yours back."""

    @extend_schema(responses=StoryOut(many=True))
    def get(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        participant = require_participant(request, round_)
        stories = selectors.assignments_of(participant=participant)
        votes = selectors.votes_of(participant=participant)
        return Response(StoryOut(stories, many=True, context={"votes": votes}).data)

    @extend_schema(request=None, responses=StoryOut(many=True))
    def post(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        participant = require_participant(request, round_)
        stories = services.assignments_take(participant=participant)
        votes = selectors.votes_of(participant=participant)
        return Response(StoryOut(stories, many=True, context={"votes": votes}).data)


class StoryVoteApi(APIView):
    """Cast a wiser vote on a story assigned to you; the same vote sent again returns it (200)."""

    # vote_cast checks in its one statement that the token's participant still exists (401 when not).
    participant_from_claims = True

    def get_authenticate_header(self, request: Request) -> str:
        # A deleted participant's token is refused here after authentication: 401 with the participant scheme,
        # as on every other endpoint (DRF would take the first authenticator's header, none, and answer 403).
        return ParticipantTokenAuthentication.keyword

    @extend_schema(request=VoteIn, responses={201: VoteOut, 200: VoteOut})
    def post(self, request: Request, story_id: int) -> Response:
        participant = request.auth if isinstance(request.auth, Participant) else None
        if participant is None:
            if not TransitionStory.objects.filter(pk=story_id).exists():
                raise NotFound("No such story.")
            raise Forbidden("Join the round first: send your participant token.")
        data = VoteIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            vote, created = services.vote_cast(
                participant=participant, story_id=story_id, **data.validated_data
            )
        except services.StoryOfAnotherRound as exc:
            raise Forbidden("Your participant token belongs to another round.") from exc
        except services.ParticipantGone as exc:
            raise exceptions.AuthenticationFailed("Invalid or expired participant token.") from exc
        return Response(vote_out(vote), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


_VOTE_TIME = serializers.DateTimeField()


def vote_out(vote: WiserVote) -> dict:
    """`VoteOut(vote).data`, built directly: a ModelSerializer costs about a millisecond per vote to set up."""
    return {
        "id": vote.pk,
        "story": vote.story_id,
        "answer": vote.answer,
        "reason": vote.reason,
        "created_at": _VOTE_TIME.to_representation(vote.created_at),
        "updated_at": _VOTE_TIME.to_representation(vote.updated_at),
    }


def _own_vote(request: Request, vote_id: int):
    vote = WiserVote.objects.select_related("story__round").filter(pk=vote_id).first()
    if vote is None:
        raise NotFound("No such vote.")
    participant = require_participant(request, vote.story.round)
    if vote.participant_id != participant.pk:
        raise NotFound("No such vote of yours.")
    return participant, vote


class VoteDetailApi(APIView):
    """A participant reads or changes their own vote (the change is kept as a revision)."""

    @extend_schema(responses=VoteOut)
    def get(self, request: Request, vote_id: int) -> Response:
        _, vote = _own_vote(request, vote_id)
        return Response(VoteOut(vote).data)

    @extend_schema(request=VoteIn, responses=VoteOut)
    def patch(self, request: Request, vote_id: int) -> Response:
        participant, vote = _own_vote(request, vote_id)
        data = VoteIn(data=request.data)
        data.is_valid(raise_exception=True)
        vote = services.vote_update(participant=participant, vote_id=vote.pk, **data.validated_data)
        return Response(VoteOut(vote).data)


class QueuedOut(serializers.Serializer):
    queued = serializers.BooleanField()


class RankApi(APIView):
    """Ask for the round's ranking to be recomputed now (moderator or owner); recorded in the audit log.

    On a published round the new run is for organizers to inspect; readers keep the published one until it is
    published with `rankings/<id>/publish/`."""

    @extend_schema(request=RankIn, responses={202: QueuedOut})
    def post(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        require_organizer(request, round_, "rank")
        data = RankIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.ranking_request(actor=request.user, round_=round_, method=data.validated_data.get("method"))
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)


class ReleaseIn(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, help_text="Why the published result is revised; readers see it.")


class ReleaseApi(APIView):
    """Publish this run: make another run the published round's result, with a reason (owner; audit-logged)."""

    @extend_schema(request=ReleaseIn, responses={200: OpenApiResponse(OpenApiTypes.OBJECT)})
    def post(self, request: Request, slug: str, run_id: int) -> Response:
        round_ = round_or_404(slug)
        require_organizer(request, round_, "advance_stage")
        data = ReleaseIn(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.ranking_release(
            actor=request.user, round_=round_, run_id=run_id, reason=data.validated_data["reason"]
        )
        return Response({"runId": run.pk, "method": run.method, "published": True})


def _requested_run(request: Request, round_):
    """The run named by the `run` query parameter (an earlier version, or an organizer's preview), else None."""
    raw = request.query_params.get("run")
    if raw in (None, ""):
        return None
    run = selectors.run_for_reader(
        round_=round_, run_id=raw, organizer=can(request.user, round_, "view_report")
    )
    if run is None:
        raise NotFound("No such ranking run of this round for you to read.")
    return run


RUN_PARAMETER = OpenApiParameter(
    "run",
    OpenApiTypes.INT,
    description="A run id: an earlier published version (anyone who may read the report) or any finished run "
    "(organizers). Default: the run readers see (frozen once the round is published).",
)


class ReportApi(APIView):
    """The ranked report (docs/report.md), for whoever may read the round's report."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "values",
                OpenApiTypes.STR,
                description=f"How many values of each context to detail, best first: a whole number from 1, "
                f"or 'all' (default {REPORT_VALUES_PER_CONTEXT}; `valuesTotal` says how many there are).",
                pattern="^(all|0*[1-9][0-9]*)$",
            ),
            RUN_PARAMETER,
        ],
        responses=OpenApiResponse(
            OpenApiTypes.OBJECT,
            description="round, ranking, questions[].contexts[] (values, edges, bridging, graph), participation, "
            "methodology; see docs/report.md.",
        ),
    )
    def get(self, request: Request, slug: str) -> Response:
        round_ = _readable_round(request, slug)
        limit = values_per_context_param(request.query_params.get("values"))
        body = report_json(round_=round_, values_per_context=limit, run=_requested_run(request, round_))
        return HttpResponse(body, content_type="application/json")


def _readable_round(request: Request, slug: str):
    round_ = round_or_404(slug)
    if not can_read_report(request.user, round_, via_link=True):
        raise Forbidden("This report is not published for you.")
    return round_


def export_response(data: dict, kind: str, slug: str) -> HttpResponse:
    """The export as a download: one JSON or GraphML file, or the CSV directory zipped in memory."""
    if kind == "json":
        body = (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
        name, content_type = f"{slug}.json", "application/json"
    else:
        with tempfile.TemporaryDirectory(prefix="wiser-export-") as scratch:
            if kind == "graphml":
                body = export_write_graphml(data, Path(scratch) / f"{slug}.graphml").read_bytes()
                name, content_type = f"{slug}.graphml", "application/graphml+xml"
            else:
                buffer = io.BytesIO()
                with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                    for path in export_write_csv(data, Path(scratch) / "csv"):
                        archive.write(path, f"{slug}/{path.name}")
                body = buffer.getvalue()
                name, content_type = f"{slug}-csv.zip", "application/zip"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class ExportApi(APIView):
    """The run readers see (or `?run=` an earlier one) as JSON (recomputable with verify_export), zipped CSV tables or GraphML."""

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(EXPORT_KINDS)),
            RUN_PARAMETER,
        ],
        responses={
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="docs/exports.md"),
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV tables"),
            (200, "application/graphml+xml"): OpenApiResponse(OpenApiTypes.BINARY, description="GraphML"),
        },
    )
    def get(self, request: Request, slug: str, kind: str) -> HttpResponse:
        round_ = _readable_round(request, slug)
        if kind not in EXPORT_KINDS:
            raise NotFound(f"No export of kind {kind!r}: one of {', '.join(EXPORT_KINDS)}.")
        try:
            data = export_build(round_=round_, run=_requested_run(request, round_))
        except ExportError as exc:
            raise Conflict(str(exc), code="no_ranking") from exc
        return export_response(data, kind, round_.slug)


class StoryOrganizerOut(serializers.ModelSerializer):
    context = serializers.SerializerMethodField()
    from_value = serializers.IntegerField(source="from_value_id")
    to_value = serializers.IntegerField(source="to_value_id")
    counts = serializers.SerializerMethodField()

    class Meta:
        model = TransitionStory
        fields = [
            "id",
            "context",
            "from_value",
            "to_value",
            "text",
            "origin",
            "prompt_version",
            "is_hidden",
            "hidden_reason",
            "counts",
        ]

    @extend_schema_field(ContextBrief)
    def get_context(self, story: TransitionStory) -> dict:
        return {"id": story.context_id, "name": story.context.name}

    @extend_schema_field(
        {
            "type": "object",
            "properties": {k: {"type": "integer"} for k in ("wiser", "not_wiser", "not_sure", "shown")},
        }
    )
    def get_counts(self, story) -> dict:
        return {
            "wiser": story.n_wiser,
            "not_wiser": story.n_not_wiser,
            "not_sure": story.n_not_sure,
            "shown": story.n_shown,
        }


class StoryListApi(generics.ListAPIView):
    """The round's transition stories with their answer counts (organizers), hidden ones included."""

    serializer_class = StoryOrganizerOut

    @extend_schema(
        parameters=[
            OpenApiParameter("context", OpenApiTypes.INT),
            OpenApiParameter("hidden", OpenApiTypes.BOOL),
        ]
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        request = self.request
        return selectors.stories_for_organizer(
            user=request.user,
            round_=round_or_404(self.kwargs["slug"]),
            context_id=int_param(request, "context"),
            hidden=bool_param(request, "hidden"),
        )


class OrganizerVoteOut(serializers.ModelSerializer):
    participant = serializers.CharField(source="participant.pseudonym")
    context = serializers.IntegerField(source="story.context_id")
    from_value = serializers.IntegerField(source="story.from_value_id")
    to_value = serializers.IntegerField(source="story.to_value_id")

    class Meta:
        model = WiserVote
        fields = [
            "id",
            "participant",
            "story",
            "context",
            "from_value",
            "to_value",
            "answer",
            "reason",
            "created_at",
            "updated_at",
        ]


class RoundVoteListApi(generics.ListAPIView):
    """Every current vote of the round under its voter's pseudonym (organizers); per story: GET stories/."""

    serializer_class = OrganizerVoteOut

    @extend_schema(
        parameters=[
            OpenApiParameter("context", OpenApiTypes.INT),
            OpenApiParameter("participant", OpenApiTypes.STR, description="A pseudonym."),
            OpenApiParameter("answer", OpenApiTypes.STR, enum=Answer.values),
        ]
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        request = self.request
        return selectors.votes_for_organizer(
            user=request.user,
            round_=round_or_404(self.kwargs["slug"]),
            context_id=int_param(request, "context"),
            pseudonym=request.query_params.get("participant", "")[:64] or None,
            answer=choice_param(request, "answer", Answer.values),
        )


class RunOut(serializers.ModelSerializer):
    status = serializers.CharField(help_text="computing, published, superseded or failed.")
    is_current = serializers.SerializerMethodField()
    is_public = serializers.SerializerMethodField()

    class Meta:
        model = RankingRun
        fields = [
            "id",
            "method",
            "watermark",
            "structure_version",
            "status",
            "software_version",
            "parameters",
            "created_at",
            "published_at",
            "is_current",
            "is_public",
        ]

    def get_is_current(self, run: RankingRun) -> bool:
        return run.round.current_ranking_id == run.pk

    def get_is_public(self, run: RankingRun) -> bool:
        """Whether report readers see this run (on a published round: the published one, frozen)."""
        round_ = run.round
        if round_.stage == "published" and round_.published_ranking_id is not None:
            return round_.published_ranking_id == run.pk
        return round_.current_ranking_id == run.pk


class SnapshotOut(serializers.Serializer):
    question = serializers.IntegerField(source="question_id")
    context = serializers.IntegerField(source="context_id", allow_null=True)
    results = serializers.JSONField()


class RunDetailOut(RunOut):
    snapshots = SnapshotOut(many=True, source="snapshots.all")

    class Meta(RunOut.Meta):
        fields = [*RunOut.Meta.fields, "snapshots"]


class RunListApi(generics.ListAPIView):
    """The round's ranking runs (snapshots), newest first (organizers)."""

    serializer_class = RunOut

    @extend_schema(parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=RankingRun.Status.values)])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        request = self.request
        return selectors.runs_for_organizer(
            user=request.user,
            round_=round_or_404(self.kwargs["slug"]),
            status=choice_param(request, "status", RankingRun.Status.values),
        ).select_related("round")


class RunDetailApi(APIView):
    """One ranking run with the results of each context (organizers)."""

    @extend_schema(responses=RunDetailOut)
    def get(self, request: Request, slug: str, run_id: int) -> Response:
        run = selectors.run_for_organizer(user=request.user, round_=round_or_404(slug), run_id=run_id)
        if run is None:
            raise NotFound("No such ranking run.")
        return Response(RunDetailOut(run).data)
