"""The Instructors group: membership makes a user an instructor who can be assigned to
cohorts. What an instructor may see is decided per cohort in courseware/access.py."""

from django.db import migrations

GROUP = "Instructors"


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=GROUP)


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("courseware", "0002_cohorts"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
