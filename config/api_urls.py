"""The API under /api/v1/."""
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cards import apis as cards_apis
from deliberation import apis as deliberation_apis
from moral_graph import apis as graph_apis
from moral_graph import guidance_apis

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("rounds/", deliberation_apis.RoundListApi.as_view(), name="rounds"),
    path("rounds/<slug:slug>/", deliberation_apis.RoundDetailApi.as_view(), name="round"),
    path("rounds/<slug:slug>/stage/", deliberation_apis.RoundStageApi.as_view(), name="round-stage"),
    path("rounds/<slug:slug>/join/", deliberation_apis.RoundJoinApi.as_view(), name="round-join"),
    path("rounds/<slug:slug>/me/", deliberation_apis.MeApi.as_view(), name="me"),
    path("rounds/<slug:slug>/me/finish/", deliberation_apis.FinishApi.as_view(), name="me-finish"),
    path("rounds/<slug:slug>/cards/", cards_apis.RoundCardsApi.as_view(), name="round-cards"),
    path("rounds/<slug:slug>/values/", cards_apis.RoundValuesApi.as_view(), name="round-values"),
    path("rounds/<slug:slug>/stories/assigned/", graph_apis.AssignedStoriesApi.as_view(), name="assigned-stories"),
    path("rounds/<slug:slug>/rank/", graph_apis.RankApi.as_view(), name="round-rank"),
    path("rounds/<slug:slug>/report/", graph_apis.ReportApi.as_view(), name="round-report"),
    path("rounds/<slug:slug>/guidance/", guidance_apis.GuidanceApi.as_view(), name="round-guidance"),
    path("cards/<int:card_id>/", cards_apis.CardDetailApi.as_view(), name="card"),
    path("cards/<int:card_id>/confirm/", cards_apis.CardConfirmApi.as_view(), name="card-confirm"),
    path("stories/<int:story_id>/vote/", graph_apis.StoryVoteApi.as_view(), name="story-vote"),
    path("votes/<int:vote_id>/", graph_apis.VoteDetailApi.as_view(), name="vote"),
]
