"""Assignments indexed by (story, id) instead of story alone (decision 51): a fanned-out part counts its own
context's impressions at the assignment watermark from the index alone. The new index is built before the old
one is dropped, so lookups by story always have one."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deliberation", "0007_attribute_translations"),
        ("moral_graph", "0008_snapshot_results_json"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="storyassignment",
            index=models.Index(fields=["story", "id"], name="assignment_story_id"),
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
    ]
