"""A real Celery worker process on Redis runs the ranking task (not eager mode)."""
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from config.celery import app
from deliberation.models import Round, Stage
from moral_graph import services
from moral_graph.models import RankingRun
from moral_graph.tasks import rank_round
from tests.factories import join, make_round, submit

pytestmark = [pytest.mark.needs_worker, pytest.mark.needs_postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent


def _database_url() -> str:
    settings = connection.settings_dict
    return f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"


@pytest.fixture
def worker(redis_url):
    """Start `celery worker` on a private queue against the test database; stop it afterwards."""
    queue = f"wiser-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "--concurrency=1",
         "--pool=prefork", "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        yield queue, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_ranking_task_completes_through_a_real_worker(worker, settings):
    queue, process = worker
    round_ = make_round(slug="via-worker", stories_per_participant=4, min_votes_per_story=1)
    people = [join(round_) for _ in range(4)]
    for person, family in zip(people, ["autonomy", "safety", "honesty", "community"], strict=True):
        submit(person, family=family)
    Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
    services.stories_generate(round_id=round_.pk)
    for person in people:
        for story in services.assignments_take(participant=person):
            services.vote_cast(participant=person, story_id=story.pk, answer="wiser")
    RankingRun.objects.all().delete()
    Round.objects.filter(pk=round_.pk).update(current_ranking=None)

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        result = rank_round.apply_async((round_.pk,), queue=queue)
    finally:
        app.conf.task_always_eager = previous
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not RankingRun.objects.filter(round=round_).exists():
        if process.poll() is not None:
            pytest.fail("The worker exited early:\n" + (process.stdout.read() if process.stdout else ""))
        time.sleep(0.5)
    run = RankingRun.objects.filter(round=round_).first()
    assert run is not None, "the worker did not publish a ranking within 90 s"
    assert run.status == RankingRun.Status.PUBLISHED
    round_.refresh_from_db()
    assert round_.current_ranking_id == run.pk
    assert result.id
