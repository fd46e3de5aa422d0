"""Every endpoint of the OpenAPI schema, called by each of six roles: the status is what the role matrix says.

The matrix is documented in docs/api.md. Each request runs in a savepoint that is rolled back, so every role
meets the same round: in the voting stage, report private, with a participant who has a card, a vote and a
story still to vote on.
"""

import re

import pytest
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cards.models import ArticulationSession
from deliberation.auth import participant_token
from deliberation.models import Round, Stage
from moral_graph import services as graph_services
from moral_graph.models import WiserVote
from tests.factories import UserFactory, grant, join, make_round, submit

ROLES = ("anonymous", "participant", "other_participant", "viewer", "moderator", "owner")
ORGANIZERS = ("viewer", "moderator", "owner")


def _only(allowed: dict[str, int], denied: int = 403) -> dict[str, int]:
    return {role: allowed.get(role, denied) for role in ROLES}


EVERYONE = dict.fromkeys(ROLES, 200)
VIEWER_UP = _only(dict.fromkeys(ORGANIZERS, 200))
PARTICIPANT = _only({"participant": 200})
SIGNED_IN = _only(dict.fromkeys(ORGANIZERS, 200))
CARD = {
    "title": "Room to decide",
    "description": "Giving her the space to reach her own decision.",
    "policies": [
        "CHOICES she can see for herself",
        "MOMENTS of quiet to think",
        "QUESTIONS that open options",
    ],
}

# (method, path in the schema) -> (request body, expected status per role).
MATRIX: dict[tuple[str, str], tuple[dict | None, dict[str, int]]] = {
    ("post", "/api/v1/auth/token/"): ({"username": "{viewer}", "password": "pw-viewer-123"}, EVERYONE),
    ("get", "/api/v1/rounds/"): (None, SIGNED_IN),
    ("post", "/api/v1/rounds/"): (
        {"slug": "created", "title": "A new round", "question": "What matters?", "contexts": ["In a hurry"]},
        _only(dict.fromkeys(ORGANIZERS, 201)),
    ),
    ("get", "/api/v1/rounds/{slug}/"): (None, EVERYONE),
    ("patch", "/api/v1/rounds/{slug}/"): ({"title": "Renamed"}, _only({"owner": 200})),
    ("post", "/api/v1/rounds/{slug}/stage/"): ({"stage": "closed"}, _only({"owner": 200})),
    # Round structure (docs/pages.md): owners only; this round is voting and people joined it, so adding a
    # question or removing a context with cards answers 409, and a delete without its confirmation 400.
    ("post", "/api/v1/rounds/{slug}/archive/"): ({"archived": True}, _only({"owner": 200})),
    ("delete", "/api/v1/rounds/{slug}/"): (None, _only({"owner": 400})),
    ("get", "/api/v1/rounds/{slug}/questions/"): (None, EVERYONE),
    ("post", "/api/v1/rounds/{slug}/questions/"): (
        {"text": "What else should the assistant weigh?", "contexts": ["When time is short"]},
        _only({"owner": 409}),
    ),
    ("delete", "/api/v1/rounds/{slug}/contexts/{context_id}/"): (None, _only({"owner": 409})),
    ("get", "/api/v1/rounds/{slug}/contexts/"): (None, EVERYONE),
    ("get", "/api/v1/rounds/{slug}/participants/"): (None, VIEWER_UP),
    ("post", "/api/v1/rounds/{slug}/join/"): (
        {"token": "{join_token}", "consent": True},
        dict.fromkeys(ROLES, 201),
    ),
    ("get", "/api/v1/rounds/{slug}/me/"): (None, PARTICIPANT),
    # Privacy: a participant downloads or deletes their own data, and nobody else's.
    ("get", "/api/v1/rounds/{slug}/me/data/"): (None, PARTICIPANT),
    ("delete", "/api/v1/rounds/{slug}/me/"): (None, _only({"participant": 204})),
    ("post", "/api/v1/rounds/{slug}/me/finish/"): ({"represented": 4, "fair": 5}, PARTICIPANT),
    ("get", "/api/v1/rounds/{slug}/cards/"): (
        None,
        _only({"participant": 200, **dict.fromkeys(ORGANIZERS, 200)}),
    ),
    ("post", "/api/v1/rounds/{slug}/cards/"): (
        {**CARD, "context": "{context_id}"},
        _only({"participant": 201}),
    ),
    ("get", "/api/v1/cards/{card_id}/"): (None, PARTICIPANT),
    # The author may edit, but not once voting has started (docs/decisions.md 1): 400 with the reason.
    ("put", "/api/v1/cards/{card_id}/"): ({**CARD, "context": "{context_id}"}, _only({"participant": 400})),
    ("post", "/api/v1/cards/{card_id}/confirm/"): ({"answer": "same"}, PARTICIPANT),
    ("get", "/api/v1/rounds/{slug}/stories/assigned/"): (None, PARTICIPANT),
    ("post", "/api/v1/rounds/{slug}/stories/assigned/"): ({}, PARTICIPANT),
    ("post", "/api/v1/stories/{story_id}/vote/"): ({"answer": "wiser"}, _only({"participant": 201})),
    ("get", "/api/v1/votes/{vote_id}/"): (None, PARTICIPANT),
    ("patch", "/api/v1/votes/{vote_id}/"): ({"answer": "not_sure"}, PARTICIPANT),
    ("get", "/api/v1/rounds/{slug}/values/"): (
        None,
        _only({"participant": 200, **dict.fromkeys(ORGANIZERS, 200)}),
    ),
    ("get", "/api/v1/values/{value_id}/"): (
        None,
        _only({"participant": 200, **dict.fromkeys(ORGANIZERS, 200)}, denied=404),
    ),
    ("get", "/api/v1/rounds/{slug}/stories/"): (None, VIEWER_UP),
    ("get", "/api/v1/rounds/{slug}/votes/"): (None, VIEWER_UP),
    ("post", "/api/v1/rounds/{slug}/rank/"): ({}, _only({"moderator": 202, "owner": 202})),
    ("get", "/api/v1/rounds/{slug}/rankings/"): (None, VIEWER_UP),
    ("get", "/api/v1/rounds/{slug}/rankings/{run_id}/"): (None, VIEWER_UP),
    # Publishing another run revises a published round's result: the owner's act, refused while voting.
    ("post", "/api/v1/rounds/{slug}/rankings/{run_id}/publish/"): ({"reason": "Fixed a merge."}, _only({"owner": 409})),
    ("get", "/api/v1/rounds/{slug}/report/"): (None, VIEWER_UP),
    ("get", "/api/v1/rounds/{slug}/exports/{kind}/"): (None, VIEWER_UP),
    # Organizers may ask, but guidance needs published (or live) results: 409 while voting.
    ("post", "/api/v1/rounds/{slug}/guidance/"): (
        {"situation": "A girl tells the assistant she is pregnant and scared of what her parents will say."},
        _only(dict.fromkeys(ORGANIZERS, 409)),
    ),
    # The articulation chat is the participant's own; with no model configured a turn answers with a fault
    # message (200) and a draft cannot be made (400), while confirming a typed card still works.
    ("post", "/api/v1/rounds/{slug}/articulation/"): ({}, PARTICIPANT),
    ("get", "/api/v1/articulation/{session_id}/"): (None, PARTICIPANT),
    ("post", "/api/v1/articulation/{session_id}/turn/"): ({"message": "Her own choice matters."}, PARTICIPANT),
    ("post", "/api/v1/articulation/{session_id}/draft/"): ({}, _only({"participant": 400})),
    ("post", "/api/v1/articulation/{session_id}/confirm/"): (
        {**CARD, "context": "{context_id}"},
        _only({"participant": 201}),
    ),
}


def schema_operations() -> list[tuple[str, str]]:
    """Every (method, path) of the generated OpenAPI schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    methods = {"get", "post", "put", "patch", "delete"}
    return sorted(
        (method, path) for path, item in schema["paths"].items() for method in item if method in methods
    )


@pytest.fixture
def world(db):
    round_ = make_round(slug="roles", stories_per_participant=3, min_votes_per_story=1)
    people = [join(round_, party=p) for p in ("Left", "Right", "Other")]
    for person, family in zip(people, ("autonomy", "safety", "honesty"), strict=True):
        submit(person, family=family)
    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    graph_services.stories_generate(round_id=round_.pk)
    participant = people[0].__class__.objects.select_related("round").get(pk=people[0].pk)
    stories = graph_services.assignments_take(participant=participant)
    assert len(stories) >= 2, "the participant needs one voted and one open story"
    vote, _ = graph_services.vote_cast(participant=participant, story_id=stories[0].pk, answer="wiser")
    for other in people[1:]:
        other = other.__class__.objects.select_related("round").get(pk=other.pk)
        for story in graph_services.assignments_take(participant=other):
            graph_services.vote_cast(participant=other, story_id=story.pk, answer="wiser")
    run = graph_services.ranking_compute(round_id=round_.pk)
    elsewhere = make_round(slug="elsewhere")
    outsider = join(elsewhere)
    clients = {"anonymous": APIClient()}
    for name, person in (("participant", participant), ("other_participant", outsider)):
        clients[name] = APIClient()
        clients[name].credentials(HTTP_AUTHORIZATION=f"Participant {participant_token(person)}")
    users = {"owner": round_.roles.get().user}
    for role in ("viewer", "moderator"):
        users[role] = UserFactory(username=f"{role}-of-roles")
        grant(round_, users[role], role)
    for role, user in users.items():
        user.set_password(f"pw-{role}-123")
        user.save()
        clients[role] = APIClient()
        clients[role].credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    round_.refresh_from_db()
    card = participant.cards.get()
    values = {
        "slug": round_.slug,
        "card_id": card.pk,
        "story_id": stories[1].pk,
        "vote_id": vote.pk,
        "value_id": card.merges.get(undone_at__isnull=True).value_id,
        "run_id": run.pk,
        "kind": "json",
        "context_id": card.context_id,
        "join_token": round_.join_token,
        "viewer": users["viewer"].username,
    }
    session = ArticulationSession.objects.create(participant=participant, context_id=card.context_id)
    values["session_id"] = session.pk
    assert WiserVote.objects.filter(participant=participant).count() == 1
    return clients, values


class _Rollback(Exception):
    pass


def _fill(value, values: dict):
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, str):
        whole = re.fullmatch(r"\{(\w+)\}", value)
        if whole:
            return values[whole.group(1)]
        return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), value)
    return value


def _call(client: APIClient, method: str, path: str, body):
    response = None
    try:
        with transaction.atomic():
            response = (
                getattr(client, method)(path, body, format="json")
                if body is not None
                else getattr(client, method)(path)
            )
            raise _Rollback
    except _Rollback:
        pass
    return response


def test_the_matrix_covers_every_endpoint_of_the_schema():
    operations = schema_operations()
    assert operations, "the schema lists endpoints"
    assert set(operations) == set(MATRIX), (
        f"missing rows: {sorted(set(operations) - set(MATRIX))}; stale rows: {sorted(set(MATRIX) - set(operations))}"
    )


def test_every_role_gets_the_status_the_matrix_gives_on_every_endpoint(world):
    clients, values = world
    failures = []
    for method, path in schema_operations():
        body, expected = MATRIX[(method, path)]
        url = _fill(path, values)
        for role in ROLES:
            response = _call(clients[role], method, url, _fill(body, values))
            assert response.status_code < 500, f"{method.upper()} {url} as {role}: {response.status_code}"
            if response.status_code != expected[role]:
                failures.append(
                    f"{method.upper()} {url} as {role}: {response.status_code}, expected {expected[role]}: "
                    f"{response.content[:200]!r}"
                )
            if response.status_code >= 400:
                error = response.json()["error"]
                assert set(error) == {"code", "message", "fields"}, (method, url, role, error)
    assert not failures, "\n".join(failures)
