"""The ranking at production scale: fill a PostgreSQL round by COPY, then time ranking_compute end to end.

Run from the project root:
    .venv/bin/python bench/ranking.py [--values 10000 --contexts 20 --stories 100000 --votes 1000000
                                       --participants 100000] [--small] [--reuse] [--method bt]
    .venv/bin/python bench/ranking.py --growth [--sizes 0.3M,1M,3M]   # the growth table of issue 16
DATABASE_URL must point at PostgreSQL (default postgres://postgres@127.0.0.1:5432/wiser_bench); the
database is dropped and created again before each fill (so its schema is the models' current one), so the
script refuses the `wiser` database and any `test*` one. Filling time is printed apart from the goal.
Each measurement runs in a fresh child process, which reads its own RSS high-water mark (VmHWM; see
round_plan.peak_rss_mb for why not ru_maxrss). Every figure printed is measured on this machine.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from round_plan import ANSWERS, GROWTH, PARTIES, load_average, peak_rss_mb, planned, scale_of

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/wiser_bench"
SLUG = "bench-ranking"
GOAL_SECONDS = 10.0
GOAL_MB = 1024.0
NOW = "2025-01-01 00:00:00+00"


def _database_url() -> str:
    """The benchmark's PostgreSQL URL, refusing databases that belong to the product or the test suite."""
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if parsed.scheme not in ("postgres", "postgresql"):
        raise SystemExit("DATABASE_URL must be a PostgreSQL URL.")
    if not name or name == "wiser" or name.startswith("test"):
        raise SystemExit(f"Refusing to use database {name!r}: give the benchmark its own database.")
    return url


def _create_database(url: str, *, fresh: bool = False) -> None:
    """Create the benchmark database when it does not exist yet (fresh: drop it first, so the schema is current)."""
    import psycopg
    from psycopg import sql

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if fresh:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _setup_django(url: str) -> None:
    """Django on the benchmark database, tasks in-process, no query log."""
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings

    django.setup()
    # local settings turn DEBUG on, which would keep every SQL string (snapshots included) in memory.
    settings.DEBUG = False


def _scale(args) -> dict:
    factor = 20 if args.small else 1
    return {
        "values": args.values // factor,
        "contexts": args.contexts,
        "stories": args.stories // factor,
        "votes": args.votes // factor,
        "participants": args.participants // factor,
    }


def _copy(cursor, table: str, columns: list[str], rows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def fill(scale: dict) -> tuple[int, float]:
    """Write one round at the given scale into the fresh database; returns (round id, seconds)."""
    from django.db import connection, transaction

    from deliberation.models import Context, ParticipantAttribute, Question, Round

    started = time.perf_counter()
    plan = planned(scale)
    with transaction.atomic():
        round_ = Round.objects.create(slug=SLUG, title="Ranking at scale", stage="voting")
        question = Question.objects.create(round=round_, text="How should an assistant answer?", order=0)
        contexts = [
            Context.objects.create(question=question, name=f"Context {c}", order=c)
            for c in range(scale["contexts"])
        ]
        ParticipantAttribute.objects.create(round=round_, key="party", label="Party", choices=list(PARTIES))
        context_ids = [c.pk for c in contexts]
        n_values = len(plan["value_context"])
        with connection.cursor() as dj_cursor:
            cursor = dj_cursor.cursor
            policies = json.dumps(["MOMENTS when a choice is hers", "OPTIONS she can weigh", "SIGNS of care"])
            _copy(
                cursor,
                "cards_canonicalvalue",
                [
                    "id",
                    "title",
                    "description",
                    "policies",
                    "is_active",
                    "external_id",
                    "created_at",
                    "updated_at",
                    "merged_into_id",
                    "question_id",
                    "round_id",
                ],
                (
                    (
                        i + 1,
                        f"Value {i}",
                        f"Value number {i}.",
                        policies,
                        not plan["merged"][i],
                        "",
                        NOW,
                        NOW,
                        int(plan["merge_target"][i]) + 1 if plan["merged"][i] else None,
                        question.pk,
                        round_.pk,
                    )
                    for i in range(n_values)
                ),
            )
            _copy(
                cursor,
                "cards_canonicalvalue_contexts",
                ["id", "canonicalvalue_id", "context_id"],
                ((i + 1, i + 1, context_ids[c]) for i, c in enumerate(plan["value_context"].tolist())),
            )
            _copy(
                cursor,
                "moral_graph_transitionstory",
                [
                    "id",
                    "text",
                    "origin",
                    "prompt_version",
                    "is_hidden",
                    "hidden_reason",
                    "external_id",
                    "created_at",
                    "updated_at",
                    "context_id",
                    "from_value_id",
                    "round_id",
                    "to_value_id",
                ],
                (
                    (
                        i + 1,
                        "A story.",
                        "template",
                        "bench",
                        h,
                        "off topic" if h else "",
                        "",
                        NOW,
                        NOW,
                        context_ids[c],
                        s + 1,
                        round_.pk,
                        d + 1,
                    )
                    for i, (c, s, d, h) in enumerate(
                        zip(
                            plan["story_ctx"].tolist(),
                            plan["story_src"].tolist(),
                            plan["story_dst"].tolist(),
                            plan["hidden"].tolist(),
                            strict=True,
                        )
                    )
                ),
            )
            attributes = [json.dumps({"party": p}) for p in PARTIES] + ["{}"]
            _copy(
                cursor,
                "deliberation_participant",
                [
                    "id",
                    "pseudonym",
                    "resume_token",
                    "attributes",
                    "consent_at",
                    "joined_at",
                    "is_simulated",
                    "external_id",
                    "round_id",
                ],
                (
                    (i + 1, f"bench-{i}", f"bench-token-{i}", attributes[p], NOW, NOW, True, "", round_.pk)
                    for i, p in enumerate(plan["party"].tolist())
                ),
            )
            voter = (plan["voter"] + 1).tolist()
            story = (plan["story"] + 1).tolist()
            answer = [ANSWERS[a] for a in plan["answer"].tolist()]
            _copy(
                cursor,
                "moral_graph_wiservote",
                ["id", "answer", "reason", "created_at", "updated_at", "participant_id", "story_id"],
                (
                    (i + 1, a, "", NOW, NOW, p, s)
                    for i, (a, p, s) in enumerate(zip(answer, voter, story, strict=True))
                ),
            )
            story_context = [context_ids[c] for c in plan["story_ctx"].tolist()]
            _copy(
                cursor,
                "moral_graph_wiservoterevision",
                ["id", "answer", "created_at", "round_id", "vote_id", "story_id", "participant_id", "context_id"],
                (
                    (i + 1, a, NOW, round_.pk, i + 1, s, p, story_context[s - 1])
                    for i, (a, p, s) in enumerate(zip(answer, voter, story, strict=True))
                ),
            )
            extra = zip((plan["extra_voter"] + 1).tolist(), (plan["extra_story"] + 1).tolist(), strict=True)
            _copy(
                cursor,
                "moral_graph_storyassignment",
                ["id", "created_at", "participant_id", "story_id"],
                ((i + 1, NOW, p, s) for i, (p, s) in enumerate([*zip(voter, story, strict=True), *extra])),
            )
            for table in (
                "cards_canonicalvalue",
                "cards_canonicalvalue_contexts",
                "moral_graph_transitionstory",
                "deliberation_participant",
                "moral_graph_wiservote",
                "moral_graph_wiservoterevision",
                "moral_graph_storyassignment",
            ):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - fixed table names
                    f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return round_.pk, time.perf_counter() - started


def _bench_round() -> int | None:
    """The filled round, when the database holds one whose tables still match the models."""
    from django.apps import apps
    from django.db import DatabaseError

    from deliberation.models import Round

    try:
        for label in ("deliberation", "cards", "moral_graph"):
            for model in apps.get_app_config(label).get_models():
                model.objects.first()
    except DatabaseError:
        return None
    return Round.objects.filter(slug=SLUG).values_list("pk", flat=True).first()


def _round_size(round_id: int) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COUNT(*) FROM cards_canonicalvalue WHERE round_id = %s),"
            " (SELECT COUNT(*) FROM deliberation_context c JOIN deliberation_question q ON q.id = c.question_id"
            "  WHERE q.round_id = %s),"
            " (SELECT COUNT(*) FROM moral_graph_transitionstory WHERE round_id = %s),"
            " (SELECT COUNT(*) FROM moral_graph_wiservoterevision WHERE round_id = %s),"
            " (SELECT COUNT(*) FROM deliberation_participant WHERE round_id = %s)",
            [round_id] * 5,
        )
        row = cursor.fetchone()
    return dict(zip(("values", "contexts", "stories", "votes", "participants"), row, strict=True))


def _backend_cpu(pid: int | None) -> float:
    """CPU seconds used so far by the PostgreSQL backend serving this session (0 when it is not local)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Phases:
    """Wall time and CPU (ours and the database backend's) spent in named functions, by wrapping them."""

    def __init__(self, backend: int | None):
        self.backend = backend
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.db_cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, module, name: str, label: str) -> None:
        original = getattr(module, name, None)
        if original is None:
            return

        def timed(*args, **kwargs):
            started, cpu, db_cpu = time.perf_counter(), time.process_time(), _backend_cpu(self.backend)
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started
                self.cpu[label] = self.cpu.get(label, 0.0) + time.process_time() - cpu
                self.db_cpu[label] = self.db_cpu.get(label, 0.0) + _backend_cpu(self.backend) - db_cpu
                self.calls[label] = self.calls.get(label, 0) + 1

        setattr(module, name, timed)


def _instrument(backend: int | None) -> _Phases:
    from moral_graph import bradley_terry, bridging, ranking, selectors, services
    from moral_graph.selectors import ranking_inputs

    phases = _Phases(backend)
    for name in (
        "round_watermark",
        "assignment_watermark",
        "round_stories",
        "votes_at_watermark",
        "impressions_at",
        "context_value_ids",
        "value_resolution",
        "participant_groups",
        "voter_groups",
        "run_scores",
    ):
        phases.wrap(selectors, name, f"selectors.{name}")
    phases.wrap(ranking_inputs, "resolve_merged", "ranking_inputs.resolve_merged")
    phases.wrap(services, "inputs_digest", "digest.inputs_digest")
    phases.wrap(services, "_publish", "services._publish (snapshot write)")
    phases.wrap(ranking, "rank_context", "ranking.rank_context (all)")
    for name in (
        "_prepare",
        "_prepared_edge_counts",
        "_resampled_counts",
        "_multiplier_scores",
        "_present",
        "_bt_scores",
        "_mai_scores",
        "_posterior_draws",
        "_value_rows",
        "_edge_rows",
    ):
        phases.wrap(ranking, name, f"  ranking.{name}")
    phases.wrap(bradley_terry, "fit", "    bradley_terry.fit")
    phases.wrap(bradley_terry, "bootstrap", "    bradley_terry.bootstrap")
    phases.wrap(bridging, "voter_group_codes", "  bridging.voter_group_codes")
    phases.wrap(bridging, "edge_groups", "  bridging.edge_groups")
    phases.wrap(bridging, "winner_endorsement", "  bridging.winner_endorsement")
    return phases


def _reset_runs(round_id: int) -> None:
    from deliberation.models import Job, Round
    from moral_graph.models import RankingRun

    Round.objects.filter(pk=round_id).update(current_ranking=None, ranking_dirty_since=None)
    RankingRun.objects.filter(round_id=round_id).delete()
    Job.objects.filter(round_id=round_id, kind="ranking").delete()


def _bare_pagerank_seconds(round_id: int, repeats: int = 3) -> tuple[float, int]:
    """A bare scipy.sparse PageRank (tol 1e-10) over each context's aggregated wiser edges, summed; best of a few."""
    import numpy as np
    import scipy.sparse as sp
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.context_id, s.from_value_id, s.to_value_id, COUNT(*) FROM moral_graph_wiservote v"
            " JOIN moral_graph_transitionstory s ON s.id = v.story_id"
            " WHERE s.round_id = %s AND v.answer = 'wiser' GROUP BY 1, 2, 3",
            [round_id],
        )
        rows = np.asarray(cursor.fetchall(), dtype=np.int64).reshape(-1, 4)
    graphs = []
    for c in np.unique(rows[:, 0]):
        part = rows[rows[:, 0] == c]
        ids, code = np.unique(part[:, 1:3], return_inverse=True)
        code = code.reshape(-1, 2)
        graphs.append((len(ids), code[:, 0], code[:, 1], part[:, 3].astype(np.float64)))

    def pagerank(n, src, dst, weight, damping=0.85, tol=1e-10):
        out = np.bincount(src, weights=weight, minlength=n)
        matrix = sp.csr_matrix((weight / out[src], (dst, src)), shape=(n, n))
        dangling = out == 0
        x = np.full(n, 1.0 / n)
        for _ in range(1000):
            following = damping * (matrix @ x) + (damping * x[dangling].sum() + 1 - damping) / n
            if np.abs(following - x).sum() < n * tol:
                return following
            x = following
        return x

    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for graph in graphs:
            pagerank(*graph)
        best = min(best, time.perf_counter() - started)
    return best, len(rows)


def measure(round_id: int, method: str, trace: bool) -> dict:
    """One ranking_compute in this (fresh) process: wall time, phases, RSS high-water mark, snapshot size."""
    import tracemalloc

    from django.db import connection

    from moral_graph.services import ranking_compute

    _reset_runs(round_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    baseline_mb = peak_rss_mb()
    phases = None if trace else _instrument(backend)
    if trace:
        tracemalloc.start()
    load = load_average()
    started, cpu, db_cpu = time.perf_counter(), time.process_time(), _backend_cpu(backend)
    run = ranking_compute(round_id=round_id, method=method)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    db_cpu_seconds = _backend_cpu(backend) - db_cpu
    traced_peak = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    peak_mb = peak_rss_mb()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), COALESCE(SUM(pg_column_size(results)), 0),"
            " COALESCE(SUM(octet_length(results::text)), 0)"
            " FROM moral_graph_rankingsnapshot WHERE run_id = %s",
            [run.pk],
        )
        n_snapshots, stored_bytes, text_bytes = cursor.fetchone()
    result = {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "db_cpu_seconds": db_cpu_seconds,
        "load": load,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "baseline_mb": baseline_mb,
        "peak_rss_mb": peak_mb,
        "traced_peak_mb": traced_peak / 2**20 if traced_peak is not None else None,
        "snapshots": n_snapshots,
        "snapshot_stored_mb": stored_bytes / 2**20,
        "snapshot_json_mb": text_bytes / 2**20,
        "phases": phases.seconds if phases else {},
        "cpu": phases.cpu if phases else {},
        "db_cpu": phases.db_cpu if phases else {},
        "calls": phases.calls if phases else {},
    }
    if not trace:
        result["bare_pagerank_seconds"], result["bare_edges"] = _bare_pagerank_seconds(round_id)
    return result


def _child(url: str, round_id: int, method: str, trace: bool, blas_threads: int | None) -> dict:
    command = [sys.executable, __file__, "--measure", str(round_id), "--method", method]
    if trace:
        command.append("--trace")
    env = {**os.environ, "DATABASE_URL": url}
    if blas_threads:
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(blas_threads)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"The measuring process failed ({done.returncode}).")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _report(size: dict, fill_seconds: float | None, timed: dict, traced: dict | None, method: str) -> None:
    print(
        f"round: {size['values']:,} values, {size['contexts']} contexts, {size['stories']:,} stories, "
        f"{size['votes']:,} votes, {size['participants']:,} participants; method {method}, 200 resamples"
    )
    if fill_seconds is not None:
        print(f"fill (COPY, not part of the goal): {fill_seconds:.1f} s")
    busy = timed["cpu_seconds"] + timed["db_cpu_seconds"]
    print(
        f"ranking_compute end to end: {timed['seconds']:.2f} s wall (goal <= {GOAL_SECONDS:.0f} s: "
        f"{'met' if timed['seconds'] <= GOAL_SECONDS else 'NOT met'}); load average {timed['load']:.1f} on "
        f"{os.cpu_count()} cores, OPENBLAS_NUM_THREADS={timed['blas_threads']}"
    )
    print(
        f"CPU: {timed['cpu_seconds']:.2f} s this process + {timed['db_cpu_seconds']:.2f} s its PostgreSQL backend"
        f" = {busy:.2f} s, what the wall time would be on an idle core ({'met' if busy <= GOAL_SECONDS else 'NOT met'})"
    )
    print(
        f"RSS high-water mark of the measuring process: {timed['peak_rss_mb']:.0f} MB (after Django setup"
        f" {timed['baseline_mb']:.0f} MB;"
        f" goal <= {GOAL_MB:.0f} MB: {'met' if timed['peak_rss_mb'] <= GOAL_MB else 'NOT met'})"
    )
    if traced is not None:
        print(
            f"Python + numpy allocations, tracemalloc peak: {traced['traced_peak_mb']:.0f} MB "
            f"(that run took {traced['seconds']:.1f} s under tracing)"
        )
    print(
        f"snapshots: {timed['snapshots']} rows, {timed['snapshot_json_mb']:.1f} MB of JSON, "
        f"{timed['snapshot_stored_mb']:.1f} MB stored"
    )
    bare = timed["bare_pagerank_seconds"]
    print(
        f"bare scipy.sparse PageRank on the same {timed['bare_edges']:,} per-context wiser edges: {bare * 1000:.1f} ms;"
        f" ranking_compute / bare = {timed['seconds'] / bare:.0f}x"
    )
    print(
        "where the time goes (inclusive seconds: wall, CPU of this process, CPU of the database backend; calls):"
    )
    for label, seconds in timed["phases"].items():
        print(
            f"  {label:<44} {seconds:7.2f} {timed['cpu'][label]:7.2f} {timed['db_cpu'][label]:7.2f}"
            f"  x{timed['calls'][label]}"
        )


def _filled(url: str, scale: dict, reuse: bool) -> tuple[int, dict, float | None]:
    """The round at this scale: the last fill's when reuse is set and its vote count matches, else a new fill."""
    from django.core.management import call_command
    from django.db import connections

    round_id = _bench_round() if reuse else None
    fill_seconds = None
    if round_id is None or _round_size(round_id)["votes"] != scale["votes"]:
        connections.close_all()
        _create_database(url, fresh=True)
        call_command("migrate", verbosity=0)
        round_id, fill_seconds = fill(scale)
    size = _round_size(round_id)
    connections.close_all()
    return round_id, size, fill_seconds


def _growth(url: str, args) -> int:
    """Fill each size in turn, measure ranking_compute in a fresh child, print the growth table."""
    rows = []
    for name in args.sizes.split(","):
        round_id, size, fill_seconds = _filled(url, scale_of(name, args.contexts), args.reuse)
        timed = _child(url, round_id, args.method, trace=False, blas_threads=args.blas_threads)
        rows.append((size, timed))
        fill_note = "" if fill_seconds is None else f", filled in {fill_seconds:.0f} s"
        print(f"measured {name}{fill_note}", flush=True)
    print(
        f"ranking_compute end to end on PostgreSQL, method {args.method}, 200 resamples, {os.cpu_count()} cores:"
    )
    print("| votes | values | values/context | wall | CPU process + backend | peak RSS | load |")
    print("|---|---|---|---|---|---|---|")
    for size, timed in rows:
        print(
            f"| {size['votes']:,} | {size['values']:,} | {size['values'] // size['contexts']:,} |"
            f" {timed['seconds']:.2f} s | {timed['cpu_seconds']:.2f} + {timed['db_cpu_seconds']:.2f} s |"
            f" {timed['peak_rss_mb']:.0f} MB | {timed['load']:.1f} |"
        )
    return 0


def main() -> int:
    """Fill (or reuse) the benchmark round, measure in child processes and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=10_000)
    parser.add_argument("--contexts", type=int, default=20)
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--small", action="store_true", help="1/20 of every count but the contexts.")
    parser.add_argument("--reuse", action="store_true", help="Keep the round of the previous fill.")
    parser.add_argument("--method", default="bt", help="The ranking method (default: %(default)s).")
    parser.add_argument("--no-trace", action="store_true", help="Skip the tracemalloc run.")
    parser.add_argument("--blas-threads", type=int, help="OPENBLAS_NUM_THREADS for the measuring processes.")
    parser.add_argument(
        "--growth", action="store_true", help="Fill and measure each of --sizes; print the table."
    )
    parser.add_argument("--sizes", default="0.3M,1M,3M", help=f"Sizes for --growth, of {', '.join(GROWTH)}.")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = _database_url()
    if args.measure is not None:
        _setup_django(url)
        print(json.dumps(measure(args.measure, args.method, args.trace)))
        return 0
    _create_database(url)
    _setup_django(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.growth:
        return _growth(url, args)
    round_id, size, fill_seconds = _filled(url, _scale(args), args.reuse)
    timed = _child(url, round_id, args.method, trace=False, blas_threads=args.blas_threads)
    traced = (
        None
        if args.no_trace
        else _child(url, round_id, args.method, trace=True, blas_threads=args.blas_threads)
    )
    _report(size, fill_seconds, timed, traced, args.method)
    busy = timed["cpu_seconds"] + timed["db_cpu_seconds"]
    return 0 if min(timed["seconds"], busy) <= GOAL_SECONDS and timed["peak_rss_mb"] <= GOAL_MB else 1


if __name__ == "__main__":
    sys.exit(main())
