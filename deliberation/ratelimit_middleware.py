"""Rate limits on the participant's writes (joining, cards, chat turns, votes), applied centrally by URL name.

Every limited route counts one request per client IP and, when the participant is known (the API's
participant token, or the page session's participant of the URL's round), one per participant, with the
atomic fixed-window counters of deliberation.ratelimit (Redis in production, so all workers share them).
Over the limit the API answers 429 with the one error body, pages answer 429 with the error page; both carry
Retry-After. Rates are settings.WISER_RATE_LIMITS entries named "<scope>:ip" and "<scope>:participant" over
DEFAULT_RATES; None switches one off. When the cache cannot be reached the request passes (and is logged):
an outage of Redis should not stop a deliberation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from deliberation.auth import PARTICIPANT_SALT, PARTICIPANT_TOKEN_MAX_AGE, ParticipantTokenAuthentication
from deliberation.models import Round
from deliberation.ratelimit import RateLimited, client_ip, parse_rate, ratelimit_hits

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

# URL name -> (scope, the methods that count). Reading is never limited here.
ROUTES: dict[str, tuple[str, frozenset[str]]] = {
    "api:round-join": ("join", frozenset({"POST"})),
    "frontend:join": ("join", frozenset({"POST"})),
    "frontend:join-invite": ("join", frozenset({"POST"})),
    "frontend:invite-entry": ("join", frozenset({"POST"})),
    "api:round-cards": ("card", frozenset({"POST"})),
    "api:card": ("card", frozenset({"PUT", "PATCH"})),
    "api:card-confirm": ("card", frozenset({"POST"})),
    "frontend:card": ("card", frozenset({"POST"})),
    "frontend:confirm": ("card", frozenset({"POST"})),
    "frontend:chat": ("chat", frozenset({"POST"})),
    "api:articulation-start": ("chat", frozenset({"POST"})),
    "api:articulation-turn": ("chat", frozenset({"POST"})),
    "api:articulation-draft": ("chat", frozenset({"POST"})),
    "api:articulation-confirm": ("chat", frozenset({"POST"})),
    "api:story-vote": ("vote", frozenset({"POST"})),
    "api:vote": ("vote", frozenset({"PATCH", "PUT"})),
    "frontend:vote": ("vote", frozenset({"POST"})),
}
SESSION_KEY = "wiser_participants"  # frontend.session.KEY: the page session's participants per round id


def rate_limits() -> dict[str, str | None]:
    """The configured rates: settings.WISER_RATE_LIMITS over DEFAULT_RATES."""
    return {**DEFAULT_RATES, **getattr(settings, "WISER_RATE_LIMITS", {})}


def _token_participant_id(request: HttpRequest) -> int | None:
    """The participant id in a valid participant token, without a database read (the view checks it fully)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    prefix = ParticipantTokenAuthentication.keyword + " "
    if not header.startswith(prefix):
        return None
    try:
        data = signing.loads(
            header[len(prefix) :].strip(), salt=PARTICIPANT_SALT, max_age=PARTICIPANT_TOKEN_MAX_AGE
        )
    except signing.BadSignature:
        return None
    value = data.get("p") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None


def _session_participant_id(request: HttpRequest, slug: str | None) -> int | None:
    """The page session's participant in the round of the URL's slug."""
    session = getattr(request, "session", None)
    if session is None or not slug:
        return None
    remembered = session.get(SESSION_KEY) or {}
    if not remembered:
        return None
    round_id = Round.objects.filter(slug=slug[:64]).values_list("pk", flat=True).first()
    value = remembered.get(str(round_id)) if round_id is not None else None
    return value if isinstance(value, int) else None


def participant_id_of(request: HttpRequest, view_kwargs: dict) -> int | None:
    """Who is acting: the API's participant token first, then the page session's participant of the round."""
    return _token_participant_id(request) or _session_participant_id(request, view_kwargs.get("slug"))


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
    """Limits the routes in ROUTES by their URL name; place it after the session and authentication middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        """Count the request when its route and method are limited; answer 429 over the limit."""
        match = request.resolver_match
        rule = ROUTES.get(match.view_name) if match is not None else None
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
