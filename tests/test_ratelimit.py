"""The fixed-window rate limiter: counting, windows, Retry-After, keys per IP and participant, Redis atomicity."""

import threading
import uuid

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from core.ratelimit import (
    Rate,
    RateLimited,
    client_ip,
    parse_rate,
    rate_for,
    ratelimit_hit,
    ratelimit_request,
)


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    # A private local-memory cache per test: counters never leak between tests, and a shared Redis is never flushed.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30/m", Rate(30, 60)),
        ("30/minute", Rate(30, 60)),
        ("100/h", Rate(100, 3600)),
        ("5/10s", Rate(5, 10)),
        ("1/day", Rate(1, 86400)),
        (" 7 / 2 minutes ", Rate(7, 120)),
    ],
)
def test_parse_rate_reads_the_usual_spellings(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["", "30", "30/fortnight", "x/m", "3/0s"])
def test_parse_rate_refuses_nonsense(text):
    with pytest.raises(ValueError, match="not a rate"):
        parse_rate(text)


def test_rates_come_from_settings_over_the_defaults(settings):
    assert rate_for("guidance") == Rate(30, 60)
    settings.WISER_RATE_LIMITS = {"guidance": "2/s", "other": None}
    assert rate_for("guidance") == Rate(2, 1)
    assert rate_for("other") is None
    assert rate_for("never-configured") is None


def test_the_limit_holds_within_a_window_and_resets_in_the_next():
    rate = Rate(limit=3, window=60)
    # The window [120, 180) in seconds since the epoch.
    assert [ratelimit_hit(scope="s", key="ip:1", rate=rate, now=140.0 + i) for i in range(3)] == [1, 2, 3]
    with pytest.raises(RateLimited) as refused:
        ratelimit_hit(scope="s", key="ip:1", rate=rate, now=150.5)
    assert refused.value.status == 429 and refused.value.code == "rate_limited"
    assert refused.value.retry_after == 30
    assert "at most 3 per 60 seconds" in refused.value.message
    assert ratelimit_hit(scope="s", key="ip:1", rate=rate, now=180.1) == 1


def test_keys_and_scopes_are_counted_apart():
    rate = Rate(limit=1, window=60)
    ratelimit_hit(scope="a", key="ip:1", rate=rate, now=100.0)
    assert ratelimit_hit(scope="a", key="ip:2", rate=rate, now=100.0) == 1
    assert ratelimit_hit(scope="b", key="ip:1", rate=rate, now=100.0) == 1
    with pytest.raises(RateLimited):
        ratelimit_hit(scope="a", key="ip:1", rate=rate, now=101.0)


def test_retry_after_is_at_least_one_second_at_the_very_end_of_a_window():
    rate = Rate(limit=0, window=10)
    with pytest.raises(RateLimited) as refused:
        ratelimit_hit(scope="s", key="k", rate=rate, now=19.9999)
    assert refused.value.retry_after == 1


class _SpyCache:
    """The real cache, recording the keys it is given; optionally losing a counter right before its first incr."""

    def __init__(self, lose_first_counter: bool = False):
        self.keys: list[str] = []
        self.lose_first_counter = lose_first_counter

    def add(self, key, value, timeout):
        self.keys.append(key)
        return cache.add(key, value, timeout)

    def incr(self, key):
        if self.lose_first_counter:
            self.lose_first_counter = False
            cache.delete(key)
        return cache.incr(key)


def test_a_counter_that_vanished_between_add_and_incr_starts_again(monkeypatch):
    monkeypatch.setattr("core.ratelimit.cache", _SpyCache(lose_first_counter=True))
    assert ratelimit_hit(scope="s", key="k", rate=Rate(5, 60), now=5.0) == 1
    assert ratelimit_hit(scope="s", key="k", rate=Rate(5, 60), now=6.0) == 2


def test_cache_keys_hold_no_raw_address(monkeypatch):
    spy = _SpyCache()
    monkeypatch.setattr("core.ratelimit.cache", spy)
    ratelimit_hit(scope="s", key="ip:203.0.113.9", rate=Rate(5, 60), now=5.0)
    assert spy.keys and all("203.0.113.9" not in key for key in spy.keys)


def test_client_ip_trusts_forwarded_for_only_behind_configured_proxies(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")
    assert client_ip(request) == "10.0.0.2"
    settings.WISER_TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "198.51.100.7"
    settings.WISER_TRUSTED_PROXY_COUNT = 2
    assert client_ip(request) == "6.6.6.6"
    settings.WISER_TRUSTED_PROXY_COUNT = 3
    assert client_ip(request) == "10.0.0.2"


def test_a_request_counts_per_ip_and_per_participant():
    factory = RequestFactory()
    rate = Rate(limit=2, window=60)
    first, second = factory.get("/", REMOTE_ADDR="192.0.2.1"), factory.get("/", REMOTE_ADDR="192.0.2.2")
    ratelimit_request(first, scope="g", participant_id=7, rate=rate)
    ratelimit_request(second, scope="g", participant_id=7, rate=rate)
    # A third address is fresh, but participant 7 has used up the window from two addresses.
    with pytest.raises(RateLimited):
        ratelimit_request(factory.get("/", REMOTE_ADDR="192.0.2.3"), scope="g", participant_id=7, rate=rate)
    ratelimit_request(factory.get("/", REMOTE_ADDR="192.0.2.3"), scope="g", rate=rate)


def test_an_unlimited_scope_is_never_refused(settings):
    settings.WISER_RATE_LIMITS = {"guidance": None}
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1")
    for _ in range(50):
        ratelimit_request(request, scope="guidance")


@pytest.mark.needs_redis
def test_concurrent_hits_on_redis_are_counted_exactly(settings, redis_url):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"test-ratelimit-{uuid.uuid4().hex}",
        }
    }
    rate = Rate(limit=25, window=3600)
    allowed, refused = [], []
    lock = threading.Lock()

    def worker():
        for _ in range(10):
            try:
                ratelimit_hit(scope="race", key="ip:1", rate=rate, now=1000.0)
                outcome = allowed
            except RateLimited:
                outcome = refused
            with lock:
                outcome.append(1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(allowed), len(refused)) == (25, 15)


def test_sign_in_lockouts_use_the_same_client_address_as_the_rate_limits(settings):
    from axes.helpers import get_client_ip_address

    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")
    for proxies in (0, 1, 2, 3):
        settings.WISER_TRUSTED_PROXY_COUNT = proxies
        assert get_client_ip_address(request) == client_ip(request)
    settings.WISER_TRUSTED_PROXY_COUNT = 1
    assert get_client_ip_address(request) == "198.51.100.7"  # the address our proxy saw, never the forged one
    bare = RequestFactory().get("/")
    del bare.META["REMOTE_ADDR"]
    assert client_ip(bare) == "unknown" and get_client_ip_address(bare) is None  # axes stores NULL, not "unknown"
