"""The ranking fan-out on real workers: one vs two Celery worker processes rank a 20-context round.

Run from the project root (PostgreSQL and Redis running):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wiser_scale2 REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/parallel_ranking.py [--size 1M] [--reuse] [--repeat 2]

Fills the round as bench/ranking.py does (the database is dropped and filled again unless --reuse finds a round of
that size), then for each setting starts the workers (`celery worker -c 1`, each its own process), sends one
`rank_round` and times it from the send until the round's current run changes. Settings: one worker with one task
per round (WISER_RANKING_FANOUT=never, the design before the fan-out), one worker with the fan-out, two workers
with the fan-out. The Redis database named by REDIS_URL is flushed: give the benchmark its own.
Every figure printed is measured on this machine; the load average is printed with each run.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ranking import ROOT, _database_url, _filled, _reset_runs  # noqa: E402
from round_plan import load_average, scale_of  # noqa: E402


def _setup(url: str, redis_url: str) -> None:
    """Django against the bench's PostgreSQL and Redis, tasks sent to the broker as in production (shared by
    bench/reads.py and bench/freshness.py)."""
    os.environ["DATABASE_URL"] = url
    os.environ["REDIS_URL"] = redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    # As in production: work (and figures past their age) goes to the broker, not run in-process.
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings

    django.setup()
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["*"]  # reads.py drives the pages with Django's test client


def _start_workers(n: int, fanout: str, url: str, redis_url: str, tag: str) -> list[subprocess.Popen]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "WISER_RANKING_FANOUT": fanout,
        "OPENBLAS_NUM_THREADS": "1",
    }
    workers = []
    for i in range(n):
        workers.append(
            subprocess.Popen(
                [
                    str(ROOT / ".venv/bin/celery"), "-A", "config", "worker", "-Q", "wiser", "-c", "1",
                    "-n", f"bench{tag}{i}@%h", "--without-gossip", "--without-mingle", "-l", "warning",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    from config.celery import app

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        if sum(1 for r in replies for name in r if name.startswith(f"bench{tag}")) >= n:
            return workers
    raise SystemExit("workers did not answer within 120 s")


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def _time_one(round_id: int, timeout: float = 600) -> float:
    from deliberation.models import Round
    from moral_graph.tasks import rank_round

    _reset_runs(round_id)
    started = time.perf_counter()
    rank_round.delay(round_id)
    while time.perf_counter() - started < timeout:
        if Round.objects.filter(pk=round_id, current_ranking__isnull=False).exists():
            return time.perf_counter() - started
        time.sleep(0.05)
    raise SystemExit("no run published within the timeout")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1M", help="A size of bench/round_plan.GROWTH (default: %(default)s).")
    parser.add_argument("--contexts", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="Keep the last fill when its size matches.")
    parser.add_argument("--repeat", type=int, default=2, help="Timed runs per setting (default: %(default)s).")
    args = parser.parse_args()
    url = _database_url()
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/5"
    _setup(url, redis_url)
    import redis

    round_id, size, fill_seconds = _filled(url, scale_of(args.size, args.contexts), args.reuse)
    if fill_seconds is not None:
        print(f"filled in {fill_seconds:.0f} s", flush=True)
    print(
        f"round: {size['votes']:,} votes, {size['values']:,} values, {size['contexts']} contexts, "
        f"{size['stories']:,} stories, {size['participants']:,} participants",
        flush=True,
    )
    settings_to_run = [("1 worker, one task per round", 1, "never"), ("1 worker, fan-out", 1, "always"),
                       ("2 workers, fan-out", 2, "always")]
    timings: dict[str, list[float]] = {label: [] for label, _, _ in settings_to_run}
    for repeat in range(args.repeat):
        for label, n, fanout in settings_to_run:
            redis.Redis.from_url(redis_url).flushdb()
            workers = _start_workers(n, fanout, url, redis_url, tag=f"{repeat}{n}{fanout}")
            try:
                _time_one(round_id)  # warm: the workers import and connect on their first task
                load = load_average()
                seconds = _time_one(round_id)
            finally:
                _stop(workers)
            timings[label].append(seconds)
            print(f"{label}: {seconds:.2f} s (load {load})", flush=True)
    best = {label: min(values) for label, values in timings.items()}
    one, two = best["1 worker, fan-out"], best["2 workers, fan-out"]
    print(f"best of {args.repeat}: " + ", ".join(f"{label} {value:.2f} s" for label, value in best.items()))
    print(f"speedup, two workers over one (fan-out both): {one / two:.2f}x")
    print(f"speedup, two workers with fan-out over one task per round: {best['1 worker, one task per round'] / two:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
