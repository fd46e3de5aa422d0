"""Deliberation's periodic work: moving rounds whose stage dates have passed."""

from celery import shared_task


@shared_task
def apply_stage_schedules() -> list[int]:
    """Move every round whose stage date has passed (Celery beat, every minute); returns the rounds moved."""
    from deliberation.services import rounds_apply_schedules

    return rounds_apply_schedules()
