"""A real Redis stopped under the API: 503 with the error body where Redis is needed, success where work can wait.

The cache (and with it the rate limiter's counters) and Celery's broker point at a private redis-server, which the
test kills; nothing is swapped for an in-process stand-in, so the clients meet a refused connection as they would
in production.
"""

import pytest
from django.core.cache import cache
from django.test import Client

from deliberation.auth import participant_token
from moral_graph import services
from tests.factories import voting_round
from tests.reliability.conftest import broker

pytestmark = [
    pytest.mark.needs_redis,
    pytest.mark.needs_postgres,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def redis_stopped(private_redis, settings):
    """Cache, rate limiter and broker on the private Redis, which is then killed."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": private_redis.url}
    }
    with broker(private_redis.url):
        cache.set("probe", 1)
        assert cache.get("probe") == 1, "the cache really is the private Redis"
        private_redis.stop()
        yield


def _unavailable(response) -> None:
    assert response.status_code == 503, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "unavailable"
    assert set(response.json()["error"]) == {"code", "message", "fields"}
    assert int(response["Retry-After"]) > 0


def test_views_that_need_redis_answer_503_with_the_error_body(redis_stopped):
    round_, _people = voting_round("redis-503", people=3)
    round_.report_live = True  # guidance is open while voting
    round_.save(update_fields=["report_live"])
    client = Client(raise_request_exception=False)
    _unavailable(
        client.post(
            "/api/v1/auth/token/", {"username": "someone", "password": "x"}, content_type="application/json"
        )
    )
    owner = Client(raise_request_exception=False)
    owner.force_login(round_.roles.get().user)
    _unavailable(
        owner.post(
            f"/api/v1/rounds/{round_.slug}/guidance/", {"situation": "A hard day."}, content_type="application/json"
        )
    )
    page = owner.post(f"/r/{round_.slug}/report/guidance/", {"situation": "A hard day."})
    assert page.status_code == 503 and page["Retry-After"], page.status_code


def test_work_that_can_wait_succeeds_while_redis_is_down(redis_stopped, caplog):
    round_, people = voting_round("redis-wait", people=3)
    owner = Client(raise_request_exception=False)
    owner.force_login(round_.roles.get().user)
    rank = owner.post(f"/api/v1/rounds/{round_.slug}/rank/", {}, content_type="application/json")
    assert rank.status_code == 202, rank.content
    assert "could not enqueue moral_graph.tasks.rank_round" in caplog.text
    person = people[0]
    voter = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Participant {participant_token(person)}")
    story = services.assignments_take(participant=person)[0]
    vote = voter.post(f"/api/v1/stories/{story.pk}/vote/", {"answer": "wiser"}, content_type="application/json")
    assert vote.status_code == 201, vote.content
    joined = Client(raise_request_exception=False).post(
        f"/api/v1/rounds/{round_.slug}/join/", {"token": round_.join_token, "consent": True}, content_type="application/json"
    )
    assert joined.status_code == 201, joined.content


def test_no_api_read_or_page_answers_500_while_redis_is_down(redis_stopped):
    round_, people = voting_round("redis-reads", people=3)
    owner = Client(raise_request_exception=False)
    owner.force_login(round_.roles.get().user)
    participant = Client(
        raise_request_exception=False, HTTP_AUTHORIZATION=f"Participant {participant_token(people[0])}"
    )
    slug = round_.slug
    api = [
        "/api/v1/rounds/",
        f"/api/v1/rounds/{slug}/",
        f"/api/v1/rounds/{slug}/report/",
        f"/api/v1/rounds/{slug}/participants/",
        f"/api/v1/rounds/{slug}/cards/",
        f"/api/v1/rounds/{slug}/values/",
        f"/api/v1/rounds/{slug}/votes/",
        f"/api/v1/rounds/{slug}/me/",
        f"/api/v1/rounds/{slug}/stories/assigned/",
    ]
    pages = ["/", "/login/", f"/r/{slug}/", f"/r/{slug}/report/", "/console/", f"/console/{slug}/live/"]
    for client in (owner, participant, Client(raise_request_exception=False)):
        for url in api:
            response = client.get(url)
            assert response.status_code < 500 or response.status_code == 503, (url, response.status_code)
            assert response["Content-Type"] == "application/json", url
            if response.status_code == 503:
                _unavailable(response)
        for url in pages:
            response = client.get(url)
            assert response.status_code < 500 or response.status_code == 503, (url, response.status_code)
