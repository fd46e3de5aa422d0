"""Assignments indexed by (story, id) instead of story alone (decision 51): a fanned-out part counts its own
context's impressions at the assignment watermark from the index alone.

On PostgreSQL the new index is built and the old one dropped CONCURRENTLY, outside a transaction, so a live round
keeps taking assignments during the deploy (a plain AlterField would also drop and re-validate the story foreign
key under a lock). The foreign key itself is unchanged; only Django's state learns that it has no index of its own.
"""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "moral_graph_storyassignment"
NEW = "assignment_story_id"


def _single_story_indexes(schema_editor) -> list[str]:
    """The plain indexes on story_id alone (Django's generated name for the foreign key's index)."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return [
        name
        for name, info in constraints.items()
        if info["index"] and info["columns"] == ["story_id"] and not info["unique"] and not info["primary_key"]
    ]


def _run(schema_editor, statements: list[str]) -> None:
    for statement in statements:
        schema_editor.execute(statement)


def forwards(apps, schema_editor):
    quote = schema_editor.quote_name
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    _run(schema_editor, [f"CREATE INDEX{concurrently} IF NOT EXISTS {quote(NEW)} ON {quote(TABLE)} (story_id, id)"])
    _run(schema_editor, [f"DROP INDEX{concurrently} IF EXISTS {quote(name)}" for name in _single_story_indexes(schema_editor)])


def backwards(apps, schema_editor):
    quote = schema_editor.quote_name
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    if not _single_story_indexes(schema_editor):
        old = schema_editor._create_index_name(TABLE, ["story_id"], suffix="")  # the name Django gives it
        _run(schema_editor, [f"CREATE INDEX{concurrently} {quote(old)} ON {quote(TABLE)} (story_id)"])
    _run(schema_editor, [f"DROP INDEX{concurrently} IF EXISTS {quote(NEW)}"])


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("deliberation", "0007_attribute_translations"),
        ("moral_graph", "0008_snapshot_results_json"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="storyassignment",
                    index=models.Index(fields=["story", "id"], name=NEW),
                ),
                migrations.AlterField(
                    model_name="storyassignment",
                    name="story",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="assignments",
                        to="moral_graph.transitionstory",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards, atomic=False)],
        ),
    ]
