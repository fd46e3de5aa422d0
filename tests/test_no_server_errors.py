"""Inputs that once caused a 500 (issue 15): each now gets a 4xx with the one error body.

The cases found by real clients (schemathesis, curl) against PostgreSQL; the PostgreSQL-specific ones are marked.
"""

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from deliberation.auth import participant_token
from moral_graph import services
from tests.factories import UserFactory, voting_round

pytestmark = pytest.mark.django_db


def _error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture
def world():
    round_, people = voting_round("no-500", people=3)
    owner = Client(raise_request_exception=False)
    owner.force_login(round_.roles.get().user)
    return round_, people, owner


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_json_nested_deeper_than_the_parser_can_go_is_a_400(world, opener):
    round_, people, owner = world
    closer = "]" if opener == "[" else "}"
    body = opener * 50_000 + "1" + closer * 50_000
    voter = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Participant {participant_token(people[0])}")
    story = services.assignments_take(participant=people[0])[0]
    for client, url in (
        (voter, f"/api/v1/stories/{story.pk}/vote/"),
        (Client(raise_request_exception=False), f"/api/v1/rounds/{round_.slug}/join/"),
        (owner, f"/api/v1/rounds/{round_.slug}/guidance/"),
    ):
        error = _error(client.post(url, body, content_type="application/json"), 400, "parse_error")
        assert "nested too deeply" in error["message"]


@pytest.mark.needs_postgres
def test_an_overlong_username_is_refused_on_the_token_endpoint_and_the_sign_in_page():
    # django-axes records a failed attempt's username in a varchar(255): PostgreSQL refused it (DataError, 500).
    UserFactory(username="real-user")
    for username in ("u" * 300, "u" * 151, "a\x00b" * 100):
        error = _error(
            APIClient().post("/api/v1/auth/token/", {"username": username, "password": "x"}, format="json"),
            400,
            "invalid",
        )
        assert "username" in error["fields"]
        page = Client(raise_request_exception=False).post("/login/", {"username": username, "password": "x"})
        assert page.status_code == 400, page.status_code
    # The admin's sign-in form (another path through axes) re-renders with its error, no 500.
    admin = Client(raise_request_exception=False).post(
        "/admin/login/", {"username": "u" * 300, "password": "x"}
    )
    assert admin.status_code == 200
    wrong = Client(raise_request_exception=False).post("/login/", {"username": "real-user", "password": "x"})
    assert wrong.status_code == 200, "a wrong password is the form again, not bad input"


@pytest.mark.needs_postgres
def test_a_nul_byte_in_a_filter_is_a_400(world):
    round_, _people, owner = world
    for query in ("participant=a%00b", "status=%00", "context=1%00", "a%00b=1"):
        for path in ("votes", "participants", "cards"):
            _error(owner.get(f"/api/v1/rounds/{round_.slug}/{path}/?{query}"), 400, "invalid")
    page = owner.get(f"/console/{round_.slug}/live/?q=%00")
    assert page.status_code == 400


def test_a_20_megabyte_body_gets_the_json_error_body(world):
    round_, people, owner = world
    body = "x" * 20_000_000
    _error(owner.post(f"/api/v1/rounds/{round_.slug}/guidance/", body, content_type="application/json"), 413)
    voter = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Participant {participant_token(people[0])}")
    _error(voter.post("/api/v1/stories/1/vote/", body, content_type="application/json"), 413, "too_large")


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=-1", "limit=%00", "limit=abc", "limit=%C2%B2", "offset=-1", "offset=x"]
)
def test_a_bad_limit_or_offset_is_a_400_like_every_bad_filter(world, query):
    round_, _people, owner = world
    error = _error(owner.get(f"/api/v1/rounds/{round_.slug}/participants/?{query}"), 400, "invalid")
    assert set(error["fields"]) <= {"limit", "offset", "limit\\0", "offset\\0"}
    assert owner.get(f"/api/v1/rounds/{round_.slug}/participants/?limit=1&offset=1").status_code == 200


def test_the_report_values_parameter_matches_its_schema(world):
    round_, _people, owner = world
    services.ranking_compute(round_id=round_.pk)
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    parameters = schema["paths"]["/api/v1/rounds/{slug}/report/"]["get"]["parameters"]
    pattern = next(p for p in parameters if p["name"] == "values")["schema"]["pattern"]
    for raw in ("0", "00", "1", "007", "all", "12", "²", "-1", "1.5", "", "ALL"):
        allowed = re.search(pattern, raw) is not None
        status = owner.get(f"/api/v1/rounds/{round_.slug}/report/", {"values": raw}).status_code
        expected = 200 if allowed or raw == "" else 400
        assert status == expected, (raw, allowed, status)


def test_the_schema_documents_414_413_and_503():
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert "414" in operation["responses"], (method, path)
            assert "503" in operation["responses"], (method, path)
            if method != "get":
                assert "413" in operation["responses"], (method, path)


def test_a_deleted_participant_s_token_gets_the_same_answer_on_me_and_on_a_vote(world):
    round_, people, _owner = world
    person = people[0]
    story = services.assignments_take(participant=person)[0]
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Participant {participant_token(person)}")
    person.delete()
    me = client.get(f"/api/v1/rounds/{round_.slug}/me/")
    vote = client.post(f"/api/v1/stories/{story.pk}/vote/", {"answer": "wiser"}, content_type="application/json")
    assert _error(me, 401, "authentication_failed") == _error(vote, 401, "authentication_failed")
    assert me["WWW-Authenticate"] == vote["WWW-Authenticate"] == "Participant"
