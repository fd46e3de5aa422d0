"""Stories people can judge: nobody gets both directions of a pair; template stories vary within a context, use the
two cards' own policies and are marked as illustrative; the vote page names the direction asked about."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from deliberation.auth import participant_token
from frontend import session
from moral_graph import services as graph_services
from moral_graph.models import StoryAssignment, TransitionStory
from moral_graph.stories import TEMPLATES, template_index, template_story
from tests.factories import FAMILIES, voting_round


@pytest.mark.django_db
def test_nobody_is_assigned_both_directions_of_one_pair():
    round_, people = voting_round("one-direction", people=8)
    round_.stories_per_participant = 50  # more than there are pairs: the quota cannot force a reverse
    round_.save(update_fields=["stories_per_participant"])
    assert TransitionStory.objects.filter(round=round_).count() > 2
    for person in people:
        person.refresh_from_db()
        stories = graph_services.assignments_take(participant=person)
        pairs = [(s.context_id, frozenset((s.from_value_id, s.to_value_id))) for s in stories]
        assert len(pairs) == len(set(pairs)), "both directions of a pair"
        again = graph_services.assignments_take(participant=person)
        assert [s.pk for s in again] == [s.pk for s in stories]
    total_pairs = len({(s.context_id, frozenset((s.from_value_id, s.to_value_id)))
                       for s in TransitionStory.objects.filter(round=round_)})
    assert StoryAssignment.objects.filter(participant=people[0]).count() == total_pairs


def test_template_stories_use_the_cards_own_policies_and_vary_within_a_context():
    families = list(FAMILIES)
    texts, used = [], set()
    for a in families:
        for b in families:
            if a == b:
                continue
            (from_title, _, from_policies), (to_title, _, to_policies) = FAMILIES[a][0], FAMILIES[b][0]
            text = template_story(context_name="When the user is in distress", from_title=from_title,
                                  from_policies=from_policies, to_title=to_title, to_policies=to_policies)
            assert from_title in text and to_title in text
            assert to_policies[0].split(" ", 1)[1] in text, "written from the destination card's policies"
            assert from_policies[0].split(" ", 1)[1] in text, "and from the origin card's"
            used.add(template_index(context_name="When the user is in distress", from_title=from_title,
                                    to_title=to_title))
            texts.append(text)
    assert len(TEMPLATES) >= 3 and len(used) >= 3, "one context's stories use several templates"
    assert not any("With time I saw that this was only part of what mattered" in t for t in texts)


@pytest.mark.django_db
def test_the_vote_page_says_the_story_is_illustrative_and_which_direction_it_asks_about():
    round_, people = voting_round("vote-page-direction", people=4)
    person = people[0]
    story = graph_services.assignments_take(participant=person)[0]
    assert story.origin == TransitionStory.Origin.TEMPLATE
    client = Client()
    client.get("/")
    store = client.session
    store[session.KEY] = {str(round_.pk): person.pk}
    store.save()
    page = client.get(f"/r/{round_.slug}/vote/").content.decode()
    assert "Illustrative story" in page
    assert f"from “{story.from_value.title}” to “{story.to_value.title}”" in page

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Participant {participant_token(person)}")
    first = api.get(f"/api/v1/rounds/{round_.slug}/stories/assigned/").json()
    rows = first["results"] if isinstance(first, dict) else first
    assert rows[0]["illustrative"] is True and story.from_value.title in rows[0]["question"]
