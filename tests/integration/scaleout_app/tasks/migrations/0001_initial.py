from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []  # noqa: RUF012 - Django reads these
    operations = [  # noqa: RUF012
        migrations.CreateModel(
            name="Task",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("payload", models.CharField(max_length=200)),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("done_at", models.DateTimeField(blank=True, null=True)),
                ("done_by", models.CharField(blank=True, max_length=100)),
                ("release", models.CharField(blank=True, max_length=300)),
                ("version", models.CharField(blank=True, max_length=40)),
                ("pid", models.IntegerField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name="JobRun",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("host", models.CharField(max_length=100)),
                ("version", models.CharField(max_length=40)),
                ("started", models.DateTimeField()),
                ("finished", models.DateTimeField(blank=True, null=True)),
            ],
        ),
    ]
