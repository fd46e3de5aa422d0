import django.db.models.deletion
from django.db import migrations, models


def copy_from_votes(apps, schema_editor):
    """Every revision gets its vote's story and participant and the story's context (one statement per column
    set; PostgreSQL and SQLite 3.33+ both take UPDATE ... FROM)."""
    schema_editor.execute(
        "UPDATE moral_graph_wiservoterevision SET story_id = v.story_id, participant_id = v.participant_id,"
        " context_id = s.context_id FROM moral_graph_wiservote v JOIN moral_graph_transitionstory s"
        " ON s.id = v.story_id WHERE v.id = moral_graph_wiservoterevision.vote_id"
    )


def digests_from_results(apps, schema_editor):
    """Snapshots computed after digests were recorded in their results get the column too."""
    Snapshot = apps.get_model("moral_graph", "RankingSnapshot")
    for pk, digest in Snapshot.objects.values_list("pk", "results__parameters__inputsDigest").iterator():
        if isinstance(digest, str):
            Snapshot.objects.filter(pk=pk).update(inputs_digest=digest)


# The vote's story and participant, and the story's context, copied onto each revision (decision 46).
COPIED = [
    ("story", "moral_graph.transitionstory"),
    ("participant", "deliberation.participant"),
    ("context", "deliberation.context"),
]


def _copied(to: str, *, null: bool) -> models.ForeignKey:
    return models.ForeignKey(
        db_constraint=False,
        db_index=False,
        null=null,
        on_delete=django.db.models.deletion.DO_NOTHING,
        related_name="+",
        to=to,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("deliberation", "0007_attribute_translations"),
        ("moral_graph", "0006_ranking_part_inputs_uncompressed"),
    ]

    operations = [
        # Nullable while the existing revisions are filled in, then required.
        *(migrations.AddField("wiservoterevision", name, _copied(to, null=True)) for name, to in COPIED),
        migrations.RunPython(copy_from_votes, migrations.RunPython.noop),
        *(migrations.AlterField("wiservoterevision", name, _copied(to, null=False)) for name, to in COPIED),
        migrations.AddIndex(
            model_name="wiservoterevision",
            index=models.Index(
                fields=["context", "id"],
                include=["vote", "answer", "participant", "story"],
                name="revision_context_answers",
            ),
        ),
        migrations.AddField(
            model_name="rankingsnapshot",
            name="inputs_digest",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.RunPython(digests_from_results, migrations.RunPython.noop),
        migrations.AddField(
            model_name="rankingsnapshot",
            name="origin",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='rankingpart',
            name='inputs',
            field=models.BinaryField(help_text="The part's spec (numpy .npz): its context's impressions, placed values, the round's merges and the previous snapshot's digest; the part reads its context's votes itself."),
        ),
    ]
