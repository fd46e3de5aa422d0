"""Requests no view should see, and failures no view should turn into a 500.

- A body larger than DATA_UPLOAD_MAX_MEMORY_SIZE on the API: 413 with the one error body (Django would answer
  its HTML 400 page when a view reads it).
- A NUL character in the query string: 400 (PostgreSQL refuses NUL in text, so a filter holding one would
  fail the query; no parameter of ours can need one).
- Redis (the cache, the rate limiter's counters, Celery's broker) unreachable while a view runs: 503 with
  Retry-After, the one error body on the API and the error page elsewhere. Work that can wait is enqueued
  through `core.queue` and never gets here; this is for what cannot go on without Redis.

Place it right after SecurityMiddleware, before anything reads the body or the session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from core.errors import ServiceUnavailable, service_unavailable_error

log = logging.getLogger(__name__)

API_PREFIX = "/api/"


def _error(request: HttpRequest, status: int, code: str, message: str, fields: dict | None = None) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"error": {"code": code, "message": message, "fields": fields or {}}}, status=status)
    return render(request, "frontend/error.html", {"message": message}, status=status)


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class RequestGuardMiddleware:
    """Refuse oversized API bodies (413) and NUL in the query string (400); map Redis outages to 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and request.path.startswith(API_PREFIX) and _content_length(request) > limit:
            return _error(request, 413, "too_large", f"The request body is larger than {limit} bytes.")
        bad = sorted({key for key, values in request.GET.lists() if "\x00" in key or any("\x00" in v for v in values)})
        if bad:
            fields = {key.replace("\x00", "\\0"): ["May not contain NUL characters."] for key in bad}
            return _error(request, 400, "invalid", "Some fields need attention.", fields)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not service_unavailable_error(exception):
            return None
        log.error("a service is unreachable during %s %s", request.method, request.path, exc_info=exception)
        response = _error(request, 503, ServiceUnavailable.code, ServiceUnavailable.default_message)
        response["Retry-After"] = str(ServiceUnavailable.retry_after)
        return response
