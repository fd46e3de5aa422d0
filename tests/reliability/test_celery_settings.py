"""The settings the fault tests rely on, as the Celery app and the production profile see them.

A fault test shows a guarantee holds with these settings; this test fails when one of them is changed, so a
regression is caught even in a run without workers.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from config.celery import app

ROOT = Path(__file__).resolve().parents[2]
RECOVERY_BUDGET_SECONDS = 60  # issue 15: a ranking whose worker died is published again within a minute


def test_at_least_once_delivery_settings_reach_the_celery_app():
    assert app.conf.task_acks_late is True, "acknowledged after the task ran: a dying worker does not lose it"
    assert app.conf.task_reject_on_worker_lost is True, "a killed pool process's message is requeued at once"
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_default_queue == "wiser"
    assert app.conf.task_soft_time_limit < app.conf.task_time_limit


def test_the_visibility_timeout_outlasts_every_task_and_not_much_more():
    timeout = app.conf.broker_transport_options["visibility_timeout"]
    assert timeout > app.conf.task_time_limit, "a task still running must not be handed out a second time"
    assert timeout <= app.conf.task_time_limit + 120, "a killed worker's message comes back soon after"


def test_a_lost_ranking_is_taken_back_within_the_recovery_budget():
    sweep = app.conf.beat_schedule["sweep-pending-work"]
    assert sweep["task"] == "operations.tasks.sweep_pending_work"
    interval = float(sweep["schedule"])
    heartbeat = settings.WISER_RANKING_HEARTBEAT_SECONDS
    stale = settings.WISER_RANKING_STALE_SECONDS
    assert interval <= 15
    assert heartbeat * 3 <= stale, "a live computation misses at least three beats before it counts as lost"
    # Worst case: the last beat just before the kill, stale after `stale` s, the next sweep `interval` s later,
    # then the ranking itself (a few seconds on a round of this size; see docs/reliability.md).
    assert stale + interval + 15 <= RECOVERY_BUDGET_SECONDS


def test_the_production_profile_keeps_the_same_delivery_settings():
    code = (
        "import json, django; from django.conf import settings as s; django.setup(); "
        "print(json.dumps([s.CELERY_TASK_ACKS_LATE, s.CELERY_TASK_REJECT_ON_WORKER_LOST, "
        "s.CELERY_WORKER_PREFETCH_MULTIPLIER, s.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'], "
        "s.CELERY_TASK_TIME_LIMIT, s.CELERY_TASK_ALWAYS_EAGER]))"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CELERY_")},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "k3J9x!vQ2#pL8@wZ5^mN1&rT7*yB4(cF6)hD0-sG9_aE2+uI3=oP5",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/wiser",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    acks_late, reject, prefetch, visibility, time_limit, eager = json.loads(result.stdout.strip().splitlines()[-1])
    assert (acks_late, reject, prefetch, eager) == (True, True, 1, False)
    assert time_limit < visibility <= time_limit + 120
