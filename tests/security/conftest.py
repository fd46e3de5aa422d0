"""Fixtures of the security tests: a private cache per test, a round in voting with votes, people in every role."""

import uuid
from dataclasses import dataclass

import pytest
from django.test import Client
from rest_framework.test import APIClient

from deliberation.auth import participant_token
from deliberation.models import OrganizerRole, Participant, Round, Stage
from frontend import session
from moral_graph import services as graph_services
from tests.factories import UserFactory, grant, join, make_round, submit

FAMILIES = ("autonomy", "safety", "honesty", "community")


@pytest.fixture(autouse=True)
def _private_cache(settings):
    # Rate-limit counters never leak between tests, and a shared Redis is never touched.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


@dataclass
class World:
    """A round in voting with four participants who each wrote a card and voted, and another round."""

    round: Round
    other_round: Round
    participants: list[Participant]
    outsider: Participant
    users: dict[str, object]

    def page_client(self, role: str) -> Client:
        """A browser acting in the given role (anonymous, participant, other_participant, viewer, moderator, owner)."""
        client = Client()
        if role in self.users:
            client.force_login(self.users[role])
        elif role == "participant":
            _remember(client, self.participants[0])
        elif role == "other_participant":
            _remember(client, self.outsider)
        return client

    def api_client(self, participant: Participant | None = None) -> APIClient:
        """An API client with the participant's token (none: anonymous)."""
        client = APIClient()
        if participant is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Participant {participant_token(participant)}")
        return client


def _remember(client: Client, participant: Participant) -> None:
    store = client.session
    store[session.KEY] = {str(participant.round_id): participant.pk}
    store.save()


def build_world(*, slug: str = "sec", ranked: bool = True, **round_settings) -> World:
    """Seed a voting round through the services: cards, values, stories, votes and (optionally) a ranking."""
    owner = UserFactory(username=f"owner-{slug}")
    round_ = make_round(
        owner=owner, slug=slug, stories_per_participant=4, min_votes_per_story=1, **round_settings
    )
    people = [join(round_, party=party) for party in ("Left", "Right", "Other", "Left")]
    for person, family in zip(people, FAMILIES, strict=True):
        submit(person, family=family)
    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    round_.refresh_from_db()
    graph_services.stories_generate(round_id=round_.pk)
    for person in people:
        for story in graph_services.assignments_take(participant=person):
            graph_services.vote_cast(participant=person, story_id=story.pk, answer="wiser")
    if ranked:
        graph_services.ranking_compute(round_id=round_.pk)
    other = make_round(slug=f"{slug}-other")
    outsider = join(other)
    users = {"owner": owner}
    for role in (OrganizerRole.Role.VIEWER, OrganizerRole.Role.MODERATOR):
        user = UserFactory(username=f"{role}-{slug}")
        grant(round_, user, role)
        users[str(role)] = user
    round_.refresh_from_db()
    return World(round=round_, other_round=other, participants=people, outsider=outsider, users=users)
