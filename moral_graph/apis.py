"""The API of stories, wiser votes, rankings and the report."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deliberation.apis import require_organizer, require_participant, round_or_404
from deliberation.errors import Forbidden, NotFound
from deliberation.permissions import can_read_report
from moral_graph import services
from moral_graph.models import TransitionStory, WiserVote
from moral_graph.report import report_build


class ValueBrief(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    policies = serializers.ListField(child=serializers.CharField())


class StoryOut(serializers.ModelSerializer):
    context = serializers.SerializerMethodField()
    from_value = ValueBrief()
    to_value = ValueBrief()
    vote = serializers.SerializerMethodField()

    class Meta:
        model = TransitionStory
        fields = ["id", "context", "from_value", "to_value", "text", "vote"]

    def get_context(self, story: TransitionStory) -> dict:
        return {"id": story.context_id, "name": story.context.name}

    def get_vote(self, story: TransitionStory) -> dict | None:
        votes = self.context.get("votes", {})
        vote = votes.get(story.pk)
        return None if vote is None else {"id": vote.pk, "answer": vote.answer, "reason": vote.reason}


class VoteIn(serializers.Serializer):
    answer = serializers.CharField(max_length=100)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=100_000, trim_whitespace=False)


class VoteOut(serializers.ModelSerializer):
    class Meta:
        model = WiserVote
        fields = ["id", "story", "answer", "reason", "created_at", "updated_at"]


class RankIn(serializers.Serializer):
    method = serializers.CharField(required=False)


class AssignedStoriesApi(APIView):
    @extend_schema(responses=StoryOut(many=True))
    def get(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        participant = require_participant(request, round_)
        stories = services.assignments_next(participant=participant)
        votes = {v.story_id: v for v in WiserVote.objects.filter(participant=participant)}
        return Response(StoryOut(stories, many=True, context={"votes": votes}).data)


class StoryVoteApi(APIView):
    @extend_schema(request=VoteIn, responses={201: VoteOut, 200: VoteOut})
    def post(self, request: Request, story_id: int) -> Response:
        story = TransitionStory.objects.select_related("round").filter(pk=story_id).first()
        if story is None:
            raise NotFound("No such story.")
        participant = require_participant(request, story.round)
        data = VoteIn(data=request.data)
        data.is_valid(raise_exception=True)
        vote, created = services.vote_cast(participant=participant, story_id=story.pk, **data.validated_data)
        return Response(VoteOut(vote).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class VoteDetailApi(APIView):
    @extend_schema(request=VoteIn, responses=VoteOut)
    def patch(self, request: Request, vote_id: int) -> Response:
        vote = WiserVote.objects.select_related("story__round").filter(pk=vote_id).first()
        if vote is None:
            raise NotFound("No such vote.")
        participant = require_participant(request, vote.story.round)
        data = VoteIn(data=request.data)
        data.is_valid(raise_exception=True)
        vote = services.vote_update(participant=participant, vote_id=vote.pk, **data.validated_data)
        return Response(VoteOut(vote).data)


class RankApi(APIView):
    @extend_schema(request=RankIn, responses={202: None})
    def post(self, request: Request, slug: str) -> Response:
        from moral_graph.ranking import METHODS
        from moral_graph.tasks import rank_round

        round_ = round_or_404(slug)
        require_organizer(request, round_, "rank")
        data = RankIn(data=request.data)
        data.is_valid(raise_exception=True)
        method = data.validated_data.get("method")
        if method is not None and method not in METHODS:
            raise serializers.ValidationError({"method": [f"One of {', '.join(METHODS)}."]})
        rank_round.delay(round_.pk, method)
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)


class ReportApi(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request: Request, slug: str) -> Response:
        round_ = round_or_404(slug)
        if not can_read_report(request.user, round_, via_link=True):
            raise Forbidden("This report is not published for you.")
        return Response(report_build(round_=round_))
