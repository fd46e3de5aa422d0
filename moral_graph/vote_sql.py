"""The vote statement's fast path: one prepared raw statement per vote on PostgreSQL, run through Django's
connection internals.

`vote_cast` (moral_graph.services) reads every precondition of a vote and, on PostgreSQL, writes the vote, its
first revision and the round's dirty flag in one statement (one round trip), prepared once per connection. To do
that it steps under Django's public API: it skips the per-request health check (`health_check_done`), runs
psycopg's cursor on the raw connection with Django's `execute_wrappers`, `wrap_database_errors` and query log
(`queries_logged`, `queries_log`) reproduced by hand. Those are private to Django, so they live here, in one
module, and `tests/moral_graph/test_vote_sql.py` fails loudly when Django's minor version is not the one they
were checked against (DJANGO_CHECKED): re-read `django/db/backends/base/base.py` and `utils.py`, then update it.
Other databases use `VOTE_TARGET_SQL` through an ordinary cursor and the ORM (`services._vote_insert_portable`).
"""

import functools
import logging
import time

from django.db import InterfaceError, OperationalError, connection

from deliberation.models import Participant, Round
from moral_graph.models import StoryAssignment, TransitionStory, WiserVote, WiserVoteRevision

log = logging.getLogger("moral_graph.services")

# The Django (major, minor) whose connection internals this module was checked against.
DJANGO_CHECKED = (5, 2)
# The private connection attributes it uses (the test checks they still exist).
CONNECTION_INTERNALS = (
    "health_check_done",
    "close_if_health_check_failed",
    "execute_wrappers",
    "wrap_database_errors",
    "queries_logged",
    "queries_log",
)


def vote_run(sql: str, params: dict) -> tuple | None:
    """One raw statement; on PostgreSQL prepared once per connection, so the server does not re-plan each vote.

    Outside a transaction the connection's health check (a `SELECT 1` round trip per request) is skipped: the
    vote statement is its own check. When a kept connection turns out dead (PostgreSQL restarted, an idle
    connection cut), the statement runs once more on a new one; that is safe because it is idempotent: had the
    first attempt committed before the connection died, the second finds that vote and returns it.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    if connection.in_atomic_block or connection.connection is None:
        connection.close_if_health_check_failed()
        return _vote_execute(sql, params)
    connection.health_check_done = True
    try:
        return _vote_execute(sql, params)
    except (OperationalError, InterfaceError):
        log.info("the database connection was lost during a vote; retrying once on a new connection")
        connection.close()
        return _vote_execute(sql, params)


def _vote_execute(sql: str, params: dict) -> tuple | None:
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:

        def execute(sql, params, many, context):
            return cursor.execute(sql, params, prepare=True)

        # What Django's own cursor does around a query: its execute wrappers, and the query log when on.
        for wrapper in reversed(connection.execute_wrappers):
            execute = functools.partial(wrapper, execute)
        started = time.monotonic()
        execute(sql, params, False, {"connection": connection, "cursor": cursor})
        if connection.queries_logged:
            connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
        return cursor.fetchone()


VOTE_TABLES = {
    "story": TransitionStory._meta.db_table,
    "round": Round._meta.db_table,
    "participant": Participant._meta.db_table,
    "assignment": StoryAssignment._meta.db_table,
    "vote": WiserVote._meta.db_table,
    "revision": WiserVoteRevision._meta.db_table,
}

# Every precondition of a vote in one read (portable SQL): the story's round and visibility, the round's stage,
# whether the participant still exists in their round, the assignment, and an earlier vote on the story.
VOTE_TARGET_SQL = """
SELECT s.round_id AS story_round, s.is_hidden AS hidden,
    -- A voting round whose closing date has passed is closed, unless its stage was set after that date.
    CASE WHEN r.stage = %(voting)s AND r.closes_at <= %(at)s
        AND (r.stage_changed_at IS NULL OR r.stage_changed_at < r.closes_at)
        THEN %(closed)s ELSE r.stage END AS stage,
    EXISTS (SELECT 1 FROM {participant} p WHERE p.id = %(participant)s AND p.round_id = %(round)s) AS known,
    EXISTS (SELECT 1 FROM {assignment} a WHERE a.participant_id = %(participant)s AND a.story_id = s.id)
        AS assigned,
    v.id AS prior_id, v.answer AS prior_answer, v.reason AS prior_reason,
    s.context_id AS story_context
FROM {story} s
JOIN {round} r ON r.id = s.round_id
LEFT JOIN {vote} v ON v.participant_id = %(participant)s AND v.story_id = s.id
WHERE s.id = %(story)s
"""

# On PostgreSQL the same read and, when every precondition holds, the vote, its first revision and the round's
# dirty flag, in one atomic statement (one round trip); the unique constraint settles concurrent first votes.
VOTE_CAST_SQL = (
    "WITH target AS ("  # noqa: S608 - the models' own table names
    + VOTE_TARGET_SQL
    + """), vote AS (
    INSERT INTO {vote} (participant_id, story_id, answer, reason, created_at, updated_at)
    SELECT %(participant)s, %(story)s, %(answer)s, %(reason)s, %(now)s, %(now)s FROM target
    WHERE story_round = %(round)s AND NOT hidden AND stage = %(voting)s AND known AND assigned
        AND prior_id IS NULL
    ON CONFLICT (participant_id, story_id) DO NOTHING
    RETURNING id
), revision AS (
    INSERT INTO {revision} (vote_id, round_id, answer, created_at, story_id, participant_id, context_id)
    SELECT id, %(round)s, %(answer)s, %(now)s, %(story)s, %(participant)s, (SELECT story_context FROM target)
    FROM vote
), dirty AS (
    UPDATE {round} SET ranking_dirty_since = %(now)s
    WHERE id = %(round)s AND ranking_dirty_since IS NULL AND EXISTS (SELECT 1 FROM vote)
    RETURNING id
)
SELECT target.*, (SELECT id FROM vote), (SELECT count(*) FROM dirty) FROM target
"""
).format(**VOTE_TABLES)
VOTE_TARGET_SQL = VOTE_TARGET_SQL.format(**VOTE_TABLES)
