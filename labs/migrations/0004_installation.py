import secrets

import django.utils.timezone
from django.db import migrations, models

import labs.models


def create_installation(apps, schema_editor):
    Installation = apps.get_model("labs", "Installation")
    if not Installation.objects.exists():
        Installation.objects.create(key=secrets.token_hex(6))


class Migration(migrations.Migration):
    dependencies = [("labs", "0003_cluster_public_server")]

    operations = [
        migrations.CreateModel(
            name="Installation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "key",
                    models.CharField(
                        default=labs.models._new_installation_key, max_length=12, unique=True
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.RunPython(create_installation, migrations.RunPython.noop),
    ]
