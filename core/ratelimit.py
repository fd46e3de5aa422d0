"""Fixed-window rate limits per client IP and per participant, counted in Redis when the cache is Redis.

Each (scope, who, window) has one counter. On Redis (the production cache) one Lua script raises every counter
of a request and sets their expiry in a single round trip, atomically, through one client per process (built
once: Django's cache backend builds a client object per call, about 0.3 ms each), with short socket timeouts
so an unreachable Redis fails fast. With another cache (the local-memory cache of the embedded mode, one
process) the counters use `cache.add` and `cache.incr`. Limits come from settings.WISER_RATE_LIMITS, e.g.
{"guidance": "30/m"}; a scope set to None is not limited.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import re
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from core.errors import DomainError

DEFAULT_RATES: dict[str, str | None] = {"guidance": "30/m", "articulation": "20/m"}
_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")


class RateLimited(DomainError):
    """Too many requests in the current window; `retry_after` is the number of seconds until it ends."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Rate:
    """At most `limit` requests per `window` seconds."""

    limit: int
    window: int


@functools.lru_cache(maxsize=128)  # the same few settings strings, read on every limited request
def parse_rate(text: str) -> Rate:
    """Read "30/m", "30/minute", "100/h" or "5/10s" as a Rate; ValueError when it is none of these."""
    match = _RATE.match(text.lower())
    if match is None or match.group(3) not in _UNITS:
        raise ValueError(f"not a rate: {text!r} (use e.g. '30/m', '100/h' or '5/10s')")
    limit, count, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    if count < 1:
        raise ValueError(f"not a rate: {text!r} (the window must be at least one {unit})")
    return Rate(limit=limit, window=count * _UNITS[unit])


def rate_for(scope: str) -> Rate | None:
    """The configured rate of a scope (settings.WISER_RATE_LIMITS over the defaults); None when unlimited."""
    rates = {**DEFAULT_RATES, **getattr(settings, "WISER_RATE_LIMITS", {})}
    text = rates.get(scope)
    return None if text is None else parse_rate(text)


def ratelimit_hit(*, scope: str, key: str, rate: Rate, now: float | None = None) -> int:
    """Count one request of `key` in the scope's current window; raise RateLimited when it exceeds the rate."""
    return ratelimit_hits([(scope, key, rate)], now=now)[0]


def ratelimit_hits(hits: list[tuple[str, str, Rate]], *, now: float | None = None) -> list[int]:
    """Count one request on each (scope, key, rate) together; raise RateLimited when any exceeds its rate.

    Every counter is raised, also when an earlier one is over its limit; the counts are returned in order.
    """
    now = time.time() if now is None else now
    counters = []
    for scope, key, rate in hits:
        window_start = int(now // rate.window) * rate.window
        counters.append((f"rl:{scope}:{_digest(key)}:{rate.window}:{window_start}", rate.window + 1))
    counts = _count(counters)
    for (_, _, rate), count in zip(hits, counts, strict=True):
        if count > rate.limit:
            window_start = int(now // rate.window) * rate.window
            retry_after = max(1, math.ceil(window_start + rate.window - now))
            raise RateLimited(
                f"Too many requests: at most {rate.limit} per {rate.window} seconds. Try again in {retry_after} s.",
                retry_after=retry_after,
            )
    return counts


# Raises each counter and gives a new one its expiry (also one left without expiry), atomically.
_COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
    local count = redis.call('INCR', key)
    if count == 1 or redis.call('TTL', key) == -1 then
        redis.call('EXPIRE', key, ARGV[i])
    end
    counts[i] = count
end
return counts
"""
_REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"
_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


def _count(counters: list[tuple[str, int]]) -> list[int]:
    """Raise each (counter, timeout in seconds) by one and return the new counts."""
    script = _redis_script()
    if script is not None:
        keys = [cache.make_key(counter) for counter, _ in counters]
        return [int(count) for count in script(keys=keys, args=[timeout for _, timeout in counters])]
    counts = []
    for counter, timeout in counters:
        cache.add(counter, 0, timeout)
        try:
            count = cache.incr(counter)
        except ValueError:
            # The counter expired or was evicted between add and incr: this request starts it again.
            count = 1 if cache.add(counter, 1, timeout) else cache.incr(counter)
        counts.append(count)
    return counts


def _redis_script():
    """The counting script on this process's Redis client, when the default cache is one Redis; else None."""
    config = settings.CACHES.get("default", {})
    location = config.get("LOCATION")
    if config.get("BACKEND") != _REDIS_CACHE or not isinstance(location, str) or "," in location:
        return None
    script = _clients.get(location)
    if script is None:
        import redis

        timeout = float(getattr(settings, "WISER_RATE_LIMIT_REDIS_TIMEOUT", 0.5))
        with _clients_lock:
            script = _clients.get(location)
            if script is None:
                client = redis.Redis.from_url(
                    location, socket_timeout=timeout, socket_connect_timeout=timeout
                )
                script = _clients[location] = client.register_script(_COUNT_SCRIPT)
    return script


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or with WISER_TRUSTED_PROXY_COUNT = n, the n-th X-Forwarded-For hop from the right."""
    proxies = int(getattr(settings, "WISER_TRUSTED_PROXY_COUNT", 0) or 0)
    if proxies > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def client_ip_for_axes(request: HttpRequest) -> str | None:
    """`client_ip` for django-axes' sign-in lockouts (AXES_CLIENT_IP_CALLABLE): the same rule, and None when the
    request carries no address (a test client's login), which axes stores as NULL in its address field."""
    address = client_ip(request)
    return None if address == "unknown" else address


def ratelimit_request(
    request: HttpRequest, *, scope: str, participant_id: int | None = None, rate: Rate | None = None
) -> None:
    """Count a request against the scope's rate per client IP and, when known, per participant."""
    rate = rate or rate_for(scope)
    if rate is None:
        return
    if participant_id is None:
        auth = getattr(request, "auth", None)
        participant_id = getattr(auth, "participant_id", None)  # a Participant's own id (deliberation.models)
    hits = [(scope, f"ip:{client_ip(request)}", rate)]
    if participant_id is not None:
        hits.append((scope, f"participant:{participant_id}", rate))
    ratelimit_hits(hits)


def _digest(key: str) -> str:
    # Keys hold no raw address; keyed with SECRET_KEY so they cannot be reversed by hashing every IPv4.
    return hmac.new(settings.SECRET_KEY.encode(), key.encode(), hashlib.sha256).hexdigest()[:32]
