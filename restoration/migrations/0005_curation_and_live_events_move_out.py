"""The curation models move to the curation app and the live-event outbox to the
frontend app's live package; their tables keep their names, so only the state moves."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('restoration', '0004_curation'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables stay as they are; only Django's model state moves.
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(
                    name='LiveEvent',
                ),
                migrations.RemoveField(
                    model_name='review',
                    name='excerpt_clip',
                ),
                migrations.RemoveField(
                    model_name='review',
                    name='opened_by',
                ),
                migrations.RemoveField(
                    model_name='review',
                    name='render_job',
                ),
                migrations.RemoveField(
                    model_name='review',
                    name='variant',
                ),
                migrations.RemoveField(
                    model_name='reviewnote',
                    name='review',
                ),
                migrations.RemoveField(
                    model_name='reviewevent',
                    name='review',
                ),
                migrations.RemoveField(
                    model_name='reviewevent',
                    name='by',
                ),
                migrations.RemoveField(
                    model_name='reviewnote',
                    name='author',
                ),
                migrations.DeleteModel(
                    name='Publication',
                ),
                migrations.DeleteModel(
                    name='Review',
                ),
                migrations.DeleteModel(
                    name='ReviewEvent',
                ),
                migrations.DeleteModel(
                    name='ReviewNote',
                ),
            ],
        ),
    ]
