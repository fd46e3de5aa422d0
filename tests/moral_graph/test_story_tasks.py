"""Entering voting writes template stories at once; the model's stories replace them later, never inside the request."""

import time

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction

from core import queue
from deliberation.models import OrganizerRole, Stage
from deliberation.services import round_set_stage
from moral_graph import services, story_generation
from moral_graph.models import StoryAssignment, TransitionStory
from moral_graph.story_generation import STORY_VERSION
from tests.factories import join, make_round, submit
from tests.fake_openai import json_reply, slow

STORY = (
    "When my friend called me in a panic, I only thought about keeping her safe and listed hotlines. "
    "Later I saw that she felt handled, not heard. Now I make room for her to hear what she herself wants."
)
REVERSE = (
    "I used to leave every choice to the person in front of me, asking what she wanted. One night a friend "
    "was in real danger and my questions left her alone with it. Now I first make sure she is safe."
)


def _round_with_values(slug):
    round_ = make_round(slug=slug)
    for family in (("autonomy", "safety", "honesty")):
        submit(join(round_), family=family, context_index=0)
    return round_


def _pair(round_):
    """Two values of the round's first context that have a template story between them."""
    story = TransitionStory.objects.filter(round=round_, origin="template").order_by("id").first()
    return story.context, story.from_value, story.to_value


def _proposal(source, target):
    return {
        "transitions": [
            {
                "from_id": source.pk,
                "to_id": target.pk,
                "about": "It was about caring for her whole life.",
                "mappings": [{"policy": p, "kind": "kept", "how": "it stays"} for p in source.policies],
                "story": STORY,
                "reverse_story": REVERSE,
            }
        ]
    }


def _owner(round_):
    return OrganizerRole.objects.get(round=round_, role=OrganizerRole.Role.OWNER).user


@pytest.mark.django_db
def test_templates_are_written_first_and_model_stories_replace_untouched_ones(fake_openai, settings):
    round_ = _round_with_values("stories-a")
    settings.OPENAI_API_KEY = ""
    services.stories_generate(round_id=round_.pk)
    context, source, target = _pair(round_)
    templates = TransitionStory.objects.filter(round=round_).count()
    assert templates >= 2 and not TransitionStory.objects.filter(round=round_, origin="model").exists()

    settings.OPENAI_API_KEY = "test-key"
    fake_openai.enqueue(json_reply(_proposal(source, target)))
    assert services.stories_from_model(round_id=round_.pk, context_id=context.pk) == 2
    model = TransitionStory.objects.filter(context=context, origin="model")
    assert {(s.from_value_id, s.to_value_id) for s in model} == {(source.pk, target.pk), (target.pk, source.pk)}
    assert {s.prompt_version for s in model} == {STORY_VERSION}
    # The other templates stay; nothing is duplicated; running again changes nothing and calls no model.
    assert TransitionStory.objects.filter(round=round_).count() == templates
    calls = len(fake_openai.requests_to("/chat/completions"))
    assert services.stories_from_model(round_id=round_.pk, context_id=context.pk) == 0
    assert len(fake_openai.requests_to("/chat/completions")) == calls


@pytest.mark.django_db
def test_a_template_someone_has_been_shown_is_not_replaced(fake_openai, settings):
    round_ = _round_with_values("stories-b")
    settings.OPENAI_API_KEY = ""
    services.stories_generate(round_id=round_.pk)
    context, source, target = _pair(round_)
    shown = TransitionStory.objects.get(context=context, from_value=target, to_value=source)
    StoryAssignment.objects.create(participant=join(round_), story=shown)
    settings.OPENAI_API_KEY = "test-key"
    fake_openai.enqueue(json_reply(_proposal(source, target)))
    assert services.stories_from_model(round_id=round_.pk, context_id=context.pk) == 0
    pair = TransitionStory.objects.filter(context=context, from_value__in=[source, target], to_value__in=[source, target])
    assert {s.origin for s in pair} == {"template"} and pair.count() == 2


@pytest.mark.django_db
def test_a_model_task_killed_by_its_time_limit_leaves_a_usable_round(
    fake_openai, monkeypatch, django_capture_on_commit_callbacks
):
    round_ = _round_with_values("stories-c")

    def killed(**kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(story_generation, "propose_transitions", killed)
    with django_capture_on_commit_callbacks(execute=True):
        round_set_stage(round_=round_, actor=_owner(round_), stage=Stage.VOTING)
    stories = TransitionStory.objects.filter(round=round_)
    assert stories.exists() and set(stories.values_list("origin", flat=True)) == {"template"}
    pairs = {(s.from_value_id, s.to_value_id) for s in stories}
    assert all((b, a) in pairs for a, b in pairs) and not stories.filter(is_hidden=True).exists()


@pytest.mark.django_db(transaction=True)
def test_entering_voting_returns_at_once_while_the_model_writes_in_the_background(fake_openai, settings):
    settings.WISER_EAGER_SLOW_TASKS_IN_THREAD = True
    round_ = _round_with_values("stories-d")
    fake_openai.always(slow(1.5))
    started = time.monotonic()
    with transaction.atomic():
        round_set_stage(round_=round_, actor=_owner(round_), stage=Stage.VOTING)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, elapsed
    assert TransitionStory.objects.filter(round=round_, origin="template").exists()
    for thread in list(queue.BACKGROUND_THREADS):
        thread.join(timeout=30)
    assert len(fake_openai.requests_to("/chat/completions")) >= 1
