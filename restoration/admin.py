from django.contrib import admin

from restoration.models import (
    Clip,
    Film,
    Preset,
    PresetVersion,
    RenderJob,
    RenderSegment,
    UploadSession,
    Variant,
    VariantComparison,
)


class ClipInline(admin.TabularInline):
    model = Clip
    fields = ("title", "status", "width", "height", "fps", "frame_count", "has_audio")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Film)
class FilmAdmin(admin.ModelAdmin):
    list_display = ("title", "year", "created_by", "created_at", "adopted_preset", "is_demo")
    search_fields = ("title",)
    inlines = [ClipInline]


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = ("__str__", "film", "status", "resolution", "fps", "frame_count", "duration",
                    "has_audio", "created_at")
    list_filter = ("status", "has_audio", "video_codec")
    search_fields = ("title", "original_filename", "sha256")
    readonly_fields = ("sha256", "size_bytes", "created_at")


class PresetVersionInline(admin.TabularInline):
    model = PresetVersion
    fields = ("number", "note", "locked", "created_at")
    readonly_fields = ("created_at",)
    extra = 0
    show_change_link = True


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    list_display = ("name", "builtin", "created_by", "created_at")
    inlines = [PresetVersionInline]


@admin.register(PresetVersion)
class PresetVersionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "locked", "created_at")
    list_filter = ("locked",)
    readonly_fields = ("spec_hash",)


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin):
    list_display = ("__str__", "clip", "preset_version", "status", "start_frame", "end_frame",
                    "frames", "created_at")
    list_filter = ("status",)


@admin.register(VariantComparison)
class VariantComparisonAdmin(admin.ModelAdmin):
    list_display = ("__str__", "variant_a", "variant_b", "status", "jod", "created_at")
    list_filter = ("status",)
    readonly_fields = ("variant_a", "variant_b", "jod", "details", "diff_map", "task_id",
                       "created_at", "finished_at")


class RenderSegmentInline(admin.TabularInline):
    model = RenderSegment
    fields = ("index", "clip", "start_frame", "end_frame", "status", "attempts", "frames",
              "frames_done", "fps", "error")
    readonly_fields = fields
    extra = 0


@admin.register(RenderJob)
class RenderJobAdmin(admin.ModelAdmin):
    list_display = ("__str__", "kind", "status", "frames_done", "frames_total", "attempts",
                    "created_at", "finished_at")
    list_filter = ("kind", "status")
    readonly_fields = ("task_ids", "result")
    inlines = [RenderSegmentInline]


@admin.register(UploadSession)
class UploadSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "filename", "film", "size", "received", "status", "created_at")
    list_filter = ("status",)
