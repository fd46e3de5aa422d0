"""Enqueueing background work after commit, without ever failing the request that caused it.

The database is the source of truth: a card waiting for deduplication or a round whose ranking is stale is
visible there, and the periodic sweeper re-enqueues it. So when the broker is down at commit time we log
and move on; the work is delayed, never lost.
"""
import logging
import threading

from django.conf import settings
from django.db import DatabaseError, connections, transaction

log = logging.getLogger(__name__)
# Threads started by enqueue_slow_on_commit in eager mode (tests join them).
BACKGROUND_THREADS: list[threading.Thread] = []

# How a task retries when the database fails it (a lock timeout, a lost connection): Celery's own exponential
# backoff, 5, 10, 20 ... s apart, at most 300 s; each task's max_retries and attempt counter bound the tries.
# Use as `@shared_task(max_retries=N, **RETRY_ON_DATABASE_ERROR)`.
RETRY_ON_DATABASE_ERROR = {
    "autoretry_for": (DatabaseError,),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": False,
}


def enqueue_on_commit(task, *args, countdown: float | None = None) -> None:
    """Send `task(*args)` once the current transaction commits; a broker failure is logged, not raised."""

    def send() -> None:
        try:
            task.apply_async(args, countdown=countdown)
        except Exception:  # the broker (or its client) failing must not fail the participant's request
            log.exception("could not enqueue %s%s; the sweeper will pick the work up", task.name, args)

    transaction.on_commit(send)


def enqueue_slow_on_commit(task, *args) -> None:
    """Like `enqueue_on_commit`, for work that waits on a model: it never runs inside the request.

    With a worker, the task simply goes to the broker. Without one (`CELERY_TASK_ALWAYS_EAGER`, the embedded
    mode), Celery would run it inline and hold the request for as long as the model takes; it runs in a
    background thread instead (WISER_EAGER_SLOW_TASKS_IN_THREAD, off in tests so they stay deterministic).
    """
    if not (settings.CELERY_TASK_ALWAYS_EAGER and getattr(settings, "WISER_EAGER_SLOW_TASKS_IN_THREAD", True)):
        enqueue_on_commit(task, *args)
        return

    def run() -> None:
        try:
            task.apply(args)
        except Exception:
            log.exception("background %s%s failed; the sweeper will pick the work up", task.name, args)
        finally:
            connections.close_all()

    def start() -> None:
        thread = threading.Thread(target=run, name=f"wiser-{task.name}", daemon=True)
        BACKGROUND_THREADS[:] = [t for t in BACKGROUND_THREADS if t.is_alive()]
        BACKGROUND_THREADS.append(thread)
        thread.start()

    transaction.on_commit(start)
