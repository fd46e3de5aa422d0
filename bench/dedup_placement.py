"""Time placement's search for a card's best canonical value among N values stored in the database.

Run from the project root: .venv/bin/python bench/dedup_placement.py [--sizes 1000 10000] [--steps 20]
[--postgres postgres://postgres@127.0.0.1:5432]. It migrates a fresh database (a temporary SQLite file, or
with --postgres the PostgreSQL database `wiser_bench_dedup`, created and dropped again), stores N synthetic
canonical values of one question (384 dimensions, a heading row and 4 policy rows each, as the offline model
gives), and prints per `_best_candidate` call: the first call (cold cache: every value's vectors read), the
steady state (warm cache, one new value stored before each call) and the full scan placement did before the
cache (every value's row read and scored), with the vectors read per call and the cached index's memory.
Nothing is asserted; "same" counts the steady-state calls where the full scan picks the same value.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# OpenBLAS threads cost more than they save on these small products; set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

import numpy as np  # noqa: E402

DIMENSIONS = 384
POLICIES = 4
DATABASE = "wiser_bench_dedup"
FULL_SCAN_CALLS = 3
NOISE = 0.05


def random_matrix(rng: np.random.Generator) -> np.ndarray:
    """A synthetic card's embedding: unit heading row and unit policy rows."""
    rows = rng.standard_normal((1 + POLICIES, DIMENSIONS)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def near(matrix: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A paraphrase of a card: its rows moved a little, renormalised."""
    rows = matrix + NOISE * rng.standard_normal(matrix.shape).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def full_scan_best(card, vectors: np.ndarray):
    """Placement's search before the cache: every active value of the question read, decoded and scored."""
    from cards import dedup
    from cards.models import CanonicalValue
    from cards.services import best_scored, value_vectors

    values = list(CanonicalValue.objects.filter(question_id=card.question_id, is_active=True).order_by("id"))
    # Centred by the population of the question's values, as placement scores.
    population = dedup.Population.of([value_vectors(v, like=vectors) for v in values])
    return best_scored(vectors, values, population)


class ReadCounter:
    """Counts the stored vectors the placement code decodes (a stand-in for the bytes it reads)."""

    def __init__(self, services):
        self.blobs = 0
        self.nbytes = 0
        self._decode = services.vectors_from_bytes
        services.vectors_from_bytes = self

    def __call__(self, raw):
        if raw is not None:
            self.blobs += 1
            self.nbytes += len(raw)
        return self._decode(raw)

    def take(self) -> tuple[int, int]:
        taken = (self.blobs, self.nbytes)
        self.blobs = self.nbytes = 0
        return taken


def timed(call, *args):
    started = time.perf_counter()
    result = call(*args)
    return result, time.perf_counter() - started


def bench_size(size: int, steps: int, counter: ReadCounter, owner, rng: np.random.Generator) -> None:
    from cards import services
    from cards.models import CanonicalValue, ValuesCard
    from deliberation.services import round_create

    round_ = round_create(
        owner=owner, slug=f"bench-{size}", title="Placement bench", question="How should it answer?", contexts=["Anywhere"]
    )
    question = round_.questions.get()
    matrices = [random_matrix(rng) for _ in range(size)]
    started = time.perf_counter()
    for start in range(0, size, 500):
        CanonicalValue.objects.bulk_create(
            CanonicalValue(
                round=round_,
                question=question,
                title=f"Value {i}",
                description="A synthetic value.",
                policies=[f"THING {p}" for p in range(POLICIES)],
                embedding=services.vectors_to_bytes(matrices[i]),
            )
            for i in range(start, min(size, start + 500))
        )
    print(f"N = {size:,}: stored in {time.perf_counter() - started:.1f} s")
    card = ValuesCard(round_id=round_.pk, question_id=question.pk)

    services.dedup_index_cache_clear()
    counter.take()
    _, cold = timed(services._best_candidate, card, near(matrices[0], rng))
    cold_blobs, cold_bytes = counter.take()

    warm, warm_blobs, same = [], [], 0
    for step in range(steps):
        fresh = random_matrix(rng)
        CanonicalValue.objects.create(
            round=round_,
            question=question,
            title=f"New value {step}",
            description="A synthetic value.",
            policies=[f"THING {p}" for p in range(POLICIES)],
            embedding=services.vectors_to_bytes(fresh),
        )
        query = near(fresh if step % 2 else matrices[int(rng.integers(size))], rng)
        counter.take()
        (value, _), seconds = timed(services._best_candidate, card, query)
        warm.append(seconds)
        warm_blobs.append(counter.take()[0])
        if step < FULL_SCAN_CALLS:
            same += full_scan_best(card, query)[0].pk == value.pk
    counter.take()

    scans = []
    for _ in range(FULL_SCAN_CALLS):
        _, seconds = timed(full_scan_best, card, near(matrices[int(rng.integers(size))], rng))
        scans.append(seconds)
    scan_blobs, scan_bytes = counter.take()
    entry = services._question_index(question.pk, DIMENSIONS)
    print(
        f"  cold cache    {1000 * cold:9.1f} ms   {cold_blobs:>6,} vectors read ({cold_bytes / 1e6:.1f} MB)\n"
        f"  warm cache    {1000 * statistics.median(warm):9.1f} ms   {max(warm_blobs):>6,} vectors read at most"
        f" (median of {steps} calls, one new value before each; same as the full scan {same}/{FULL_SCAN_CALLS})\n"
        f"  full scan     {1000 * statistics.median(scans):9.1f} ms   {scan_blobs // FULL_SCAN_CALLS:>6,} vectors"
        f" read ({scan_bytes / FULL_SCAN_CALLS / 1e6:.1f} MB; median of {FULL_SCAN_CALLS} calls)\n"
        f"  index memory  {entry.nbytes / 1e6:9.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--postgres", help="a server URL without database, e.g. postgres://postgres@127.0.0.1:5432"
    )
    args = parser.parse_args()

    workdir = tempfile.TemporaryDirectory(prefix="wiser-bench-dedup-")
    admin = None
    if args.postgres:
        import psycopg

        admin = psycopg.connect(f"{args.postgres}/postgres", autocommit=True)
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
        os.environ["DATABASE_URL"] = f"{args.postgres}/{DATABASE}"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir.name}/bench.sqlite3"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    try:
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import connection

        from cards import services

        call_command("migrate", verbosity=0)
        print(f"database: {connection.vendor}, {DIMENSIONS} dimensions, {1 + POLICIES} rows per value")
        owner = get_user_model().objects.create_user("bench-owner")
        counter = ReadCounter(services)
        rng = np.random.default_rng(1)
        for size in args.sizes:
            bench_size(size, args.steps, counter, owner, rng)
    finally:
        if admin is not None:
            from django.db import connections

            connections.close_all()
            admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            admin.close()
        workdir.cleanup()


if __name__ == "__main__":
    main()
