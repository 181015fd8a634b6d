"""The live-event outbox, moved from the restoration app with its table unchanged."""

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables stay as they are; only Django's model state moves.
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='LiveEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('topic', models.CharField(db_index=True, max_length=100)),
                        ('payload', models.JSONField()),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                    ],
                    options={
                        'db_table': 'restoration_liveevent',
                    },
                ),
            ],
        ),
    ]
