"""Reads in a big round on PostgreSQL: story assignment, the report (JSON and page), the organizer's dashboard.

Run from the project root (PostgreSQL and Redis running):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wiser_scale2 REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/reads.py [--size 1M] [--reuse] [--requests 100]

Fills the round as bench/ranking.py does (or reuses it with --reuse), ranks it once in-process when it has no
current run, opens it (voting, live public report), then sends requests through Django's test client (the whole
middleware stack, no network) with the Redis cache of REDIS_URL (flushed first: give the benchmark its own
database): POST stories/assigned/ for new participants, GET report/ (JSON, default 30 values per context), the
report page, and the organizer's dashboard page and its live part. The first request of each read is printed
apart ("cold": it builds what the others read from the cache). Every figure printed is measured on this machine.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from parallel_ranking import _setup as shared_setup  # noqa: E402
from ranking import _database_url, _filled  # noqa: E402
from round_plan import load_average, scale_of  # noqa: E402


def _setup(url: str, redis_url: str) -> None:
    """The shared bench setup, with the rate limits out of the way of one client's many reads."""
    shared_setup(url, redis_url)
    from django.conf import settings

    settings.WISER_RATE_LIMITS = {key: "1000000/m" for key in settings.WISER_RATE_LIMITS}


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"p50 {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   max {ordered[-1] * 1000:7.1f} ms"


def _timed(call, n: int) -> tuple[float, list[float]]:
    started = time.perf_counter()
    call(0)
    cold = time.perf_counter() - started
    samples = []
    for i in range(1, n + 1):
        started = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - started)
    return cold, samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1M", help="A size of bench/round_plan.GROWTH (default: %(default)s).")
    parser.add_argument("--reuse", action="store_true", help="Keep the last fill when its size matches.")
    parser.add_argument("--requests", type=int, default=100, help="Timed requests per read (default: %(default)s).")
    args = parser.parse_args()
    url = _database_url()
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/5"
    _setup(url, redis_url)
    import redis
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from deliberation.auth import participant_token
    from deliberation.models import OrganizerRole, Participant, Round, Stage
    from moral_graph.services import ranking_compute

    round_id, size, fill_seconds = _filled(url, scale_of(args.size), args.reuse)
    if fill_seconds is not None:
        print(f"filled in {fill_seconds:.0f} s", flush=True)
    redis.Redis.from_url(redis_url).flushdb()
    Round.objects.filter(pk=round_id).update(
        stage=Stage.VOTING, report_visibility="public", report_live=True, stories_per_participant=10
    )
    round_ = Round.objects.get(pk=round_id)
    if round_.current_ranking_id is None:
        started = time.perf_counter()
        ranking_compute(round_id=round_id, fanout=False)
        print(f"ranked in {time.perf_counter() - started:.1f} s (not part of the reads)", flush=True)
        round_.refresh_from_db()
    print(
        f"round: {size['votes']:,} votes, {size['values']:,} values, {size['contexts']} contexts, "
        f"{size['stories']:,} stories, {size['participants']:,} participants; load {load_average():.1f}",
        flush=True,
    )
    slug = round_.slug
    client = Client()
    now = timezone.now()
    people = [
        Participant.objects.create(round=round_, pseudonym=f"reader-{time.time_ns() % 10**12}-{i}", consent_at=now)
        for i in range(args.requests + 1)
    ]
    tokens = [participant_token(p) for p in people]

    def assign(i: int) -> None:
        response = client.post(
            f"/api/v1/rounds/{slug}/stories/assigned/", HTTP_AUTHORIZATION=f"Participant {tokens[i]}"
        )
        assert response.status_code in (200, 201), response.content[:300]
        assert len(response.json()) == 10, response.content[:300]

    def report_json(i: int) -> None:
        response = client.get(f"/api/v1/rounds/{slug}/report/")
        assert response.status_code == 200, response.content[:300]

    def report_page(i: int) -> None:
        response = client.get(f"/r/{slug}/report/")
        assert response.status_code == 200, response.content[:300]

    user, _ = get_user_model().objects.get_or_create(username="bench-reads-owner")
    OrganizerRole.objects.get_or_create(round=round_, user=user, defaults={"role": "owner"})
    organizer = Client()
    organizer.force_login(user)

    def dashboard(i: int) -> None:
        response = organizer.get(f"/console/{slug}/")
        assert response.status_code == 200, response.content[:300]

    def dashboard_live(i: int) -> None:
        response = organizer.get(f"/console/{slug}/live/")
        assert response.status_code == 200, response.content[:300]

    reads = [
        ("POST stories/assigned/ (new participant)", assign, 50),
        ("GET report/ (JSON)", report_json, 200),
        ("GET /r/<slug>/report/ (page)", report_page, 200),
        ("GET /console/<slug>/ (dashboard)", dashboard, 300),
        ("GET /console/<slug>/live/ (dashboard, polled part)", dashboard_live, 300),
    ]
    try:
        for label, call, goal in reads:
            cold, samples = _timed(call, args.requests)
            print(
                f"{label:52s} cold {cold * 1000:8.1f} ms   {_percentiles(samples)}   goal p95 <= {goal} ms"
                f"   (load {load_average():.1f})",
                flush=True,
            )
    finally:
        Participant.objects.filter(pk__in=[p.pk for p in people]).delete()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
