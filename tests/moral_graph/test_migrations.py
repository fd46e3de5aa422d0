"""Data migrations on existing rows."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from moral_graph import selectors
from moral_graph.models import RankingSnapshot, WiserVote, WiserVoteRevision
from moral_graph.services import ranking_compute
from tests.factories import voting_round
from tests.reliability.invariants import cast_votes


@pytest.mark.django_db(transaction=True)
def test_revisions_get_their_votes_story_participant_and_context():
    round_, people = voting_round("migrate-revisions", people=4)
    cast_votes(people)
    vote = WiserVote.objects.order_by("pk").first()
    vote.answer = "not_sure"
    vote.save()
    WiserVoteRevision.objects.create(
        vote=vote,
        round=round_,
        answer="not_sure",
        story_id=vote.story_id,
        participant_id=vote.participant_id,
        context_id=vote.story.context_id,
    )
    expected = {
        r.pk: (r.vote.story_id, r.vote.participant_id, r.vote.story.context_id)
        for r in WiserVoteRevision.objects.select_related("vote__story")
    }
    assert len(expected) > 4
    executor = MigrationExecutor(connection)
    try:
        # Back to before the columns existed (the rows stay), then forward: the migration fills them in.
        executor.migrate([("moral_graph", "0006_ranking_part_inputs_uncompressed")])
        executor = MigrationExecutor(connection)
        executor.migrate([("moral_graph", "0007_revision_context")])
    finally:
        call_command("migrate", verbosity=0)
    copied = {
        r.pk: (r.story_id, r.participant_id, r.context_id) for r in WiserVoteRevision.objects.all()
    }
    assert copied == expected


@pytest.mark.django_db(transaction=True)
def test_snapshots_keep_their_results_when_the_column_becomes_json():
    round_, people = voting_round("migrate-snapshots", people=4)
    cast_votes(people)
    run = ranking_compute(round_id=round_.pk, fanout=False)
    before = {s.pk: s.results for s in RankingSnapshot.objects.filter(run=run)}
    assert before and all(r["values"] for r in before.values())
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("moral_graph", "0007_revision_context")])
        executor = MigrationExecutor(connection)
        executor.migrate([("moral_graph", "0008_snapshot_results_json")])
    finally:
        call_command("migrate", verbosity=0)
    assert {s.pk: s.results for s in RankingSnapshot.objects.filter(run=run)} == before
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT data_type FROM information_schema.columns"
                " WHERE table_name = 'moral_graph_rankingsnapshot' AND column_name = 'results'"
            )
            assert cursor.fetchone()[0] == "json"
        # Scores read inside the database (json_array_elements) are the stored ones.
        assert selectors.run_scores(run_id=run.pk) == {
            s.context_id: {v["valueId"]: v["score"] for v in before[s.pk]["values"]}
            for s in RankingSnapshot.objects.filter(run=run, context__isnull=False)
        }


@pytest.mark.django_db
def test_each_snapshot_keeps_its_scores_apart_and_the_warm_start_reads_them():
    round_, people = voting_round("snapshot-scores", people=4)
    cast_votes(people)
    run = ranking_compute(round_id=round_.pk, fanout=False)
    snapshots = list(RankingSnapshot.objects.filter(run=run, context__isnull=False))
    assert snapshots
    for snapshot in snapshots:
        assert snapshot.scores == [[v["valueId"], v["score"]] for v in snapshot.results["values"]]
    # The warm start takes the column, not the results: a changed score there is what it reads.
    first = snapshots[0]
    first.scores = [[value_id, 0.5] for value_id, _ in first.scores]
    first.save(update_fields=["scores"])
    read = selectors.run_scores(run_id=run.pk)
    assert set(read[first.context_id].values()) == {0.5}
    for snapshot in snapshots[1:]:
        assert read[snapshot.context_id] == {value_id: score for value_id, score in snapshot.scores}


@pytest.mark.django_db(transaction=True)
def test_the_assignments_story_index_becomes_story_and_id_and_back():
    # Decision 51: migration 0009 replaces the story foreign key's own index by (story, id), outside a transaction
    # (concurrently on PostgreSQL), and its reverse puts the old one back.
    def story_indexes() -> dict[str, list[str]]:
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, "moral_graph_storyassignment")
        return {
            name: info["columns"]
            for name, info in constraints.items()
            if info["index"] and not info["unique"] and not info["primary_key"] and info["columns"][0] == "story_id"
        }

    assert story_indexes() == {"assignment_story_id": ["story_id", "id"]}
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("moral_graph", "0008_snapshot_results_json")])
        assert list(story_indexes().values()) == [["story_id"]]
        executor = MigrationExecutor(connection)
        executor.migrate([("moral_graph", "0009_assignment_story_id")])
        assert story_indexes() == {"assignment_story_id": ["story_id", "id"]}
    finally:
        call_command("migrate", verbosity=0)
