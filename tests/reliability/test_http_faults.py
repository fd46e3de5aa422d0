"""The database connection dropped mid-request, 50 identical votes at once, and reports read during recomputes."""

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import psycopg
import pytest
from django.db import close_old_connections, connection, connections
from django.test import Client

from deliberation.auth import participant_token
from moral_graph import services
from moral_graph.models import RankingRun, RankingSnapshot, StoryAssignment, WiserVote, WiserVoteRevision
from moral_graph.selectors.report import report_build
from tests.factories import voting_round
from tests.reliability.conftest import database_url
from tests.reliability.invariants import (
    assert_snapshots_reproduce,
    assert_votes_stored_once,
    cast_votes,
)

pytestmark = [pytest.mark.needs_postgres, pytest.mark.django_db(transaction=True)]


def _terminate(pid: int) -> None:
    """Kill a PostgreSQL backend from another connection, as a failover or an administrator would."""
    with psycopg.connect(database_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        for _ in range(100):
            if admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone() is None:
                return
            admin.execute("SELECT pg_sleep(0.02)")


class DropConnectionAt:
    """An execute wrapper that terminates this thread's database connection just before its n-th query."""

    def __init__(self, n: int):
        self.n, self.seen, self.fired = n, 0, False

    def __call__(self, execute, sql, params, many, context):
        self.seen += 1
        if self.seen == self.n:
            self.fired = True
            _terminate(connection.connection.info.backend_pid)
        return execute(sql, params, many, context)


def test_a_dropped_database_connection_fails_the_request_cleanly_and_the_next_one_works():
    round_, people = voting_round("db-drop", people=4)
    person = people[0]
    stories = services.assignments_take(participant=person)
    client = Client(
        raise_request_exception=False, HTTP_AUTHORIZATION=f"Participant {participant_token(person)}"
    )
    connection.ensure_connection()
    failures = 0
    for n, story in enumerate(stories, start=1):
        url = f"/api/v1/stories/{story.pk}/vote/"
        drop = DropConnectionAt(n)
        with connection.execute_wrapper(drop):
            response = client.post(url, {"answer": "wiser"}, content_type="application/json")
        if not drop.fired:
            assert response.status_code == 201
            break
        failures += 1
        # What a real server does when a request ends (the test client skips it): drop an unusable connection.
        close_old_connections()
        assert response.status_code in (201, 503), (response.status_code, response.content[:300])
        # Nothing half-written: a vote exists exactly when its revision does.
        votes = WiserVote.objects.filter(participant=person, story=story).count()
        assert votes == WiserVoteRevision.objects.filter(vote__participant=person, vote__story=story).count()
        assert votes == (1 if response.status_code == 201 else votes)
        retry = client.post(url, {"answer": "wiser"}, content_type="application/json")
        assert retry.status_code in (200, 201), retry.content
        assert WiserVote.objects.filter(participant=person, story=story).count() == 1
        assert WiserVoteRevision.objects.filter(vote__participant=person, vote__story=story).count() == 1
    assert failures >= 1, "the drop hit the vote request (on PostgreSQL one statement checks and inserts)"


def test_a_connection_dropped_under_a_read_or_a_join_answers_503_with_the_error_body():
    # Outside the vote (which runs its one statement again), a dropped connection fails the request: with the
    # one error body and Retry-After, never a 500; the client's retry then succeeds.
    round_, people = voting_round("db-drop-read", people=3)
    person = people[0]
    participant = Client(
        raise_request_exception=False, HTTP_AUTHORIZATION=f"Participant {participant_token(person)}"
    )
    requests = [
        (participant, "get", f"/api/v1/rounds/{round_.slug}/me/", None),
        (participant, "get", f"/api/v1/rounds/{round_.slug}/stories/assigned/", None),
        (Client(raise_request_exception=False), "get", f"/api/v1/rounds/{round_.slug}/", None),
        (
            Client(raise_request_exception=False),
            "post",
            f"/api/v1/rounds/{round_.slug}/join/",
            {"token": round_.join_token, "consent": True},
        ),
    ]
    for client, method, url, body in requests:
        connection.ensure_connection()
        drop = DropConnectionAt(1)
        with connection.execute_wrapper(drop):
            if method == "get":
                response = client.get(url)
            else:
                response = client.post(url, body, content_type="application/json")
        close_old_connections()
        assert drop.fired, url
        assert response.status_code == 503, (url, response.status_code, response.content[:300])
        assert response.json()["error"]["code"] == "unavailable" and response["Retry-After"] == "5"
        retry = client.get(url) if method == "get" else client.post(url, body, content_type="application/json")
        assert retry.status_code in (200, 201), (url, retry.status_code)


def test_a_kept_connection_cut_while_idle_is_replaced_and_the_vote_is_stored_once():
    # The vote skips the per-request health check; a connection that died between requests (PostgreSQL
    # restarted, a proxy's idle timeout) is replaced and the statement run again, answering as if nothing happened.
    round_, people = voting_round("db-idle-cut", people=4)
    person = people[0]
    first, second = services.assignments_take(participant=person)[:2]
    client = Client(HTTP_AUTHORIZATION=f"Participant {participant_token(person)}")
    assert (
        client.post(
            f"/api/v1/stories/{first.pk}/vote/", {"answer": "wiser"}, content_type="application/json"
        ).status_code
        == 201
    )
    connection.ensure_connection()
    _terminate(connection.connection.info.backend_pid)
    response = client.post(
        f"/api/v1/stories/{second.pk}/vote/", {"answer": "not_sure"}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert WiserVote.objects.filter(participant=person, story=second).count() == 1
    assert WiserVoteRevision.objects.filter(vote__participant=person, vote__story=second).count() == 1


def test_fifty_identical_votes_at_once_store_one_vote_and_answer_every_request_alike(live_server):
    round_, people = voting_round("fifty", people=4)
    person = people[0]
    story = services.assignments_take(participant=person)[0]
    assert StoryAssignment.objects.filter(participant=person, story=story).exists()
    address = urlparse(live_server.url)
    headers = {
        "Authorization": f"Participant {participant_token(person)}",
        "Content-Type": "application/json",
    }
    body = json.dumps({"answer": "wiser", "reason": "Kinder."})
    start = threading.Barrier(50)

    def send(conn: http.client.HTTPConnection) -> tuple[int, dict]:
        conn.request("POST", f"/api/v1/stories/{story.pk}/vote/", body, headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())

    def vote(_: int) -> tuple[int, dict]:
        conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        try:
            conn.connect()  # connected first (the test server's listen queue is short), then all send at once
            start.wait()
            try:
                return send(conn)
            except ConnectionResetError:
                # The test server's short accept queue dropped the connection before the request was read; a
                # client retries the same vote, which is exactly what must stay idempotent.
                conn.close()
                conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
                return send(conn)
        finally:
            conn.close()

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(vote, range(50)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 49 + [201], statuses
    assert len({json.dumps(body, sort_keys=True) for _, body in results}) == 1
    assert WiserVote.objects.filter(participant=person, story=story).count() == 1
    assert WiserVoteRevision.objects.filter(vote__participant=person, vote__story=story).count() == 1


def test_a_reader_polling_the_report_during_recomputes_sees_whole_runs_only():
    round_, people = voting_round("atomic-report", people=8)
    expected = cast_votes(people[:2])
    services.ranking_compute(round_id=round_.pk)
    seen: list[dict] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                seen.append(report_build(round_=type(round_).objects.get(pk=round_.pk)))
        finally:
            connections.close_all()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for person in people[2:]:
            expected |= cast_votes([person])
            services.ranking_compute(round_id=round_.pk)
    finally:
        done.set()
        reader.join(timeout=60)
    runs = {r.watermark: r for r in RankingRun.objects.filter(round=round_)}
    assert len(runs) >= len(people) - 1
    observed = {report["ranking"]["watermark"] for report in seen}
    assert len(observed) >= 2, "the reader saw at least one switch"
    for report in seen:
        run = runs[report["ranking"]["watermark"]]
        snapshots = {s.context_id: s.results for s in RankingSnapshot.objects.filter(run=run)}
        contexts = [c for q in report["questions"] for c in q["contexts"]]
        assert {c["id"] for c in contexts} == set(snapshots)
        for context in contexts:
            stored = snapshots[context["id"]]
            assert context["nVotes"] == stored.get("nVotes", 0)
            assert [v["valueId"] for v in context["values"]] == [v["valueId"] for v in stored["values"]]
    assert_votes_stored_once(round_, expected)
    assert_snapshots_reproduce(round_)
