"""Rate limits on the participant's writes (joining, cards, chat turns, votes), applied centrally by URL name.

Every limited route (config/rate_limits.py) counts one request per client IP and, when the participant is known
(the API's participant token, or the page session's participant of the URL's round: deliberation.auth.participant_id_of),
one per participant, with the atomic fixed-window counters of core.ratelimit (Redis in production, so all workers
share them).
Over the limit the API answers 429 with the one error body, pages answer 429 with the error page; both carry
Retry-After. Rates are settings.WISER_RATE_LIMITS entries named "<scope>:ip" and "<scope>:participant" over
DEFAULT_RATES; None switches one off. When the cache cannot be reached the request passes (and is logged):
an outage of Redis should not stop a deliberation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from core.ratelimit import RateLimited, client_ip, parse_rate, ratelimit_hits

logger = logging.getLogger(__name__)

DEFAULT_RATES: dict[str, str | None] = {
    "join:ip": "30/m",
    "join:participant": None,
    "card:ip": "60/m",
    "card:participant": "20/m",
    "chat:ip": "240/m",
    "chat:participant": "20/m",
    "vote:ip": "600/m",
    "vote:participant": "120/m",
}


def routes() -> dict[str, tuple[str, frozenset[str]]]:
    """The limited routes, URL name -> (scope, the methods that count): the dict settings.WISER_RATE_LIMITED_ROUTES
    names (config/rate_limits.py), so this module lists no app's pages."""
    return import_string(settings.WISER_RATE_LIMITED_ROUTES)


def rate_limits() -> dict[str, str | None]:
    """The configured rates: settings.WISER_RATE_LIMITS over DEFAULT_RATES."""
    return {**DEFAULT_RATES, **getattr(settings, "WISER_RATE_LIMITS", {})}


def participant_id_of(request: HttpRequest, view_kwargs: dict) -> int | None:
    """Who is acting, by the function settings.WISER_RATE_LIMIT_PARTICIPANT names (deliberation.auth's)."""
    return import_string(settings.WISER_RATE_LIMIT_PARTICIPANT)(request, view_kwargs)


def check_rate(request: HttpRequest, *, scope: str, participant_id: int | None) -> None:
    """Count one request of the scope per IP and per participant; raise RateLimited over either limit."""
    rates = rate_limits()
    keys = [("ip", f"ip:{client_ip(request)}")]
    if participant_id is not None:
        keys.append(("participant", f"participant:{participant_id}"))
    hits = [
        (f"mw:{scope}:{kind}", key, parse_rate(text))
        for kind, key in keys
        if (text := rates.get(f"{scope}:{kind}")) is not None
    ]
    if hits:
        ratelimit_hits(hits)


def too_many_response(request: HttpRequest, exc: RateLimited, *, api: bool) -> HttpResponse:
    """429 with Retry-After: the API's error body, or the error page."""
    if api:
        response: HttpResponse = JsonResponse(
            {"error": {"code": exc.code, "message": exc.message, "fields": {}}}, status=exc.status
        )
    else:
        message = _(
            "You are going faster than we can take. Please wait %(seconds)s seconds and try again."
        ) % {"seconds": exc.retry_after}
        response = render(request, "frontend/error.html", {"message": message}, status=exc.status)
    response["Retry-After"] = str(exc.retry_after)
    return response


class RateLimitMiddleware:
    """Limits the routes of routes() by their URL name; place it after the session and authentication middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        """Count the request when its route and method are limited; answer 429 over the limit."""
        match = request.resolver_match
        rule = routes().get(match.view_name) if match is not None else None
        if rule is None or request.method not in rule[1]:
            return None
        scope = rule[0]
        try:
            check_rate(request, scope=scope, participant_id=participant_id_of(request, view_kwargs))
        except RateLimited as exc:
            return too_many_response(request, exc, api=match.view_name.startswith("api:"))
        except Exception:
            logger.warning("rate limiter unavailable; letting a %s request through", scope, exc_info=True)
        return None
