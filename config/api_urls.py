"""The API under /api/v1/."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from cards import apis as cards_apis
from cards import articulation_apis
from deliberation import apis as deliberation_apis
from moral_graph import apis as graph_apis
from moral_graph import guidance_apis
from operations import privacy_apis

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("auth/token/", deliberation_apis.TokenApi.as_view(), name="auth-token"),
    # Rounds and their structure.
    path("rounds/", deliberation_apis.RoundListApi.as_view(), name="rounds"),
    path("rounds/<slug:slug>/", deliberation_apis.RoundDetailApi.as_view(), name="round"),
    path("rounds/<slug:slug>/stage/", deliberation_apis.RoundStageApi.as_view(), name="round-stage"),
    path(
        "rounds/<slug:slug>/questions/", deliberation_apis.QuestionListApi.as_view(), name="round-questions"
    ),
    path("rounds/<slug:slug>/contexts/", deliberation_apis.ContextListApi.as_view(), name="round-contexts"),
    path(
        "rounds/<slug:slug>/contexts/<int:context_id>/",
        deliberation_apis.ContextDetailApi.as_view(),
        name="round-context",
    ),
    path("rounds/<slug:slug>/archive/", deliberation_apis.RoundArchiveApi.as_view(), name="round-archive"),

    path(
        "rounds/<slug:slug>/participants/",
        deliberation_apis.ParticipantListApi.as_view(),
        name="round-participants",
    ),
    # The participant's journey.
    path("rounds/<slug:slug>/join/", deliberation_apis.RoundJoinApi.as_view(), name="round-join"),
    path("rounds/<slug:slug>/me/", privacy_apis.MeApi.as_view(), name="me"),
    path("rounds/<slug:slug>/me/data/", privacy_apis.ParticipantDataApi.as_view(), name="me-data"),
    path("rounds/<slug:slug>/me/finish/", deliberation_apis.FinishApi.as_view(), name="me-finish"),
    path("rounds/<slug:slug>/cards/", cards_apis.RoundCardsApi.as_view(), name="round-cards"),
    path("cards/<int:card_id>/", cards_apis.CardDetailApi.as_view(), name="card"),
    path("cards/<int:card_id>/confirm/", cards_apis.CardConfirmApi.as_view(), name="card-confirm"),
    path(
        "rounds/<slug:slug>/stories/assigned/",
        graph_apis.AssignedStoriesApi.as_view(),
        name="assigned-stories",
    ),
    path("stories/<int:story_id>/vote/", graph_apis.StoryVoteApi.as_view(), name="story-vote"),
    path("votes/<int:vote_id>/", graph_apis.VoteDetailApi.as_view(), name="vote"),
    # Values, stories, votes and rankings as organizers see them.
    path("rounds/<slug:slug>/values/", cards_apis.RoundValuesApi.as_view(), name="round-values"),
    path("values/<int:value_id>/", cards_apis.ValueDetailApi.as_view(), name="value"),
    path("rounds/<slug:slug>/stories/", graph_apis.StoryListApi.as_view(), name="round-stories"),
    path("rounds/<slug:slug>/votes/", graph_apis.RoundVoteListApi.as_view(), name="round-votes"),
    path("rounds/<slug:slug>/rank/", graph_apis.RankApi.as_view(), name="round-rank"),
    path("rounds/<slug:slug>/rankings/", graph_apis.RunListApi.as_view(), name="round-rankings"),
    path(
        "rounds/<slug:slug>/rankings/<int:run_id>/", graph_apis.RunDetailApi.as_view(), name="round-ranking"
    ),
    path(
        "rounds/<slug:slug>/rankings/<int:run_id>/publish/",
        graph_apis.ReleaseApi.as_view(),
        name="round-ranking-publish",
    ),
    # Results.
    path("rounds/<slug:slug>/report/", graph_apis.ReportApi.as_view(), name="round-report"),
    path("rounds/<slug:slug>/exports/<str:kind>/", graph_apis.ExportApi.as_view(), name="round-export"),
    path("rounds/<slug:slug>/guidance/", guidance_apis.GuidanceApi.as_view(), name="round-guidance"),
    path("rounds/<slug:slug>/articulation/", articulation_apis.ArticulationStartApi.as_view(), name="articulation-start"),
    path("articulation/<int:session_id>/", articulation_apis.ArticulationDetailApi.as_view(), name="articulation"),
    path("articulation/<int:session_id>/turn/", articulation_apis.ArticulationTurnApi.as_view(), name="articulation-turn"),
    path("articulation/<int:session_id>/draft/", articulation_apis.ArticulationDraftApi.as_view(),
         name="articulation-draft"),
    path("articulation/<int:session_id>/confirm/", articulation_apis.ArticulationConfirmApi.as_view(),
         name="articulation-confirm"),
]
