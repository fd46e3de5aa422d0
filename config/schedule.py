"""Stage dates in the embedded mode, which has no Celery beat.

In production Celery beat runs `deliberation.tasks.apply_stage_schedules` every minute. `make run` has no broker
and so no beat: there this middleware stands in for it, calling the same service (`rounds_apply_schedules`) at
most once every WISER_SCHEDULE_TICK_SECONDS per process, before the request is handled. Reads stay pure (pages
and the API show the stage the dates call for with `deliberation.selectors.round_as_scheduled`); this is the
scheduled write, done where a beat would do it (decision 20).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from deliberation.services import rounds_apply_schedules

log = logging.getLogger(__name__)
_lock = threading.Lock()
_next_tick = 0.0


def tick() -> list[int]:
    """Apply every round's due stage dates, unless this process did so in the last tick interval."""
    global _next_tick
    now = time.monotonic()
    with _lock:
        if now < _next_tick:
            return []
        _next_tick = now + settings.WISER_SCHEDULE_TICK_SECONDS
    try:
        return rounds_apply_schedules()
    except DatabaseError:
        log.warning("could not apply the rounds' stage dates; the next tick tries again", exc_info=True)
        return []


class StageScheduleMiddleware:
    """Runs `tick()` before each request when settings.WISER_SCHEDULE_ON_REQUEST is on (no beat)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.WISER_SCHEDULE_ON_REQUEST:
            tick()
        return self.get_response(request)
