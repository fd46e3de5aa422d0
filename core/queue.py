"""Enqueueing background work after commit, without ever failing the request that caused it.

The database is the source of truth: a card waiting for deduplication or a round whose ranking is stale is
visible there, and the periodic sweeper re-enqueues it. So when the broker is down at commit time we log
and move on; the work is delayed, never lost.
"""
import logging

from django.db import DatabaseError, transaction

log = logging.getLogger(__name__)

# How a task retries when the database fails it (a lock timeout, a lost connection): Celery's own exponential
# backoff, 5, 10, 20 ... s apart, at most 300 s; each task's max_retries and attempt counter bound the tries.
# Use as `@shared_task(max_retries=N, **RETRY_ON_DATABASE_ERROR)`.
RETRY_ON_DATABASE_ERROR = {
    "autoretry_for": (DatabaseError,),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": False,
}


def enqueue_on_commit(task, *args, countdown: int | None = None) -> None:
    """Send `task(*args)` once the current transaction commits; a broker failure is logged, not raised."""

    def send() -> None:
        try:
            task.apply_async(args, countdown=countdown)
        except Exception:  # the broker (or its client) failing must not fail the participant's request
            log.exception("could not enqueue %s%s; the sweeper will pick the work up", task.name, args)

    transaction.on_commit(send)
