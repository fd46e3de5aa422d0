"""Assignment in a big round: the story counts come from a shared, seconds-old copy (`_story_stats_cached`)."""

import numpy as np
import pytest

from moral_graph import selectors, services
from moral_graph.models import StoryAssignment, TransitionStory, WiserVote
from tests.factories import voting_round
from tests.reliability.invariants import cast_votes

pytestmark = pytest.mark.django_db


def test_story_stats_count_what_the_exact_query_counts():
    round_, people = voting_round("stats-same", people=8)
    cast_votes(people[:5])
    services.assignments_take(participant=people[5])  # shown, not voted on
    TransitionStory.objects.filter(pk=TransitionStory.objects.filter(round=round_).first().pk).update(is_hidden=True)
    stats = selectors.story_stats(round_id=round_.pk)
    expected = []
    for story in TransitionStory.objects.filter(round=round_, is_hidden=False).order_by("pk"):
        votes = WiserVote.objects.filter(story=story)
        expected.append(
            [
                story.pk,
                story.context_id,
                story.from_value_id,
                story.to_value_id,
                StoryAssignment.objects.filter(story=story).count(),
                votes.filter(answer="wiser").count(),
                votes.count(),
            ]
        )
    assert stats.tolist() == expected


def test_the_cached_counts_choose_as_the_exact_ones_and_count_this_processes_assignments(settings):
    round_, people = voting_round("stats-choose", people=8)
    cast_votes(people[:4])
    exact = services.assignments_take(participant=people[4])
    StoryAssignment.objects.filter(participant=people[4]).delete()
    settings.WISER_ASSIGNMENT_CACHED_STORIES = 0
    cached = services.assignments_take(participant=people[4])
    assert [s.pk for s in cached] == [s.pk for s in exact], "same counts, same choice"
    stamp, copy = services._STORY_STATS_MEMO[round_.pk]
    shown = dict(zip(copy[:, 0].tolist(), copy[:, 4].tolist(), strict=True))
    for story in cached:
        assert shown[story.pk] == StoryAssignment.objects.filter(story=story).count()
    pairs = {(s.context_id, frozenset((s.from_value_id, s.to_value_id))) for s in cached}
    assert len(pairs) == len(cached), "never both directions of a pair"


def test_counts_older_than_their_age_are_counted_again(settings):
    round_, people = voting_round("stats-age", people=8)
    settings.WISER_ASSIGNMENT_CACHED_STORIES = 0
    settings.WISER_STORY_STATS_SECONDS = 30
    services.assignments_take(participant=people[0])
    first_stamp = services._STORY_STATS_MEMO[round_.pk][0]
    cast_votes(people[1:3])
    services.assignments_take(participant=people[3])
    assert services._STORY_STATS_MEMO[round_.pk][0] == first_stamp, "fresh enough: the same copy"
    settings.WISER_STORY_STATS_SECONDS = 0
    services._STORY_STATS_MEMO.clear()  # another process: it reads the shared copy, finds it old, counts again
    services.assignments_take(participant=people[4])
    stamp, copy = services._STORY_STATS_MEMO[round_.pk]
    assert stamp > first_stamp
    assert int(copy[:, 6].sum()) == WiserVote.objects.filter(story__round=round_, story__is_hidden=False).count()
    assert np.all(copy[:, 4] >= copy[:, 6])
