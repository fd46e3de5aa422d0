"""MAI conformance: import their 2023 dump, rank in compatibility mode, compare every edge of their moral graph.

Run from the project root: .venv/bin/python bench/conformance_mai.py [--data ../shared/eval/mai-dft-2023]
It works in a throwaway database made the way the test runner makes one, on whatever DATABASE_URL names:
an in-memory SQLite database without it (and WISER_VAR_DIR in a temporary directory, so var/ is never
touched), a new PostgreSQL database "<name>_conformance_<random>" with it, dropped at the end.
Exits non-zero when any edge differs.
"""

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "eval" / "mai-dft-2023"
CUTOFF = "2023-10-18"
METHOD = "mai_pagerank"


def _setup_django() -> tempfile.TemporaryDirectory | None:
    """Set Django up; without DATABASE_URL, point WISER_VAR_DIR at a temporary directory."""
    scratch = None
    if not os.environ.get("DATABASE_URL"):
        scratch = tempfile.TemporaryDirectory(prefix="wiser-conformance-")
        os.environ["WISER_VAR_DIR"] = scratch.name
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return scratch


def _throwaway_database() -> str:
    """Create and migrate a scratch database for the default connection; returns the real database's name."""
    from django.db import connection

    original = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite":
        test = connection.settings_dict.setdefault("TEST", {})
        test["NAME"] = f"{original}_conformance_{secrets.token_hex(4)}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    return original


def main() -> int:
    """Import, rank, export and compare; prints a summary and returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="The dump directory.")
    parser.add_argument("--votes-before", default=CUTOFF, help="The vote cutoff (default: %(default)s).")
    args = parser.parse_args()
    graph_file = args.data / "moral_graph_all.json"
    if not graph_file.exists():
        print(f"{graph_file} is missing: give the dump's directory with --data.", file=sys.stderr)
        return 2

    scratch = _setup_django()
    from django.db import connection

    from deliberation.models import Round
    from moral_graph.exports import export_build, export_verify, mai_graph_compare
    from moral_graph.importer import mai_dump_import, parse_cutoff
    from moral_graph.services import ranking_compute

    original = _throwaway_database()
    try:
        started = time.perf_counter()
        summary = mai_dump_import(
            directory=args.data, slug="conformance-mai", votes_before=parse_cutoff(args.votes_before)
        )
        imported = time.perf_counter()
        run = ranking_compute(round_id=summary.round_id, method=METHOD)
        ranked = time.perf_counter()
        if run is None:
            print("The ranking could not start (its lock is held).", file=sys.stderr)
            return 2
        data = export_build(round_=Round.objects.get(pk=summary.round_id))
        verification = export_verify(data)
        result = mai_graph_compare(data, json.loads(graph_file.read_text(encoding="utf-8")))
    finally:
        connection.creation.destroy_test_db(original, verbosity=0)
        if scratch is not None:
            scratch.cleanup()

    print(f"data: {args.data}  votes before {args.votes_before}  method {METHOD}")
    print(
        f"imported {summary.values} values, {summary.participants} participants, {summary.stories} stories, "
        f"{summary.votes} votes ({summary.votes_after_cutoff} later votes left out) in {imported - started:.1f} s; "
        f"ranked {len(data['rankings'])} contexts in {ranked - imported:.1f} s"
    )
    print(
        f"export recomputed from its own votes: {verification.values_checked} values, "
        f"{verification.edges_checked} edges, {verification.mismatches} mismatches"
    )
    print(
        f"MAI edges compared: {result.compared}, matched: {result.matched}, mismatched: {len(result.differences)}"
    )
    print("checked per edge: markedWiser, markedNotWiser, markedLessWise, markedUnsure, wiserLikelihood,")
    print(
        "  and MAI's impressions (answers on the story and its reverse) and entropy, recomputed from our counts"
    )
    for line in result.differences:
        print(f"  DIFF {line}")
    print(
        f"MAI's keep rule (W >= 2, wiserLikelihood >= 0.33, entropy <= 1.69) on all our pairs keeps {result.kept}: "
        f"{len(result.kept_missing)} of their edges not kept, {len(result.kept_extra)} kept that they do not have"
    )
    for line in result.kept_missing:
        print(f"  NOT KEPT {line}")
    for line in result.kept_extra:
        print(f"  EXTRA {line}")
    failed = (
        bool(result.differences or result.kept_missing or result.kept_extra)
        or verification.mismatches > 0
        or result.compared == 0
    )
    print("CONFORMANCE FAILED" if failed else "CONFORMANCE OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
