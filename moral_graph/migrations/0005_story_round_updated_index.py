from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("moral_graph", "0004_ranking_part"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="transitionstory",
            index=models.Index(fields=["round", "updated_at"], name="moral_graph_round_i_a2f2ac_idx"),
        ),
    ]
