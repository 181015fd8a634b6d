from django.contrib import admin

from voting import services
from voting.models import Ballot, Contest, ContestEntry, Exclusion, Pairing, Rater, ScreeningCode


class ContestEntryInline(admin.TabularInline):
    model = ContestEntry
    fk_name = "contest"
    fields = ("label", "variant", "decoy_of")
    extra = 0


@admin.register(Contest)
class ContestAdmin(admin.ModelAdmin):
    list_display = ("__str__", "clip", "status", "decision_method", "winner", "auto_adopt", "created_at")
    list_filter = ("status", "decision_method", "auto_adopt")
    search_fields = ("title", "slug", "clip__title", "clip__film__title")
    readonly_fields = ("slug", "winner", "decided_at", "closed_at", "adopted_at", "adopted_by",
                       "adopted_preset", "adoption_note", "created_at")
    inlines = [ContestEntryInline]


@admin.register(ContestEntry)
class ContestEntryAdmin(admin.ModelAdmin):
    list_display = ("contest", "label", "variant", "decoy_of")
    list_filter = ("contest",)


@admin.action(description="Shadow-exclude (ballots kept, weight 0, not told)")
def exclude_raters(modeladmin, request, queryset):
    for rater in queryset:
        services.set_rater_excluded(rater, True)


@admin.action(description="Lift a manual exclusion")
def include_raters(modeladmin, request, queryset):
    for rater in queryset:
        services.set_rater_excluded(rater, False)


@admin.register(Rater)
class RaterAdmin(admin.ModelAdmin):
    list_display = ("pk", "user", "reliability", "weight", "golden_correct", "golden_total",
                    "shadow_excluded", "excluded_by_staff", "pow_solved_at", "created_at")
    list_filter = ("shadow_excluded", "excluded_by_staff")
    readonly_fields = ("token", "reliability", "weight", "golden_correct", "golden_total", "flags",
                       "shadow_excluded", "assessed_at", "pow_solved_at", "pow_bits", "created_at")
    actions = [exclude_raters, include_raters]


@admin.register(Pairing)
class PairingAdmin(admin.ModelAdmin):
    list_display = ("pk", "contest", "rater", "left", "right", "is_golden", "reason", "watched_left_seconds",
                    "watched_right_seconds", "answered", "served_at")
    list_filter = ("is_golden", "answered", "contest")
    list_select_related = ("contest", "left__variant", "right__variant")


@admin.register(Ballot)
class BallotAdmin(admin.ModelAdmin):
    list_display = ("pk", "contest", "rater", "tier", "left", "right", "choice", "is_golden", "golden_expected",
                    "watched_left_seconds", "watched_right_seconds", "cast_at")
    list_filter = ("choice", "is_golden", "tier", "contest")
    list_select_related = ("contest", "left__variant", "right__variant")
    readonly_fields = [f.name for f in Ballot._meta.fields]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the audit trail is append-only


@admin.register(ScreeningCode)
class ScreeningCodeAdmin(admin.ModelAdmin):
    list_display = ("pk", "contest", "seat", "rater", "redeemed_at", "created_by", "created_at")
    list_filter = ("contest",)
    readonly_fields = ("code", "rater", "redeemed_at", "created_by", "created_at")


@admin.register(Exclusion)
class ExclusionAdmin(admin.ModelAdmin):
    list_display = ("pk", "contest", "rater", "reason", "cluster", "detail", "created_at")
    list_filter = ("reason", "contest")
    readonly_fields = [f.name for f in Exclusion._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # made by the anomaly checks, recomputed with every tally
