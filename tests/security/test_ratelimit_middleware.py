"""Rate limits on joining, cards, chat turns and votes: per IP and per participant, 429 with Retry-After,
for the API and the pages alike, and exact under concurrency on Redis."""

import logging
import socket
import threading
import uuid

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import resolve

from config.rate_limits import ROUTES
from core.ratelimit import Rate, ratelimit_hits
from core.ratelimit_middleware import DEFAULT_RATES, RateLimitMiddleware, rate_limits
from deliberation.auth import participant_token
from tests.factories import join, make_round


def test_generous_defaults_for_every_limited_action():
    assert DEFAULT_RATES["vote:participant"] == "120/m" and DEFAULT_RATES["vote:ip"] == "600/m"
    assert DEFAULT_RATES["join:ip"] == "30/m"
    assert {scope for scope, _ in ROUTES.values()} == {"join", "card", "chat", "vote"}


def test_settings_override_single_rates(settings):
    settings.WISER_RATE_LIMITS = {"vote:ip": "5/s", "card:participant": None}
    rates = rate_limits()
    assert rates["vote:ip"] == "5/s" and rates["card:participant"] is None
    assert rates["join:ip"] == DEFAULT_RATES["join:ip"]


@pytest.mark.django_db
def test_api_joins_are_limited_per_ip_with_retry_after(settings):
    settings.WISER_RATE_LIMITS = {"join:ip": "3/m"}
    round_ = make_round(slug="rl-join")
    client = Client()
    body = {"token": round_.join_token, "consent": True}
    codes = [
        client.post("/api/v1/rounds/rl-join/join/", body, content_type="application/json").status_code
        for _ in range(3)
    ]
    assert codes == [201, 201, 201]
    refused = client.post("/api/v1/rounds/rl-join/join/", body, content_type="application/json")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["error"]["code"] == "rate_limited"
    # Another address is counted apart.
    other = client.post(
        "/api/v1/rounds/rl-join/join/", body, content_type="application/json", REMOTE_ADDR="10.0.0.9"
    )
    assert other.status_code == 201


@pytest.mark.django_db
def test_page_joins_are_limited_per_ip_with_the_error_page(settings):
    settings.WISER_RATE_LIMITS = {"join:ip": "2/m"}
    round_ = make_round(slug="rl-page")
    url = f"/r/rl-page/join/{round_.join_token}/"
    codes = [Client().post(url, {"consent": "yes"}).status_code for _ in range(3)]
    assert codes == [302, 302, 429]
    refused = Client().post(url, {"consent": "yes"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "try again" in refused.content.decode()
    # Reading the join page is never limited.
    assert Client().get(url).status_code == 200


@pytest.mark.django_db
def test_votes_are_limited_per_participant_across_addresses(settings):
    settings.WISER_RATE_LIMITS = {"vote:participant": "2/m", "vote:ip": None}
    round_ = make_round(slug="rl-vote")
    person = join(round_)
    auth = {"HTTP_AUTHORIZATION": f"Participant {participant_token(person)}"}
    codes = [
        Client()
        .post(
            "/api/v1/stories/999999/vote/",
            {"answer": "wiser"},
            content_type="application/json",
            REMOTE_ADDR=f"10.0.1.{i}",
            **auth,
        )
        .status_code
        for i in range(3)
    ]
    # The limit counts attempts before the view runs: a missing story is 404, the third attempt 429.
    assert codes == [404, 404, 429]
    # Someone else is not held back.
    stranger = join(round_)
    other = Client().post(
        "/api/v1/stories/999999/vote/",
        {"answer": "wiser"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Participant {participant_token(stranger)}",
    )
    assert other.status_code == 404


@pytest.mark.django_db
def test_page_votes_are_limited_per_session_participant(settings):
    settings.WISER_RATE_LIMITS = {"vote:participant": "1/m", "vote:ip": None}
    round_ = make_round(slug="rl-pv")
    client = Client()
    client.post(f"/r/rl-pv/join/{round_.join_token}/", {"consent": "yes"})
    first = client.post("/r/rl-pv/vote/", {"story": "1", "answer": "wiser"}, REMOTE_ADDR="10.0.2.1")
    second = client.post("/r/rl-pv/vote/", {"story": "1", "answer": "wiser"}, REMOTE_ADDR="10.0.2.2")
    assert first.status_code != 429 and second.status_code == 429


@pytest.mark.django_db
def test_card_posts_are_limited(settings):
    settings.WISER_RATE_LIMITS = {"card:ip": "1/m"}
    make_round(slug="rl-card")
    client = Client()
    assert (
        client.post("/api/v1/rounds/rl-card/cards/", {}, content_type="application/json").status_code == 403
    )
    assert (
        client.post("/api/v1/rounds/rl-card/cards/", {}, content_type="application/json").status_code == 429
    )
    # Reading cards is not a write and is not counted.
    assert client.get("/api/v1/rounds/rl-card/cards/").status_code == 403


def test_a_forged_participant_token_is_not_trusted_as_a_key():
    factory = RequestFactory()
    request = factory.post("/api/v1/stories/1/vote/", HTTP_AUTHORIZATION="Participant not-a-signed-token")
    from core.ratelimit_middleware import participant_id_of

    assert participant_id_of(request, {}) is None


def _limited_request(factory: RequestFactory, path: str, **extra):
    request = factory.post(path, **extra)
    request.resolver_match = resolve(path)
    return request


@pytest.mark.needs_redis
def test_exactly_the_limit_passes_under_concurrency_on_redis(redis_url):
    limit, attempts = 25, 80
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"test-rl-{uuid.uuid4().hex}",
        }
    }
    passed: list[int] = []
    refused: list[str] = []
    lock = threading.Lock()
    with override_settings(
        CACHES=caches, WISER_RATE_LIMITS={"vote:ip": f"{limit}/h", "vote:participant": None}
    ):
        middleware = RateLimitMiddleware(lambda request: HttpResponse("ok"))
        factory = RequestFactory()
        barrier = threading.Barrier(8)

        def fire(n: int) -> None:
            barrier.wait()
            for _ in range(n):
                request = _limited_request(factory, "/api/v1/stories/1/vote/", REMOTE_ADDR="10.9.9.9")
                response = middleware.process_view(request, None, (), {"story_id": 1})
                with lock:
                    if response is None:
                        passed.append(1)
                    else:
                        assert response.status_code == 429
                        refused.append(response["Retry-After"])

        threads = [threading.Thread(target=fire, args=(attempts // 8,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(passed) == limit
    assert len(refused) == attempts - limit
    assert all(int(seconds) >= 1 for seconds in refused)


@pytest.mark.needs_redis
@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_joins_through_the_whole_stack_stop_at_the_limit(redis_url):
    limit, attempts = 6, 16
    round_ = make_round(slug="rl-concurrent")
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"test-rl-{uuid.uuid4().hex}",
        }
    }
    codes: list[int] = []
    lock = threading.Lock()
    with override_settings(CACHES=caches, WISER_RATE_LIMITS={"join:ip": f"{limit}/h"}):
        barrier = threading.Barrier(4)

        def fire() -> None:
            from django.db import connection

            client = Client()
            barrier.wait()
            try:
                for _ in range(attempts // 4):
                    response = client.post(
                        "/api/v1/rounds/rl-concurrent/join/",
                        {"token": round_.join_token, "consent": True},
                        content_type="application/json",
                    )
                    with lock:
                        codes.append(response.status_code)
            finally:
                connection.close()

        threads = [threading.Thread(target=fire) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(codes) == [201] * limit + [429] * (attempts - limit)
    assert round_.participants.count() == limit


def test_an_unreachable_redis_lets_the_request_through_and_says_so(caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nobody listens there
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }
    with (
        override_settings(CACHES=caches),
        caplog.at_level(logging.WARNING, logger="core.ratelimit_middleware"),
    ):
        middleware = RateLimitMiddleware(lambda request: HttpResponse("ok"))
        request = _limited_request(RequestFactory(), "/api/v1/stories/1/vote/", REMOTE_ADDR="10.9.9.8")
        assert middleware.process_view(request, None, (), {"story_id": 1}) is None
    assert "rate limiter unavailable; letting a vote request through" in caplog.text


@pytest.mark.needs_redis
def test_counters_on_redis_expire_after_their_window(redis_url):
    import redis

    prefix = f"test-rl-{uuid.uuid4().hex}"
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": prefix,
        }
    }
    client = redis.Redis.from_url(redis_url)
    with override_settings(CACHES=caches):
        hits = [("ttl", "ip:1", Rate(5, 60)), ("ttl", "participant:1", Rate(5, 3600))]
        assert ratelimit_hits(hits, now=1000.0) == [1, 1]
        keys = sorted(client.keys(f"{prefix}:*"), key=lambda key: client.ttl(key))
        assert len(keys) == 2
        assert 0 < client.ttl(keys[0]) <= 61 and 3540 < client.ttl(keys[1]) <= 3601
        # A counter left without an expiry (written by hand, or before a crash) gets one on its next hit.
        client.persist(keys[0])
        assert ratelimit_hits(hits[:1], now=1000.0) == [2]
        assert 0 < client.ttl(keys[0]) <= 61
        client.delete(*keys)
