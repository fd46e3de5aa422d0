"""Ranking snapshots' results as PostgreSQL json instead of jsonb (decision 48): the same text, not converted; and
their scores apart, for the next run's warm start.

Existing rows are converted by the assignment cast from jsonb (SQLite keeps its text column); their scores stay null
and are read from their results."""

from django.db import migrations

import moral_graph.models


class Migration(migrations.Migration):
    dependencies = [
        ("moral_graph", "0007_revision_context"),
    ]

    operations = [
        migrations.AlterField(
            model_name="rankingsnapshot",
            name="results",
            field=moral_graph.models.StoredJSONField(),
        ),
        migrations.AddField(
            model_name="rankingsnapshot",
            name="scores",
            field=moral_graph.models.StoredJSONField(blank=True, null=True),
        ),
    ]
