"""Every model path against a real OpenAI-compatible server: llama-cpp-python's, with SmolLM2-135M-Instruct
(tests/model_server.py), through the real `openai` client.

A 135M model writes poor content, and slowly; these tests do not judge its wording. They check what must hold
with any real server: structured output is parsed (the gateway finds the response_format this server
enforces), every request is capped, a chat ends in a card, and whatever fails falls back without losing
anything. Replies are capped low (llm.config.PURPOSE_MAX_TOKENS) so the whole file takes a few minutes.
"""

import numpy as np
import pydantic
import pytest
from django.test import Client

from cards import articulation
from cards.dedup import CardText, JudgeUnavailable, Verdict
from cards.judge import judge_candidates
from cards.models import ArticulationSession, ValuesCard
from deliberation.context_suggestions import MAX_SUGGESTIONS, ModelNeeded, contexts_suggest
from llm import config as llm_config
from llm import gateway, offline
from llm.models import CachedEmbedding, LLMCall
from moral_graph.models import TransitionStory
from moral_graph.services import stories_generate
from tests.factories import FAMILIES, UserFactory, join, make_round, submit
from tests.model_server import EMBED_MODEL, TOKEN_EMBED_MODEL
from tests.moral_graph.test_guidance import DISTRESS, _ask, _private_cache, _published  # noqa: F401

pytestmark = [pytest.mark.needs_model_server, pytest.mark.django_db]

GUIDANCE_URLS = "tests.moral_graph.test_guidance"
ANSWERS = [
    "When my friend was grieving I had to choose between giving advice and just staying with her.",
    "I paid attention to whether she wanted words at all, and to the moments she went quiet.",
    "What felt meaningful was that she could set the pace, and that I did not rush to fix anything.",
    "Being present mattered more than being useful.",
]


class Pair(pydantic.BaseModel):
    same: bool
    reason: str


def test_the_gateway_finds_the_structured_mode_this_server_enforces(real_model):
    answer = gateway.complete_structured(
        purpose="test",
        instructions="Compare the two words.",
        data={"a": "care", "b": "kindness"},
        schema=Pair,
    )
    assert isinstance(answer, Pair)
    first = LLMCall.objects.get()
    # json_schema was refused (HTTP 500) once, not retried; json_object with the schema was accepted.
    assert (first.outcome, first.attempts) == ("ok", 2)
    assert gateway.structured_mode() == "json_object_schema"
    gateway.complete_structured(
        purpose="test",
        instructions="Compare the two words.",
        data={"a": "truth", "b": "honesty"},
        schema=Pair,
    )
    assert LLMCall.objects.latest("id").attempts == 1


def test_a_chat_is_capped_by_max_tokens(real_model):
    text = gateway.chat(
        purpose="test",
        instructions="You are a storyteller.",
        messages=[{"role": "user", "content": "Tell me a very long story about a lighthouse."}],
        max_tokens=12,
    )
    call = LLMCall.objects.get()
    assert text and call.outcome == "ok" and call.tokens_out <= 12


def test_articulation_chat_ends_in_a_confirmed_card_and_keeps_every_answer(
    real_model, settings, django_capture_on_commit_callbacks
):
    settings.WISER_CHAT_TURN_CAP = len(ANSWERS)
    participant = join(make_round(slug="real-chat"))
    session = articulation.articulation_start(participant=participant)
    for answer in ANSWERS:
        # The reply is a task sent on commit (the page polls for it); here it runs when the turn commits.
        with django_capture_on_commit_callbacks(execute=True):
            articulation.articulation_turn(session=session, message=answer)
        session.refresh_from_db()
        assert not session.pending  # the task wrote its reply (or its fault): nothing is left waiting
        if session.draft or session.fault:
            break
    said = [m["content"] for m in session.messages if m["role"] == "user"]
    assert said == ANSWERS[: len(said)]  # nothing the participant wrote is lost, whatever the model did
    # By the turn cap at the latest there is a draft, or a fault that sends them to a prefilled form.
    assert session.draft or session.fault in (articulation.CALL_FAILED, articulation.DRAFT_INVALID)
    draft = dict(session.draft or {})
    if not draft or articulation.draft_problems(draft):
        # The participant fixes what the rules flagged (or writes it), as the form asks them to.
        title, description, policies = FAMILIES["community"][0]
        draft = {**draft, "title": title, "description": description, "policies": policies}
    card = articulation.articulation_confirm(
        session=session,
        title=draft["title"],
        description=draft["description"],
        policies=draft["policies"],
        context_id=draft.get("context_id") or participant.round.questions.get().contexts.first().pk,
    )
    assert ValuesCard.objects.filter(pk=card.pk, source="chat").exists()
    session.refresh_from_db()
    assert session.status == ArticulationSession.Status.SUBMITTED
    assert [m["content"] for m in card.transcript if m["role"] == "user"] == said
    assert LLMCall.objects.filter(purpose__startswith="articulation").exclude(outcome="cached").exists()


def test_the_dedup_judge_answers_each_candidate_in_one_call_or_reports_unavailable(real_model):
    """A small model may break the schema (a confidence above 1); then the judge says it is unavailable, which
    placement treats as "found your own value and wait for review". Either way: one call per card, capped."""
    (a_title, a_description, a_policies), (b_title, b_description, b_policies) = FAMILIES["autonomy"][:2]
    (c_title, c_description, c_policies) = FAMILIES["safety"][0]
    candidates = [
        CardText(b_title, b_description, tuple(b_policies)),
        CardText(c_title, c_description, tuple(c_policies)),
    ]
    try:
        verdicts = judge_candidates(CardText(a_title, a_description, tuple(a_policies)), candidates)
    except JudgeUnavailable:
        assert LLMCall.objects.get(purpose="dedup.judge").outcome != "ok"
    else:
        assert len(verdicts) == 2
        assert all(v is None or (isinstance(v, Verdict) and 0.0 <= v.confidence <= 1.0) for v in verdicts)
        assert LLMCall.objects.get(purpose="dedup.judge").outcome == "ok"  # one call for both candidates
    assert all(
        call.tokens_out <= llm_config.PURPOSE_MAX_TOKENS["dedup.judge"]
        for call in LLMCall.objects.filter(purpose="dedup.judge")
    )


def test_story_generation_leaves_every_neighbour_pair_with_stories_both_ways(
    real_model, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setitem(llm_config.PURPOSE_MAX_TOKENS, "stories.propose", 400)
    round_ = make_round(slug="real-stories")
    for family in ("autonomy", "safety", "honesty"):
        submit(join(round_), family)
    # Templates first; the model's stories come from one task per context, sent when the templates commit.
    with django_capture_on_commit_callbacks(execute=True):
        written = stories_generate(round_id=round_.pk)
    stories = list(
        TransitionStory.objects.filter(round=round_).values_list("from_value_id", "to_value_id", "origin")
    )
    assert len(stories) >= written > 0
    pairs = {(a, b) for a, b, _ in stories}
    assert all((b, a) in pairs for a, b in pairs)  # every story has its reverse, model-written or template
    assert LLMCall.objects.filter(purpose="stories.propose").exclude(outcome="cached").exists()


def test_context_suggestions_are_clean_or_fall_back_with_a_message(real_model):
    owner = UserFactory(username="real-contexts-owner")
    round_ = make_round(slug="real-contexts", owner=owner)
    existing = {c.name.lower() for c in round_.questions.get().contexts.all()}
    try:
        suggestions = contexts_suggest(round_=round_, actor=owner)
    except ModelNeeded as refused:
        assert "type the contexts yourself" in refused.message
        assert LLMCall.objects.get(purpose="contexts.suggest").outcome == "error"
        return
    assert len(suggestions) <= MAX_SUGGESTIONS
    names = [s["name"].lower() for s in suggestions]
    assert all(names) and len(set(names)) == len(names) and not set(names) & existing


@pytest.mark.urls(GUIDANCE_URLS)
def test_guidance_with_remote_embeddings_from_this_server(real_model, settings):
    settings.WISER_EMBEDDINGS = "remote"
    round_ = _published("real-guidance-remote")
    first = _ask(Client(), round_.slug)
    assert first.status_code == 200 and first.json()["closest"] is not None
    assert gateway.embedding_space(round_.pk).endswith(f"#{EMBED_MODEL}")
    dimensions = set(CachedEmbedding.objects.values_list("dimensions", flat=True))
    assert len(dimensions) == 1 and dimensions != {offline.DIMENSIONS}
    assert not LLMCall.objects.filter(kind="embed", provider="offline").exists()
    second = _ask(Client(), round_.slug, DISTRESS + " Still.")
    assert second.status_code == 200
    assert set(CachedEmbedding.objects.values_list("dimensions", flat=True)) == dimensions


@pytest.mark.urls(GUIDANCE_URLS)
def test_guidance_with_offline_embeddings_and_the_model_routing(real_model):
    round_ = _published("real-guidance-offline")
    answer = _ask(Client(), round_.slug)
    assert answer.status_code == 200
    assert answer.json()["method"] in ("model", "embedding")  # "embedding" when the classifier's call failed
    assert not LLMCall.objects.filter(kind="embed", provider="openai").exists()
    assert LLMCall.objects.filter(purpose="guidance_route").exists()


@pytest.mark.urls(GUIDANCE_URLS)
def test_guidance_survives_a_server_that_embeds_per_token(real_model, settings):
    settings.WISER_EMBEDDINGS = "remote"
    settings.WISER_EMBEDDING_MODEL = TOKEN_EMBED_MODEL
    round_ = _published("real-guidance-tokens")
    answers = [_ask(Client(), round_.slug) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert CachedEmbedding.objects.count() == 0
    refused = LLMCall.objects.get(kind="embed", provider="openai")
    assert refused.outcome == "error" and "flat list" in refused.error
    vectors = gateway.embed(["after the refusal"], purpose="guidance")
    assert vectors.shape == (1, offline.DIMENSIONS) and np.isfinite(vectors).all()
