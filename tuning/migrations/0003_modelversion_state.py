from django.db import migrations, models


class Migration(migrations.Migration):
    """Model versions get a state. The versions already there were promotable: they become evaluated;
    a new row starts trained."""

    dependencies = [
        ("tuning", "0002_lifecycle"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="state",
            field=models.CharField(
                choices=[
                    ("trained", "Trained, waiting for evaluation"),
                    ("evaluating", "Evaluating"),
                    ("evaluated", "Evaluated"),
                    ("evaluation_failed", "Evaluation failed"),
                ],
                default="evaluated",
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="modelversion",
            name="state",
            field=models.CharField(
                choices=[
                    ("trained", "Trained, waiting for evaluation"),
                    ("evaluating", "Evaluating"),
                    ("evaluated", "Evaluated"),
                    ("evaluation_failed", "Evaluation failed"),
                ],
                default="trained",
                max_length=20,
            ),
        ),
    ]
