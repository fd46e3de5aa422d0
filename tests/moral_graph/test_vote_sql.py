"""The vote statement's fast path uses Django's private connection internals: pinned to the Django they were
checked against, so an upgrade fails here first (moral_graph/vote_sql.py says what to re-read)."""

import django
from django.db import connection

from moral_graph import vote_sql


def test_the_fast_path_was_checked_against_the_installed_django():
    assert django.VERSION[:2] == vote_sql.DJANGO_CHECKED, (
        f"Django {django.get_version()} is installed but moral_graph/vote_sql.py was checked against "
        f"{vote_sql.DJANGO_CHECKED}: re-read django/db/backends/base/base.py and utils.py (health checks, "
        "execute_wrappers, wrap_database_errors, the query log), adapt vote_run/_vote_execute, then update "
        "DJANGO_CHECKED."
    )


def test_the_connection_internals_it_uses_still_exist():
    missing = [name for name in vote_sql.CONNECTION_INTERNALS if not hasattr(connection, name)]
    assert missing == []


def test_the_vote_statement_names_the_models_tables():
    for table in vote_sql.VOTE_TABLES.values():
        assert table in vote_sql.VOTE_CAST_SQL
    assert "{" not in vote_sql.VOTE_TARGET_SQL
