"""The OpenAPI schema generates without warnings; tokens, pagination, filters and error bodies of the API."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from deliberation.auth import participant_token
from tests.factories import UserFactory, join, make_round, submit


@pytest.mark.django_db
def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    text = out.read_text()
    for name in ("participantToken", "tokenAuth", "cookieAuth", "PaginatedOrganizerParticipantOutList"):
        assert name in text, name


@pytest.mark.django_db
def test_the_schema_and_its_interactive_docs_are_served():
    client = APIClient()
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and "/api/v1/rounds/{slug}/report/" in schema.json()["paths"]
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"http://" not in docs.content and b"https://" not in docs.content, "no external host: served locally"
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200 and b"/api/v1/schema/" in script.content


@pytest.mark.django_db
def test_an_organizer_gets_a_token_and_uses_it_and_guessing_is_rate_limited():
    user = UserFactory(username="api-user")
    user.set_password("right-password-1")
    user.save()
    make_round(slug="token-round", owner=user)
    client = APIClient()
    token = client.post(
        "/api/v1/auth/token/", {"username": "api-user", "password": "right-password-1"}, format="json"
    )
    assert token.status_code == 200
    again = client.post(
        "/api/v1/auth/token/", {"username": "api-user", "password": "right-password-1"}, format="json"
    )
    assert again.json()["token"] == token.json()["token"], "one token per organizer"
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    rounds = client.get("/api/v1/rounds/")
    assert rounds.status_code == 200 and [r["slug"] for r in rounds.json()["results"]] == ["token-round"]
    wrong = APIClient().post(
        "/api/v1/auth/token/", {"username": "api-user", "password": "nope"}, format="json"
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid"
    statuses = [
        APIClient()
        .post("/api/v1/auth/token/", {"username": "api-user", "password": "nope"}, format="json")
        .status_code
        for _ in range(12)
    ]
    assert statuses[-1] == 429 and 429 in statuses
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert bad.get("/api/v1/rounds/").status_code in (401, 403)


@pytest.mark.django_db
def test_lists_paginate_and_filter_and_refuse_bad_filters_with_the_error_body():
    round_ = make_round(slug="lists")
    owner = APIClient()
    owner.force_authenticate(round_.roles.get().user)
    people = [join(round_, party="Left") for _ in range(3)]
    for person, family in zip(people, ("autonomy", "safety", "honesty"), strict=True):
        submit(person, family=family)
    contexts = list(round_.questions.first().contexts.order_by("order"))
    submit(people[0], family="community", context_index=1)

    page = owner.get("/api/v1/rounds/lists/participants/?limit=2")
    assert page.status_code == 200
    body = page.json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert set(body["results"][0]) == {
        "pseudonym",
        "attributes",
        "joined_at",
        "finished_at",
        "eval_represented",
        "eval_fair",
        "is_simulated",
        "cards",
        "votes",
    }, "no account, resume token or other personal data"
    assert owner.get("/api/v1/rounds/lists/participants/?status=finished").json()["count"] == 0
    cards = owner.get(f"/api/v1/rounds/lists/cards/?context={contexts[1].pk}").json()
    assert cards["count"] == 1 and cards["results"][0]["title"] == "Staying connected"
    assert owner.get("/api/v1/rounds/lists/values/").json()["count"] >= 3
    bad = owner.get("/api/v1/rounds/lists/cards/?context=abc")
    assert bad.status_code == 400
    assert bad.json() == {
        "error": {
            "code": "invalid",
            "message": "Some fields need attention.",
            "fields": {"context": ["A whole number."]},
        }
    }
    assert owner.get("/api/v1/rounds/lists/participants/?status=gone").status_code == 400

    mine = APIClient()
    mine.credentials(HTTP_AUTHORIZATION=f"Participant {participant_token(people[0])}")
    own = mine.get("/api/v1/rounds/lists/cards/").json()
    assert own["count"] == 2, "a participant lists only their own cards"
    assert mine.get("/api/v1/rounds/lists/participants/").status_code == 403
    assert owner.get("/api/v1/rounds/no-such-round/participants/").status_code == 404
