"""Vote-to-report latency: how long after a vote the public report shows it, with one real Celery worker.

Run from the project root (PostgreSQL and Redis running):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wiser_scale2 REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/freshness.py --round demo [--votes 5]
    ... bench/freshness.py --round 1M [--reuse] [--votes 3]

`--round demo` seeds the demo round (`manage.py seed_demo`) into the database when it is not there; `--round 1M`
fills (or with --reuse keeps) bench/ranking.py's round. One worker (`celery worker -c 1`, the settings' defaults:
leading-edge debounce, warm start, fan-out when the round is big) ranks the round. For each vote: a new participant
is assigned stories and votes on one (the service, as the API does), then the report API (GET report/, through
Django's test client) is read every 50 ms until its run's watermark includes the vote; the time from just before
the vote to that read is printed. Votes are spaced by a quiet period (each is the first after it), then a burst of
20 votes is sent at once and the time until the last one shows is printed, with the number of runs it caused.
The Redis database named by REDIS_URL is flushed: give the benchmark its own.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from parallel_ranking import _setup, _start_workers, _stop  # noqa: E402
from ranking import _database_url, _filled  # noqa: E402
from round_plan import load_average, scale_of  # noqa: E402


def _demo_round() -> int:
    from django.core.management import call_command

    from deliberation.models import Round

    round_id = Round.objects.filter(slug="ai-distress").values_list("pk", flat=True).first()
    if round_id is None:
        call_command("seed_demo", "--password", "bench-demo-pass-123")
        round_id = Round.objects.get(slug="ai-distress").pk
    return round_id


def _new_vote(round_, answer_index: int) -> int:
    """A new participant votes on their first story; returns the vote's revision id."""
    from django.utils import timezone

    from deliberation.models import Participant
    from moral_graph import services
    from moral_graph.models import WiserVoteRevision

    person = Participant.objects.create(
        round=round_, pseudonym=f"fresh-{time.time_ns() % 10**12}", consent_at=timezone.now()
    )
    person.round = round_
    story = services.assignments_take(participant=person)[0]
    vote, _created = services.vote_cast(
        participant=person, story_id=story.pk, answer=("wiser", "not_wiser", "not_sure")[answer_index % 3]
    )
    return WiserVoteRevision.objects.filter(vote_id=vote.pk).order_by("-id").values_list("id", flat=True).first()


def _until_shown(client, slug: str, revision: int, started: float, timeout: float = 300) -> float:
    while time.perf_counter() - started < timeout:
        ranking = client.get(f"/api/v1/rounds/{slug}/report/").json().get("ranking")
        if ranking is not None and ranking["watermark"] >= revision:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise SystemExit(f"the vote (revision {revision}) did not reach the report within {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--round", default="demo", help="demo, or a size of bench/round_plan.GROWTH (e.g. 1M).")
    parser.add_argument("--reuse", action="store_true", help="Keep the last fill when its size matches.")
    parser.add_argument("--votes", type=int, default=5, help="Single votes, each after a quiet period.")
    parser.add_argument("--quiet", type=float, default=3.0, help="Seconds between single votes (default: 3).")
    args = parser.parse_args()
    url = _database_url()
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/5"
    _setup(url, redis_url)
    import redis
    from django.conf import settings
    from django.test import Client

    from deliberation.models import Round, Stage
    from moral_graph.models import RankingRun
    from moral_graph.services import ranking_compute

    settings.ALLOWED_HOSTS = ["*"]
    settings.WISER_RATE_LIMITS = {key: "1000000/m" for key in settings.WISER_RATE_LIMITS}
    if args.round == "demo":
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        round_id = _demo_round()
    else:
        round_id, _size, _fill = _filled(url, scale_of(args.round), args.reuse)
    Round.objects.filter(pk=round_id).update(stage=Stage.VOTING, report_visibility="public", report_live=True)
    round_ = Round.objects.get(pk=round_id)
    if round_.current_ranking_id is None:
        ranking_compute(round_id=round_id, fanout=False)
    round_.refresh_from_db()
    slug = round_.slug
    votes = RankingRun.objects.filter(round=round_).count()
    print(f"round {slug}: watermark {round_.current_ranking.watermark:,}; load {load_average():.1f}", flush=True)
    redis.Redis.from_url(redis_url).flushdb()
    workers = _start_workers(1, os.environ.get("WISER_RANKING_FANOUT", "auto"), url, redis_url, tag="fresh")
    client = Client()
    client.get(f"/api/v1/rounds/{slug}/report/")
    try:
        time.sleep(args.quiet)
        for i in range(args.votes):
            started = time.perf_counter()
            revision = _new_vote(round_, i)
            seconds = _until_shown(client, slug, revision, started)
            print(f"vote {i + 1}: on the report after {seconds:.2f} s (load {load_average():.1f})", flush=True)
            time.sleep(args.quiet)
        runs_before = RankingRun.objects.filter(round=round_).count()
        started = time.perf_counter()
        revisions = [_new_vote(round_, i) for i in range(20)]
        sent = time.perf_counter() - started
        seconds = _until_shown(client, slug, max(revisions), started)
        time.sleep(max(args.quiet, 2.0))
        runs = RankingRun.objects.filter(round=round_).count() - runs_before
        print(
            f"burst of 20 votes (sent in {sent:.2f} s): the last on the report after {seconds:.2f} s; "
            f"{runs} runs published for the burst (load {load_average():.1f})",
            flush=True,
        )
    finally:
        _stop(workers)
    print(f"runs in this session: {RankingRun.objects.filter(round=round_).count() - votes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
