"""Curation's models, moved from the restoration app with their tables unchanged."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MODELS = ("review", "reviewevent", "reviewnote", "publication")


def move_content_types(apps, schema_editor):
    """Keep the models' content types (and so their permissions) under the new app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="restoration", model__in=MODELS).update(app_label="curation")


def move_content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="curation", model__in=MODELS).update(app_label="restoration")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('restoration', '0005_curation_and_live_events_move_out'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables stay as they are; only Django's model state moves.
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Review',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('pending_review', 'pending review'), ('changes_requested', 'changes requested'), ('approved', 'approved'), ('published', 'published')], default='pending_review', max_length=20)),
                        ('excerpt_start', models.PositiveIntegerField(blank=True, help_text="first frame, in the clip's numbering", null=True)),
                        ('excerpt_end', models.PositiveIntegerField(blank=True, help_text='exclusive', null=True)),
                        ('before_excerpt', models.FileField(blank=True, max_length=300, upload_to='')),
                        ('after_excerpt', models.FileField(blank=True, max_length=300, upload_to='')),
                        ('excerpt_error', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('excerpt_clip', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='restoration.clip')),
                        ('opened_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('render_job', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='reviews', to='restoration.renderjob')),
                        ('variant', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='reviews', to='restoration.variant')),
                    ],
                    options={
                        'db_table': 'restoration_review',
                        'ordering': ['-updated_at'],
                    },
                ),
                migrations.CreateModel(
                    name='Publication',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('slug', models.SlugField(max_length=80, unique=True)),
                        ('title', models.CharField(max_length=200)),
                        ('year', models.PositiveIntegerField(blank=True, null=True)),
                        ('credits', models.TextField(blank=True)),
                        ('restoration_notes', models.TextField(blank=True)),
                        ('restored', models.FileField(help_text='the restored video the public plays', max_length=300, upload_to='')),
                        ('before', models.FileField(blank=True, help_text='source excerpt', max_length=300, upload_to='')),
                        ('after', models.FileField(blank=True, help_text='restored excerpt, same frames', max_length=300, upload_to='')),
                        ('poster', models.FileField(blank=True, max_length=300, upload_to='')),
                        ('has_audio', models.BooleanField(default=False)),
                        ('vote_record', models.JSONField(blank=True, default=dict)),
                        ('is_public', models.BooleanField(db_index=True, default=False)),
                        ('published_at', models.DateTimeField(blank=True, null=True)),
                        ('unpublished_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('clip', models.ForeignKey(blank=True, help_text='empty for a whole film', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='publications', to='restoration.clip')),
                        ('film', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='publications', to='restoration.film')),
                        ('published_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('unpublished_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('review', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='publication', to='curation.review')),
                    ],
                    options={
                        'db_table': 'restoration_publication',
                        'ordering': ['-published_at', '-pk'],
                    },
                ),
                migrations.CreateModel(
                    name='ReviewEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('from_status', models.CharField(blank=True, max_length=20)),
                        ('to_status', models.CharField(max_length=20)),
                        ('comment', models.TextField(blank=True)),
                        ('at', models.DateTimeField(auto_now_add=True)),
                        ('by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('review', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='events', to='curation.review')),
                    ],
                    options={
                        'db_table': 'restoration_reviewevent',
                        'ordering': ['at', 'pk'],
                    },
                ),
                migrations.CreateModel(
                    name='ReviewNote',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('frame', models.PositiveIntegerField(help_text='frame number in the excerpt shown')),
                        ('x', models.FloatField()),
                        ('y', models.FloatField()),
                        ('text', models.TextField()),
                        ('resolved', models.BooleanField(default=False)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('author', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('review', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='notes', to='curation.review')),
                    ],
                    options={
                        'db_table': 'restoration_reviewnote',
                        'ordering': ['frame', 'created_at'],
                    },
                ),
                migrations.AddConstraint(
                    model_name='review',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('render_job__isnull', False), ('variant__isnull', True)), models.Q(('render_job__isnull', True), ('variant__isnull', False)), _connector='OR'), name='review_one_target'),
                ),
                migrations.AddConstraint(
                    model_name='review',
                    constraint=models.UniqueConstraint(condition=models.Q(('render_job__isnull', False)), fields=('render_job',), name='one_review_per_render'),
                ),
                migrations.AddConstraint(
                    model_name='review',
                    constraint=models.UniqueConstraint(condition=models.Q(('variant__isnull', False)), fields=('variant',), name='one_review_per_variant'),
                ),
                migrations.AddConstraint(
                    model_name='reviewnote',
                    constraint=models.CheckConstraint(condition=models.Q(('x__gte', 0), ('x__lte', 1)), name='note_x_fraction'),
                ),
                migrations.AddConstraint(
                    model_name='reviewnote',
                    constraint=models.CheckConstraint(condition=models.Q(('y__gte', 0), ('y__lte', 1)), name='note_y_fraction'),
                ),
            ],
        ),
        migrations.RunPython(move_content_types, reverse_code=move_content_types_back),
    ]
