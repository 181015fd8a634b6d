"""Admin for reviews, notes and publications."""

from __future__ import annotations

from django.contrib import admin

from restoration.curation.models import Publication, Review, ReviewEvent, ReviewNote


class ReviewNoteInline(admin.TabularInline):
    model = ReviewNote
    fields = ("frame", "x", "y", "text", "author", "resolved", "created_at")
    readonly_fields = ("created_at",)
    extra = 0


class ReviewEventInline(admin.TabularInline):
    model = ReviewEvent
    fields = ("at", "from_status", "to_status", "by", "comment")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "render_job", "variant", "updated_at")
    list_filter = ("status",)
    raw_id_fields = ("render_job", "variant", "excerpt_clip", "opened_by")
    inlines = [ReviewNoteInline, ReviewEventInline]


@admin.register(ReviewNote)
class ReviewNoteAdmin(admin.ModelAdmin):
    list_display = ("review", "frame", "x", "y", "author", "resolved", "created_at")
    list_filter = ("resolved",)
    search_fields = ("text",)


@admin.register(ReviewEvent)
class ReviewEventAdmin(admin.ModelAdmin):
    list_display = ("review", "from_status", "to_status", "by", "at")
    list_filter = ("to_status",)


@admin.register(Publication)
class PublicationAdmin(admin.ModelAdmin):
    list_display = ("title", "year", "film", "clip", "is_public", "published_at", "unpublished_at")
    list_filter = ("is_public",)
    search_fields = ("title", "credits", "restoration_notes")
    prepopulated_fields = {"slug": ("title",)}
    raw_id_fields = ("review", "film", "clip", "published_by", "unpublished_by")
