from django.db import migrations


def uncompressed(apps, schema_editor):
    """The parts' inputs are numpy arrays written once and read once: compressing them (pglz) cost more than the
    ranking itself saved by the fan-out, so PostgreSQL stores them out of line as they are."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE moral_graph_rankingpart ALTER COLUMN inputs SET STORAGE EXTERNAL")


class Migration(migrations.Migration):

    dependencies = [
        ("moral_graph", "0005_story_round_updated_index"),
    ]

    operations = [migrations.RunPython(uncompressed, migrations.RunPython.noop)]
