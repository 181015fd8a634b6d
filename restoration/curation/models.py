"""Curation: reviews of renders, frame-anchored notes, and publications.

A curator reviews either a full-film render (a film RenderJob) or a single Variant
next to its source. The review walks a small status workflow (see
restoration.curation.services.review); every change is kept as a ReviewEvent so the history of
a published work can be read back. A Publication is what the public gallery shows;
unpublishing only hides it, it never deletes the row or its files.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class Review(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending_review", _("pending review")
        CHANGES = "changes_requested", _("changes requested")
        APPROVED = "approved", _("approved")
        PUBLISHED = "published", _("published")

    render_job = models.ForeignKey("restoration.RenderJob", null=True, blank=True,
                                   on_delete=models.CASCADE, related_name="reviews")
    variant = models.ForeignKey("restoration.Variant", null=True, blank=True,
                                on_delete=models.CASCADE, related_name="reviews")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    # The before/after pair shown in the comparison player: the same frames of the
    # source and of the restoration, cut to files of equal length so the players can
    # be synchronised on time alone.
    excerpt_clip = models.ForeignKey("restoration.Clip", null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    excerpt_start = models.PositiveIntegerField(null=True, blank=True,
                                                help_text="first frame, in the clip's numbering")
    excerpt_end = models.PositiveIntegerField(null=True, blank=True, help_text="exclusive")
    before_excerpt = models.FileField(max_length=300, blank=True)
    after_excerpt = models.FileField(max_length=300, blank=True)
    excerpt_error = models.TextField(blank=True)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "restoration_review"  # created by the restoration app, kept as it was
        ordering = ["-updated_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(render_job__isnull=False, variant__isnull=True)
                           | Q(render_job__isnull=True, variant__isnull=False)),
                name="review_one_target"),
            models.UniqueConstraint(fields=["render_job"], condition=Q(render_job__isnull=False),
                                    name="one_review_per_render"),
            models.UniqueConstraint(fields=["variant"], condition=Q(variant__isnull=False),
                                    name="one_review_per_variant"),
        ]

    def __str__(self) -> str:
        return f"review of {self.target}"

    @property
    def target(self):
        return self.render_job if self.render_job_id else self.variant

    @property
    def kind(self) -> str:
        return "film" if self.render_job_id else "clip"

    def get_absolute_url(self) -> str:
        return reverse("review-detail", args=[self.pk])


class ReviewEvent(models.Model):
    """One status change (or the opening of the review), for the record."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    comment = models.TextField(blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                           on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "restoration_reviewevent"  # created by the restoration app, kept as it was
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_status or '—'} → {self.to_status}"


class ReviewNote(models.Model):
    """A note pinned to one frame and one point of the picture (x, y as fractions of
    the width and height, so it holds at any display size)."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    frame = models.PositiveIntegerField(help_text="frame number in the excerpt shown")
    x = models.FloatField()
    y = models.FloatField()
    text = models.TextField()
    resolved = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "restoration_reviewnote"  # created by the restoration app, kept as it was
        ordering = ["frame", "created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(x__gte=0) & Q(x__lte=1), name="note_x_fraction"),
            models.CheckConstraint(condition=Q(y__gte=0) & Q(y__lte=1), name="note_y_fraction"),
        ]

    def __str__(self) -> str:
        return f"frame {self.frame} ({self.x:.2f}, {self.y:.2f}): {self.text[:40]}"


class Publication(models.Model):
    """A restored clip or film in the public gallery, with its vote record frozen at
    the moment it was published."""

    review = models.OneToOneField(Review, on_delete=models.PROTECT, related_name="publication")
    film = models.ForeignKey("restoration.Film", on_delete=models.PROTECT, related_name="publications")
    clip = models.ForeignKey("restoration.Clip", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="publications", help_text="empty for a whole film")
    # Readable in the title's own script: 《武状元苏乞儿》 is /gallery/武状元苏乞儿/.
    slug = models.SlugField(max_length=80, unique=True, allow_unicode=True)
    title = models.CharField(max_length=200)
    year = models.PositiveIntegerField(null=True, blank=True)
    credits = models.TextField(blank=True)
    restoration_notes = models.TextField(blank=True)
    restored = models.FileField(max_length=300, help_text="the restored video the public plays")
    before = models.FileField(max_length=300, blank=True, help_text="source excerpt")
    after = models.FileField(max_length=300, blank=True, help_text="restored excerpt, same frames")
    poster = models.FileField(max_length=300, blank=True)
    has_audio = models.BooleanField(default=False)
    vote_record = models.JSONField(default=dict, blank=True)
    is_public = models.BooleanField(default=False, db_index=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    unpublished_at = models.DateTimeField(null=True, blank=True)
    unpublished_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                       on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "restoration_publication"  # created by the restoration app, kept as it was
        ordering = ["-published_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title

    @property
    def kind(self) -> str:
        return "clip" if self.clip_id else "film"

    def get_absolute_url(self) -> str:
        return reverse("gallery-detail", args=[self.slug])
